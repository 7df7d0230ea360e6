using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>Why a notification call is not covered on some path.</summary>
internal enum UncoveredReason
{
    /// <summary>No invalidate_range_start is open on that path.</summary>
    NoRange,

    /// <summary>A range is open on some paths only (or its _nonblock start may have failed).</summary>
    MaybeOpen,

    /// <summary>An open range provably does not cover the call's range.</summary>
    OutsideRange,
}

/// <summary>
/// The shared policy of MMU006 and MMU009: a notification call must be covered on every path by
/// an open start/end whose range does not provably miss it. Reads the flow result's observation of each call.
/// </summary>
internal static class UncoveredNotification
{
    /// <summary>Reports every call of <paramref name="kind"/> that some path reaches uncovered.</summary>
    public static void Analyze(BodyAnalysisContext context, KnownSymbols symbols, NotifyKind kind, DiagnosticDescriptor rule)
    {
        var api = FlowCache.Api(context.Compilation, symbols);
        foreach (var result in FlowCache.Get(context, symbols))
        {
            foreach (var observation in result.Observations.OrderBy(o => o.Operation.Syntax.SpanStart))
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                if (observation.Operation is not IInvocationOperation invocation
                    || api.Get(invocation.TargetMethod).Notify is not { } notify
                    || notify.Kind != kind
                    || FirstUncovered(observation, notify) is not { } finding)
                {
                    continue;
                }

                // No range at all on that path, in a helper every caller enters inside its own
                // start/end (__split_huge_zero_page_pmd, migrate_vma_insert_page): the caller's.
                if (finding.Reason == UncoveredReason.NoRange
                    && context.OwningSymbol is IMethodSymbol owner
                    && IsOwnBody(invocation.Syntax, context.OwningSymbol)
                    && FlowCache.CallersHoldRange(context.Compilation, owner, symbols, context.CancellationToken))
                {
                    continue;
                }

                var properties = ImmutableDictionary<string, string?>.Empty;
                if (notify.End < 0)
                {
                    properties = properties.Add(FixContract.Notification.OnePage, FixContract.True);
                    if (notify.Length > symbols.PageSize)
                    {
                        properties = properties.Add(FixContract.Notification.HugePage, FixContract.True);
                    }
                }

                if (notify.MmOfVma is not null)
                {
                    properties = properties.Add(FixContract.Notification.MmOfVma, FixContract.True);
                }

                var noRangeOnAnyPath = observation.Paths.All(p => p.Facts(Domains.Ranges).IsEmpty);
                if (noRangeOnAnyPath)
                {
                    properties = properties.Add(FixContract.Notification.NoRange, FixContract.True);
                }

                var additional = new List<Location>();
                var held = observation.OnEveryPath(Domains.Locks).Where(l => l.AcquiredAt is not null).OrderBy(l => l.AcquiredAt!.SpanStart).FirstOrDefault();
                if (held is not null)
                {
                    properties = properties.Add(FixContract.Notification.LockHeld, FixContract.True);
                    additional.Add(held.AcquiredAt!.GetLocation());
                }
                else if (observation.AnyOnSomePath(Domains.Locks))
                {
                    properties = properties.Add(FixContract.Notification.LockOnSomePaths, FixContract.True);
                }

                context.ReportDiagnostic(Diagnostic.Create(
                    rule,
                    invocation.Syntax.GetLocation(),
                    additional,
                    properties,
                    UnbalancedRangeAnalyzer.CallName(invocation.Syntax),
                    RangeText(invocation, notify, symbols),
                    Describe(finding, noRangeOnAnyPath)));
            }
        }
    }

    /// <summary>The notified range as written: <c>['start', 'end')</c>, or the page at the address.</summary>
    private static string RangeText(IInvocationOperation call, NotifySignature notify, KnownSymbols symbols)
    {
        string? Argument(int ordinal) => call.Arguments.FirstOrDefault(a => a.Parameter?.Ordinal == ordinal)?.Syntax is ArgumentSyntax argument
            ? argument.Expression.ToString()
            : null;

        return notify.End >= 0
            ? "['" + Argument(notify.Start) + "', '" + Argument(notify.End) + "')"
            : notify.Length > symbols.PageSize ? "the huge page at '" + Argument(notify.Start) + "'" : "the page at '" + Argument(notify.Start) + "'";
    }

    /// <summary>The call is in the method's own body, not in a lambda or local function inside it.</summary>
    private static bool IsOwnBody(SyntaxNode call, ISymbol owner) =>
        call.Ancestors().FirstOrDefault(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax or AccessorDeclarationSyntax) is BaseMethodDeclarationSyntax declaration
        && owner.DeclaringSyntaxReferences.Any(r => r.SyntaxTree == declaration.SyntaxTree && r.Span == declaration.Span);

    /// <summary>The first path (in the order they were met) on which no range open for sure covers the call.</summary>
    private static (UncoveredReason Reason, RangeFact? Range)? FirstUncovered(Observation observation, NotifySignature notify)
    {
        foreach (var path in observation.Paths)
        {
            var (start, end) = notify.RangeOf(path.Arguments, observation.Operation);
            var open = path.Facts(Domains.Ranges);
            var sure = open.Where(r => r.Certainty == Certainty.Certain && r.OpenWhenZero is null).ToList();
            if (sure.Any(r => RangeCoverage.Covers(r.StartValue, r.EndValue, start, end) != Coverage.NotCovered))
            {
                continue;
            }

            if (sure.Count > 0)
            {
                return (UncoveredReason.OutsideRange, sure[0]);
            }

            return open.IsEmpty ? (UncoveredReason.NoRange, null) : (UncoveredReason.MaybeOpen, open[0]);
        }

        return null;
    }

    private static string Describe((UncoveredReason Reason, RangeFact? Range) finding, bool noRangeOnAnyPath) => finding.Reason switch
    {
        UncoveredReason.NoRange => "no invalidate_range_start is open here" + (noRangeOnAnyPath ? string.Empty : " on some path"),
        UncoveredReason.MaybeOpen => "the range started at line " + FlowAnalysis.Line(finding.Range!.Start) + " is open here on some paths only",
        _ => "the range started at line " + FlowAnalysis.Line(finding.Range!.Start) + " ['" + finding.Range.StartDisplay + "', '" + finding.Range.EndDisplay + "') does not cover it",
    };
}
