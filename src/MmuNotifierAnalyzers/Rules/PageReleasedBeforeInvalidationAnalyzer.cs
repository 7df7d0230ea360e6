using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU010: a page released (<c>put_page</c>, <c>page_cache_release</c>, <c>[ReleasesPage]</c>)
/// while an entry cleared on the same path is still waiting for the invalidation that then
/// covers it (seed 004's filemap_xip: "must invalidate _before_ freeing the page"; seed 003's
/// try_to_unmap_one). Reads the cleared-entries facts the flow result keeps at each invalidation.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PageReleasedBeforeInvalidationAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.PageReleasedBeforeInvalidation,
        title: "Page released before its invalidation",
        messageFormat: "'{0}' releases the page while the entry cleared by '{1}' at line {2} is not yet invalidated: '{3}' at line {4} invalidates it only afterwards, and until then a secondary MMU may still map the freed page; release it after the invalidation",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "A secondary MMU keeps its translation of a page until the invalidation that covers the cleared entry reaches it. Dropping the page's reference before that lets the page be freed and reused while a device or guest can still write it (seed 004: \"we must invalidate _before_ freeing the page\").",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.PageReleasedBeforeInvalidation));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule);

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        var api = FlowCache.Api(context.Compilation, symbols);
        foreach (var result in FlowCache.Get(context, symbols))
        {
            var reported = new HashSet<SyntaxNode>();
            foreach (var observation in result.Observations.OrderBy(o => o.Operation.Syntax.SpanStart))
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                if (observation.Operation is not IInvocationOperation invocation)
                {
                    continue;
                }

                var effects = api.Get(invocation.TargetMethod);
                foreach (var path in observation.Paths)
                {
                    if (!InvalidationRange(effects, path, invocation, out var start, out var end))
                    {
                        continue;
                    }

                    foreach (var entry in path.Facts(Domains.Cleared))
                    {
                        // An invalidation that provably misses the entry leaves it pending for a later one.
                        if (entry.ReleasedAt is not { } release
                            || (start is not null && RangeCoverage.Covers(start, end, entry.Start, entry.End) == Coverage.NotCovered)
                            || !reported.Add(release))
                        {
                            continue;
                        }

                        var properties = ImmutableDictionary<string, string?>.Empty;
                        var clear = result.At(entry.Clear);
                        if (NotifyingName(clear) is { } notifying)
                        {
                            if (IsBracketed(clear!, api))
                            {
                                properties = properties.Add(FixContract.PageReleased.NotifyingClear, notifying);
                            }
                            else if (effects.Notify is { Kind: NotifyKind.InvalidateRange }
                                && observation.Paths.All(p => p.Facts(Domains.Ranges).IsEmpty && p.Facts(Domains.Locks).IsEmpty)
                                && entry.Clear.SpanStart < invocation.Syntax.SpanStart)
                            {
                                properties = properties.Add(FixContract.PageReleased.BracketThenNotifyingClear, notifying);
                            }
                        }

                        context.ReportDiagnostic(Diagnostic.Create(
                            Rule,
                            release.GetLocation(),
                            new[] { invocation.Syntax.GetLocation(), entry.Clear.GetLocation() },
                            properties,
                            UnbalancedRangeAnalyzer.CallName(release),
                            UnbalancedRangeAnalyzer.CallName(entry.Clear),
                            FlowAnalysis.Line(entry.Clear),
                            UnbalancedRangeAnalyzer.CallName(invocation.Syntax),
                            FlowAnalysis.Line(invocation.Syntax)));
                    }
                }
            }
        }
    }

    /// <summary>The notifying form of the clearing call, when the runtime has one.</summary>
    private static string? NotifyingName(Observation? clear) =>
        clear?.Operation is IInvocationOperation call ? NotifyingForm(call.TargetMethod) : null;

    /// <summary>
    /// The name of the runtime's notifying form of a clearing method (<c>ptep_clear_flush</c> →
    /// <c>ptep_clear_flush_notify</c>, <c>pmdp_huge_clear_flush</c> → <c>pmdp_huge_clear_flush_notify</c>),
    /// when its type has one: also what MMU005's fix inlines a 2012 notifying wrapper to.
    /// </summary>
    internal static string? NotifyingForm(IMethodSymbol clear)
    {
        var notifying = clear.Name switch
        {
            "ptep_clear_flush" => "ptep_clear_flush_notify",
            "pmdp_huge_clear_flush" or "pmdp_clear_flush" => "pmdp_huge_clear_flush_notify",
            _ => null,
        };
        return notifying is not null && !clear.ContainingType.GetMembers(notifying).IsEmpty ? notifying : null;
    }

    /// <summary>Every path runs the clear inside an open range that its page does not provably fall
    /// outside of (so the invalidate_range of its notifying form is covered).</summary>
    private static bool IsBracketed(Observation clear, ApiModel api)
    {
        if (clear.Operation is not IInvocationOperation call || api.Get(call.TargetMethod).Clear is not { } effect)
        {
            return false;
        }

        foreach (var path in clear.Paths)
        {
            var start = path.Argument(effect.Address);
            var end = start is null ? null : Value.Binary(BinaryOperatorKind.Add, start, Value.Constant(effect.Length), call);
            if (!path.Facts(Domains.Ranges).Any(r => r.Certainty == Core.Flow.Engine.Certainty.Certain && r.OpenWhenZero is null
                && RangeCoverage.Covers(r.StartValue, r.EndValue, start, end) != Coverage.NotCovered))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether the call invalidates, and what: [start, end), or (null, null) for all of a 4.20 range object.</summary>
    private static bool InvalidationRange(MethodEffects effects, ObservedPath path, IInvocationOperation call, out Value? start, out Value? end)
    {
        start = end = null;
        if (effects.Notify is { Kind: NotifyKind.InvalidateRange or NotifyKind.InvalidatePage } notify)
        {
            (start, end) = notify.RangeOf(path.Arguments, call);
            return true;
        }

        if (effects.Range is { Role: RangeRole.Closes } closes)
        {
            if (closes.Range < 0)
            {
                start = path.Argument(closes.Start);
                end = path.Argument(closes.End);
            }

            return true;
        }

        return false;
    }
}
