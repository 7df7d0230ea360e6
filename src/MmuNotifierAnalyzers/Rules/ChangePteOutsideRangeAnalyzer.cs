using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU009: <c>set_pte_at_notify</c> / <c>mmu_notifier_change_pte</c> not covered, on every path,
/// by an open start/end whose range covers the address (seed 002: do_wp_page; 6bdb913f0a70 for KSM).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ChangePteOutsideRangeAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.ChangePteOutsideRange,
        title: "set_pte_at_notify / change_pte outside start/end",
        messageFormat: "'{0}' on {1} is not inside an open invalidate_range_start/_end covering it: {2}; ->change_pte is only a hint to a secondary MMU that has already invalidated the page in start, so bracket the PTE change with start before the page-table lock and end after it (as do_wp_page does since 2014)",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "change_pte lets a secondary MMU (KVM) map the new page at once instead of faulting, but only inside an invalidate_range_start/end that covers the address: outside it, a secondary MMU that ignores change_pte keeps the old translation (seed 002; 6bdb913f0a70 wrapped every set_pte_at_notify with start/end).",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.ChangePteOutsideRange));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule);

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols) =>
        UncoveredNotification.Analyze(context, symbols, NotifyKind.ChangePte, Rule);
}
