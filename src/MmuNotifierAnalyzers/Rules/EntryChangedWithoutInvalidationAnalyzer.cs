using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU013: a present entry of a user mm cleared, write-protected, cleaned or aged with no
/// invalidate_range_start/_end covering it, and no notification after it: no secondary MMU hears
/// of the change (THP NUMA migration before f714f4f20e59, soft-dirty before its notifier fix). A
/// method of the compilation whose every runner is known passes the duty to them; the finding is
/// reported where the chain starts, in a method nobody in the compilation runs.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class EntryChangedWithoutInvalidationAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.EntryChangedWithoutInvalidation,
        title: "Page-table entry changed with no invalidation window",
        messageFormat: "'{0}' changes a page-table entry of a user mm ({1}) and {2}; no notifier hears of the change, so a secondary MMU (KVM, an IOMMU, an RDMA mirror) keeps the old translation: bracket the walk with invalidate_range_start before the page-table lock and _end after it",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Clearing, write-protecting, cleaning or aging a present entry of a user address space must happen inside an invalidate_range_start/_end that covers it (or be followed by a notification): a secondary MMU keeps its own copy of the translation and learns of the change only through the notifier. THP NUMA migration (fixed in 3.13), soft-dirty clearing (fixed by 'soft-dirty: call mmu notifiers when write-protecting ptes') and khugepaged all missed it once.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.EntryChangedWithoutInvalidation));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule);

    private protected override bool IsEnabled(KnownSymbols symbols) =>
        symbols.EntryChanges.Count > 0;

    private protected override bool IsRelevant(SyntaxNodeAnalysisContext context, KnownSymbols symbols, BodyRelevance relevance) =>
        EntryChangeDuty.Get(context.Compilation, symbols).MayCarry(context.Node, context.CancellationToken);

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        var duty = EntryChangeDuty.Get(context.Compilation, symbols);
        var owner = context.OwningSymbol as IMethodSymbol;
        var declaration = owner?.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(context.CancellationToken);
        bool? runnersKnown = null;
        foreach (var block in context.OperationBlocks)
        {
            foreach (var site in duty.UncoveredSites(block, owner, context.CancellationToken))
            {
                context.CancellationToken.ThrowIfCancellationRequested();

                // Everyone who runs this method is in the compilation: the duty is theirs, and the
                // finding goes where the chain starts uncovered (or nowhere, when every caller brackets it).
                if (owner is not null && declaration is not null && EntryChangeDuty.IsOwnBody(site.Call.Syntax, declaration)
                    && (runnersKnown ??= CallSites.Get(context.Compilation).Invokers(owner, context.CancellationToken) is { Count: > 0 }))
                {
                    continue;
                }

                Report(context, symbols, site, owner?.Name ?? context.OwningSymbol.Name);
            }
        }
    }

    private static void Report(BodyAnalysisContext context, KnownSymbols symbols, DutySite site, string owner)
    {
        var properties = ImmutableDictionary<string, string?>.Empty;
        var additional = new List<Location>();
        if (site.Change is not { } change)
        {
            properties = properties.Add(FixContract.EntryChange.Chain, FixContract.True);
        }
        else
        {
            properties = properties.Add(FixContract.Notification.OnePage, FixContract.True);
            if (change.HugeTlb)
            {
                properties = properties.Add(FixContract.EntryChange.HugeTlb, FixContract.True);
            }
            else if (change.Length > symbols.PageSize)
            {
                properties = properties.Add(FixContract.Notification.HugePage, FixContract.True);
            }

            if (change.MmOfVma)
            {
                properties = properties.Add(FixContract.Notification.MmOfVma, FixContract.True);
            }
        }

        if (site.NoRangeOnAnyPath)
        {
            properties = properties.Add(FixContract.Notification.NoRange, FixContract.True);
        }

        var held = site.Observation?.OnEveryPath(Domains.Locks).Where(l => l.AcquiredAt is not null).OrderBy(l => l.AcquiredAt!.SpanStart).FirstOrDefault();
        if (held is not null)
        {
            properties = properties.Add(FixContract.Notification.LockHeld, FixContract.True);
            additional.Add(held.AcquiredAt!.GetLocation());
        }
        else if (site.Observation is { } observation && observation.AnyOnSomePath(Domains.Locks))
        {
            properties = properties.Add(FixContract.Notification.LockOnSomePaths, FixContract.True);
        }

        var chain = string.Join(" \u2192 ", new[] { owner }.Concat(site.Chain));
        var why = site.NoRangeOnAnyPath
            ? "no invalidate_range_start/_end is open here"
            : "no open invalidate_range_start/_end covers it on every path";
        context.ReportDiagnostic(Diagnostic.Create(
            Rule,
            site.Call.Syntax.GetLocation(),
            additional,
            properties,
            UnbalancedRangeAnalyzer.CallName(site.Call.Syntax),
            chain,
            why));
    }
}
