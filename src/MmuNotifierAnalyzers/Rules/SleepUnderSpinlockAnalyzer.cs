using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Core.Sleep;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU005: a call that may sleep while a spinlock is held on that path (seed 004 moved every
/// notifier call out of the page-table lock). Locks come from <see cref="FlowResult"/>, "may
/// sleep" from <see cref="SleepOracle"/>.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class SleepUnderSpinlockAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.SleepUnderSpinlock,
        title: "Call that may sleep under a spinlock",
        messageFormat: "'{0}' may sleep{1}, but spinlock '{2}' is held here on some path ({3})",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Nothing that may sleep can run while a spinlock is held. mmu_notifier_invalidate_range_start/_end may sleep: call start before taking the page-table lock and end after releasing it (seed 004).",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.SleepUnderSpinlock));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule);

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols) =>
        Analyze(context, symbols, context.Options);

    private static void Analyze(BodyAnalysisContext context, KnownSymbols symbols, AnalyzerOptions options)
    {
        SleepOracle? oracle = null;
        foreach (var result in FlowCache.Get(context, symbols))
        {
            // Only the operations some path reaches with a lock held are sorted into source order.
            foreach (var observation in result.Observations.Where(o => o.AnyOnSomePath(Domains.Locks)).OrderBy(o => o.Operation.Syntax.SpanStart))
            {
                var locks = observation.OnSomePath(Domains.Locks);
                var locked = (observation.Operation, Locks: locks);
                context.CancellationToken.ThrowIfCancellationRequested();
                if (locked.Operation is IInvocationOperation { TargetMethod: var target }
                    && !target.DeclaringSyntaxReferences.IsEmpty
                    && !FlowCache.Api(context.Compilation, symbols).Get(target).MustHold.IsEmpty)
                {
                    // A callee entered with the lock held ([MustHoldLock], hugetlb_cow) drops it
                    // itself before sleeping: its own body is checked with the lock held from entry.
                    continue;
                }

                oracle ??= SleepOracle.Get(context.Compilation, options);
                if (!oracle.MaySleep(locked.Operation, context.CancellationToken, out var witness))
                {
                    continue;
                }

                var held = locked.Locks.OrderBy(l => l.AcquiredAt?.SpanStart ?? -1).First();
                var where = held.AcquiredAt is null
                    ? "held on entry: the method is annotated [MustHoldLock(\"" + held.Display + "\")]"
                    : "taken at line " + FlowAnalysis.Line(held.AcquiredAt);
                var chain = witness.Methods.Length > 1
                    ? ": " + witness.MessageChain
                    : witness.Reason == SleepReasons.MaySleep || witness.Reason.Length == 0 ? string.Empty : " (" + witness.Reason + ")";

                var properties = ImmutableDictionary<string, string?>.Empty;
                if (locked.Operation is IInvocationOperation invocation)
                {
                    var role = FlowCache.Api(context.Compilation, symbols).Get(invocation.TargetMethod).Range?.Role;
                    if (role is RangeRole.Opens)
                    {
                        properties = properties.Add(FixContract.SleepUnderSpinlock.RangeCall, FixContract.SleepUnderSpinlock.Start);
                    }
                    else if (role is RangeRole.Closes)
                    {
                        properties = properties.Add(FixContract.SleepUnderSpinlock.RangeCall, FixContract.SleepUnderSpinlock.End);
                    }
                }

                if (oracle.SleepsOnlyForItsGfpFlags(locked.Operation, context.CancellationToken, out var gfpOrdinal))
                {
                    properties = properties.Add(FixContract.Allocation.GfpParameter, gfpOrdinal.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }

                if (held.AcquiredAt is not null)
                {
                    properties = properties.Add(FixContract.SleepUnderSpinlock.LockAcquisition, FixContract.True);
                }

                var additional = held.AcquiredAt is null ? System.Array.Empty<Location>() : new[] { held.AcquiredAt.GetLocation() };
                context.ReportDiagnostic(Diagnostic.Create(
                    Rule,
                    locked.Operation.Syntax.GetLocation(),
                    additional,
                    properties,
                    Callee(locked.Operation, witness),
                    chain,
                    held.Display,
                    where));
            }
        }
    }

    private static string Callee(IOperation operation, SleepWitness witness) => operation switch
    {
        IInvocationOperation invocation => invocation.TargetMethod.Name,
        IAwaitOperation => "await",
        _ => witness.Callee.Length > 0 ? witness.Callee : operation.Syntax.ToString(),
    };
}
