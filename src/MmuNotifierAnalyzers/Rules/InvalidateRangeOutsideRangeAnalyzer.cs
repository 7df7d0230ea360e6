using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU006: <c>mmu_notifier_invalidate_range</c> (or <c>ptep_clear_flush_notify</c> /
/// <c>pmdp_huge_clear_flush_notify</c>) not covered, on every path, by an open start/end whose
/// range covers it (seed 003, bug 1: invalidate_range alone is a no-op for KVM).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class InvalidateRangeOutsideRangeAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.InvalidateRangeOutsideRange,
        title: "invalidate_range used without an enclosing start/end",
        messageFormat: "'{0}' on {1} is not inside an open invalidate_range_start/_end covering it: {2}; ->invalidate_range alone is a no-op for start/end notifiers such as KVM, so bracket the page-table update with start before the page-table lock and end after it",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "mmu_notifier_invalidate_range only reaches the secondary MMUs that share the CPU page table (->invalidate_range); KVM-like notifiers implement invalidate_range_start/end and ignore it. It must run inside a start/end pair that covers its range on every path (seed 003: \"mmu_notifier_invalidate_range cannot be used in replacement of mmu_notifier_invalidate_range_start/end\").",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.InvalidateRangeOutsideRange));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule);

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols) =>
        UncoveredNotification.Analyze(context, symbols, NotifyKind.InvalidateRange, Rule);
}
