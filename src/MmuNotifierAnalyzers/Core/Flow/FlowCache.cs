using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>
/// Computes the <see cref="FlowResult"/> of an operation block once per compilation and shares
/// it between every rule that reads it (MMU002, MMU003, MMU005, MMU006, MMU009, MMU010, MMU013;
/// the protocol rules MMU012 and MMU014 will). A cheap pre-check skips blocks that call nothing the analysis models.
/// </summary>
internal static class FlowCache
{
    private static readonly ConditionalWeakTable<Compilation, PerCompilation> Caches = new();

    /// <summary>The flow results for the bodies in <paramref name="context"/> (empty when nothing relevant is called).</summary>
    public static IEnumerable<FlowResult> Get(Rules.BodyAnalysisContext context, KnownSymbols symbols)
    {
        var cache = Caches.GetValue(context.Compilation, c => new PerCompilation(symbols));
        var owner = context.OwningSymbol as IMethodSymbol;
        foreach (var block in context.OperationBlocks)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            if (block is not (IMethodBodyOperation or IConstructorBodyOperation or IFieldInitializerOperation or IPropertyInitializerOperation or IBlockOperation))
            {
                continue;
            }

            var (relevant, releases) = Scan(block, owner, cache.Api);
            if (!relevant)
            {
                continue;
            }

            var ct = context.CancellationToken;
            yield return cache.Results.GetValue(block.Syntax, _ => FlowAnalysis.Analyze(Graph(block, ct), owner, cache.Api, ct, trackCleared: releases));
        }
    }

    private static ControlFlowGraph Graph(IOperation block, CancellationToken cancellationToken) => block switch
    {
        IMethodBodyOperation body => ControlFlowGraph.Create(body, cancellationToken),
        IConstructorBodyOperation body => ControlFlowGraph.Create(body, cancellationToken),
        IFieldInitializerOperation initializer => ControlFlowGraph.Create(initializer, cancellationToken),
        IPropertyInitializerOperation initializer => ControlFlowGraph.Create(initializer, cancellationToken),
        _ => ControlFlowGraph.Create((IBlockOperation)block, cancellationToken),
    };

    /// <summary>The API model of the compilation (recognises start/end and the lock annotations).</summary>
    public static ApiModel Api(Compilation compilation, KnownSymbols symbols) =>
        Caches.GetValue(compilation, c => new PerCompilation(symbols)).Api;

    /// <summary>
    /// Whether every call of <paramref name="method"/> in the compilation runs with an invalidation
    /// range open for sure on every path in its caller (at least one call; the method never used
    /// other than by a call): a helper such as <c>__split_huge_zero_page_pmd</c> or
    /// <c>migrate_vma_insert_page</c> is entered inside its caller's start/end. The callers are
    /// analysed (and cached) as the analyzer driver would analyse them.
    /// </summary>
    public static bool CallersHoldRange(Compilation compilation, IMethodSymbol method, KnownSymbols symbols, CancellationToken cancellationToken)
    {
        var cache = Caches.GetValue(compilation, c => new PerCompilation(symbols));
        return cache.CallersHoldRange.GetOrAdd(method, m => ComputeCallersHoldRange(compilation, m, cache, cancellationToken));
    }

    private static bool ComputeCallersHoldRange(Compilation compilation, IMethodSymbol method, PerCompilation cache, CancellationToken cancellationToken)
    {
        var calls = CallSites.Get(compilation).CallsTo(method, cancellationToken);
        if (calls is null || calls.Count == 0)
        {
            return false;
        }

        foreach (var (call, model) in calls)
        {
            // The caller's own body (a call from a lambda or a local function is not followed).
            var declaration = call.Syntax.Ancestors().FirstOrDefault(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax or AccessorDeclarationSyntax);
            if (declaration is not BaseMethodDeclarationSyntax
                || model.GetOperation(declaration, cancellationToken) is not { } body
                || body is not (IMethodBodyOperation or IConstructorBodyOperation)
                || model.GetDeclaredSymbol(declaration, cancellationToken) is not IMethodSymbol caller)
            {
                return false;
            }

            var result = cache.Results.GetValue(body.Syntax, _ => FlowAnalysis.Analyze(
                body is IMethodBodyOperation methodBody
                    ? ControlFlowGraph.Create(methodBody, cancellationToken)
                    : ControlFlowGraph.Create((IConstructorBodyOperation)body, cancellationToken),
                caller,
                cache.Api,
                cancellationToken));
            var observation = result.At(call.Syntax);
            if (observation is null || !observation.Paths.All(p => p.Facts(Domains.Ranges).Any(r => r.Certainty == Engine.Certainty.Certain && r.OpenWhenZero is null)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The (shared, cached) result of a method body that is not the one the driver handed the rule
    /// (a callee or a caller MMU013 follows); null when the body calls nothing the analysis models,
    /// so no range, lock or notification is on any of its paths.
    /// </summary>
    public static FlowResult? ResultOf(Compilation compilation, KnownSymbols symbols, IOperation body, IMethodSymbol? owner, CancellationToken cancellationToken)
    {
        var cache = Caches.GetValue(compilation, c => new PerCompilation(symbols));
        if (body is not (IMethodBodyOperation or IConstructorBodyOperation or IBlockOperation))
        {
            return null;
        }

        var (relevant, releases) = Scan(body, owner, cache.Api);
        return relevant
            ? cache.Results.GetValue(body.Syntax, _ => FlowAnalysis.Analyze(Graph(body, cancellationToken), owner, cache.Api, cancellationToken, trackCleared: releases))
            : null;
    }

    /// <summary>Analyses a graph directly (tests, benchmarks).</summary>
    public static FlowResult Analyze(ControlFlowGraph graph, IMethodSymbol? owner, KnownSymbols symbols, CancellationToken cancellationToken) =>
        FlowAnalysis.Analyze(graph, owner, Api(symbols.Compilation, symbols), cancellationToken);

    /// <summary>
    /// Whether the block calls anything that drives the analysis (a range, a notification, a lock),
    /// and whether it releases a page at all: without a release MMU010 cannot fire, so the
    /// cleared-entries domain (which splits paths) is not tracked.
    /// </summary>
    private static (bool Relevant, bool Releases) Scan(IOperation block, IMethodSymbol? owner, ApiModel api)
    {
        var relevant = api.Get(owner) is { } effects && (effects.DrivesAnalysis || !effects.MustHold.IsEmpty);
        var releases = false;
        foreach (var operation in block.Descendants())
        {
            switch (operation)
            {
                case IInvocationOperation invocation when api.Get(invocation.TargetMethod) is { } e && e != MethodEffects.None:
                    relevant |= e.DrivesAnalysis;
                    releases |= e.ReleasesPage;
                    break;
                case ILocalFunctionOperation local when api.Get(local.Symbol) is { } e && (e.DrivesAnalysis || !e.MustHold.IsEmpty):
                    relevant = true;
                    break;
                case IAnonymousFunctionOperation lambda when api.Get(lambda.Symbol) is { } l && (l.DrivesAnalysis || !l.MustHold.IsEmpty):
                    relevant = true;
                    break;
            }
        }

        return (relevant, releases);
    }

    private sealed class PerCompilation
    {
        public PerCompilation(KnownSymbols symbols)
        {
            Api = new ApiModel(symbols);
        }

        public ApiModel Api { get; }

        public ConditionalWeakTable<SyntaxNode, FlowResult> Results { get; } = new();

        public System.Collections.Concurrent.ConcurrentDictionary<IMethodSymbol, bool> CallersHoldRange { get; } = new(SymbolEqualityComparer.Default);
    }
}
