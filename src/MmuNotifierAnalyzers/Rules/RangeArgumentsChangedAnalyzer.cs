using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU003: the range passed to <c>_end</c> is not provably the one passed to start (seed 004:
/// the <c>mmun_start</c>/<c>mmun_end</c> convention; <c>mremap</c>'s <c>old_end-len</c>,
/// <c>copy_page_range</c>'s <c>vma-&gt;vm_start</c>). Reads <see cref="FlowResult"/>.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RangeArgumentsChangedAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.RangeArgumentsChanged,
        title: "Range arguments change between invalidate_range_start and _end",
        messageFormat: "'{0}' may not end the range that '{1}' started at line {2}: {3}; capture the range once in mmun_start/mmun_end and pass them to both",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "The _end must be called with exactly the mm, start and end given to the start (seed 004's mmun_start/mmun_end convention): a secondary MMU that counts active invalidations per range would never see this one end.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.RangeArgumentsChanged));

    internal static readonly DiagnosticDescriptor FieldWriteRule = new(
        RuleIdentifiers.RangeArgumentsChanged,
        title: "Range arguments change between invalidate_range_start and _end",
        messageFormat: "'{0}' writes '{1}' of the range '{2}' opened at line {3} before its _end: the end will not invalidate what the start announced",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "The fields of an mmu_notifier_range passed to invalidate_range_start must not change until the matching _end.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.RangeArgumentsChanged));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule, FieldWriteRule);


    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        foreach (var result in FlowCache.Get(context, symbols))
        {
            foreach (var group in result.Closes.Where(c => c.HasMismatch).GroupBy(c => c.End))
            {
                var start = group.First().Range.Start;
                context.ReportDiagnostic(Diagnostic.Create(
                    Rule,
                    group.Key.GetLocation(),
                    new[] { start.GetLocation() },
                    UnbalancedRangeAnalyzer.CallName(group.Key),
                    UnbalancedRangeAnalyzer.CallName(start),
                    FlowAnalysis.Line(start),
                    Reason(group.Where(c => c.Range.Start == start).ToList())));
            }

            foreach (var write in result.RangeFieldWrites)
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    FieldWriteRule,
                    write.Write.GetLocation(),
                    write.Write.ToString(),
                    write.Member.Name,
                    write.Range.KeyDisplay,
                    FlowAnalysis.Line(write.Range.Start)));
            }
        }
    }

    private static string Reason(List<RangeClose> closes)
    {
        var reasons = new List<string>();
        var writes = closes.SelectMany(c => c.Range.Writes).Distinct().OrderBy(w => w.Write.SpanStart).ToList();
        foreach (var variable in writes.GroupBy(w => w.Variable.Name))
        {
            reasons.Add("'" + variable.Key + "', passed to the start, is assigned at line " + FlowAnalysis.Line(variable.First().Write));
        }

        var close = closes[0];
        if (closes.Any(c => c.KeyDiffers))
        {
            reasons.Add("its mm '" + close.KeyDisplay + "' is not provably the start's '" + close.Range.KeyDisplay + "'");
        }

        // Different text, or the same text over values that changed: say which argument.
        if (closes.Any(c => c.StartDiffers) && (writes.Count == 0 || close.StartDisplay != close.Range.StartDisplay))
        {
            reasons.Add(Differs("start", close.StartDisplay, close.Range.StartDisplay));
        }

        if (closes.Any(c => c.EndDiffers) && (writes.Count == 0 || close.EndDisplay != close.Range.EndDisplay))
        {
            reasons.Add(Differs("end", close.EndDisplay, close.Range.EndDisplay));
        }

        return string.Join("; ", reasons);
    }

    private static string Differs(string argument, string? atEnd, string? atStart) =>
        atEnd == atStart
            ? "its " + argument + " '" + atEnd + "' is computed again and not provably to the same value (a call's result, or a field written since the start)"
            : "its " + argument + " '" + atEnd + "' is not provably the start's '" + atStart + "'";
}
