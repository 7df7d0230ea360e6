using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU002: <c>mmu_notifier_invalidate_range_start</c> / <c>_end</c> unbalanced on some path
/// (seed 004: <c>hugetlb_cow</c>'s <c>goto out_mn</c>). Path-sensitive: reads <see cref="FlowResult"/>.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class UnbalancedRangeAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor LeakRule = new(
        RuleIdentifiers.UnbalancedRange,
        title: "invalidate_range_start / _end unbalanced on some path",
        messageFormat: "'{0}' on '{1}' is not ended on every path: the path that {2} leaves the range open; call the matching _end on that path",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Every mmu_notifier_invalidate_range_start must be followed, on every path out of the method, by the matching _end on the same mm: secondary MMUs block faults on the range until it ends.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.UnbalancedRange));

    internal static readonly DiagnosticDescriptor UnmatchedRule = new(
        RuleIdentifiers.UnbalancedRange,
        title: "invalidate_range_start / _end unbalanced on some path",
        messageFormat: "'{0}' on '{1}' is reached on some path with no invalidate_range_start open on that mm",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "An _end with no start open on its mm corrupts the secondary MMUs' invalidation count.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.UnbalancedRange));

    internal static readonly DiagnosticDescriptor ReopenedRule = new(
        RuleIdentifiers.UnbalancedRange,
        title: "invalidate_range_start / _end unbalanced on some path",
        messageFormat: "'{0}' on '{1}' starts a range while the one started at line {2} is still open (a loop, or an _end missing before it)",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "A start reached again while its previous range is open leaves that range without its end.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.UnbalancedRange));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(LeakRule, UnmatchedRule, ReopenedRule);


    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        foreach (var result in FlowCache.Get(context, symbols))
        {
            foreach (var leak in result.LeakedRanges)
            {
                var properties = ImmutableDictionary<string, string?>.Empty
                    .Add(FixContract.UnbalancedRange.Finding, FixContract.UnbalancedRange.Leak)
                    .Add(FixContract.UnbalancedRange.ExitKind, leak.Exit.Kind.ToString());
                var additional = leak.Exit.Statement is { } statement
                    ? new[] { statement.GetLocation() }
                    : System.Array.Empty<Location>();
                context.ReportDiagnostic(Diagnostic.Create(
                    LeakRule,
                    leak.Range.Start.GetLocation(),
                    additional,
                    properties,
                    CallName(leak.Range.Start),
                    leak.Range.KeyDisplay,
                    leak.Exit.Description));
            }

            foreach (var end in result.UnmatchedEnds)
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    UnmatchedRule,
                    end.Key.GetLocation(),
                    ImmutableDictionary<string, string?>.Empty.Add(FixContract.UnbalancedRange.Finding, FixContract.UnbalancedRange.Unmatched),
                    CallName(end.Key),
                    end.Value));
            }

            foreach (var pair in result.ReopenedStarts)
            {
                context.ReportDiagnostic(Diagnostic.Create(
                    ReopenedRule,
                    pair.Key.GetLocation(),
                    ImmutableDictionary<string, string?>.Empty.Add(FixContract.UnbalancedRange.Finding, FixContract.UnbalancedRange.Reopened),
                    CallName(pair.Key),
                    pair.Value.KeyDisplay,
                    FlowAnalysis.Line(pair.Value.Start)));
            }
        }
    }

    /// <summary>The called method's name as written (<c>mmu_notifier_invalidate_range_start</c>).</summary>
    internal static string CallName(SyntaxNode call) => call switch
    {
        InvocationExpressionSyntax { Expression: IdentifierNameSyntax id } => id.Identifier.ValueText,
        InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member } => member.Name.Identifier.ValueText,
        InvocationExpressionSyntax { Expression: GenericNameSyntax generic } => generic.Identifier.ValueText,
        MethodDeclarationSyntax method => method.Identifier.ValueText,
        _ => call.ToString(),
    };
}
