using System.Collections.Generic;
using System.Collections.Immutable;
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
/// it between every rule that reads it (MMU002, MMU003, MMU005, MMU006, MMU009, MMU010, MMU012,
/// MMU013, MMU014, MMU015). A cheap pre-check skips blocks that call nothing the analysis models.
/// </summary>
internal static class FlowCache
{
    // How many calls up a caller question follows (as NotifierCallbackChains does).
    private const int MaxCallerDepth = 16;

    private static readonly ConditionalWeakTable<Compilation, PerCompilation> Caches = new();

    /// <summary>The flow results for the bodies in <paramref name="context"/> (empty when nothing relevant is called).</summary>
    public static ImmutableArray<FlowResult> Get(Rules.BodyAnalysisContext context, KnownSymbols symbols) => Get(context, symbols, always: false);

    /// <summary>
    /// As <see cref="Get(Rules.BodyAnalysisContext, KnownSymbols)"/>, and when <paramref name="always"/>
    /// also for bodies that call nothing the analysis models: a callback's facts come from its entry
    /// (its range parameter is not proven blockable) and a test, not from a call. The result is the
    /// one every rule shares (it depends on the body alone).
    /// </summary>
    /// <remarks>An array, not an iterator: every flow rule asks for every body, and an iterator's state
    /// object was one of the larger allocations of a build.</remarks>
    public static ImmutableArray<FlowResult> Get(Rules.BodyAnalysisContext context, KnownSymbols symbols, bool always)
    {
        var cache = CacheOf(context.Compilation, symbols);
        var owner = context.OwningSymbol as IMethodSymbol;
        var results = ImmutableArray<FlowResult>.Empty;
        foreach (var block in context.OperationBlocks)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            if (block is not (IMethodBodyOperation or IConstructorBodyOperation or IFieldInitializerOperation or IPropertyInitializerOperation or IBlockOperation))
            {
                continue;
            }

            var scan = cache.Scan(block, owner);
            if (!scan.Relevant && !always)
            {
                continue;
            }

            // Nearly every body has one block: one array of one.
            results = results.Add(cache.Result(block, owner, scan, context.CancellationToken));
        }

        return results;
    }

    private static PerCompilation CacheOf(Compilation compilation, KnownSymbols symbols) =>
        Caches.GetOrCreate(compilation, symbols, static (_, s) => new PerCompilation(s));

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
        CacheOf(compilation, symbols).Api;

    /// <summary>
    /// Whether every call of <paramref name="method"/> in the compilation runs with an invalidation
    /// range open for sure on every path in its caller (at least one call; the method never used
    /// other than by a call): a helper such as <c>__split_huge_zero_page_pmd</c> or
    /// <c>migrate_vma_insert_page</c> is entered inside its caller's start/end. The callers are
    /// analysed (and cached) as the analyzer driver would analyse them.
    /// </summary>
    public static bool CallersHoldRange(Compilation compilation, IMethodSymbol method, KnownSymbols symbols, CancellationToken cancellationToken)
    {
        var cache = CacheOf(compilation, symbols);
        return cache.CallersHoldRange.GetOrAdd(method, m => ComputeCallersHold(compilation, m, cache, HoldsRange, cancellationToken));
    }

    /// <summary>
    /// Whether every call of <paramref name="method"/> in the compilation runs, on every path in its
    /// caller, with an mm's <c>mmap_sem</c> held for write for sure (taken there, or the caller is
    /// entered with it: <c>[MustHoldLock]</c>, mode unsaid): a helper that calls
    /// <c>__mmu_notifier_register</c> for a caller that took the lock (amdkfd's create_process). A
    /// caller that holds no rw_semaphore at all at the call passes the question to its own callers
    /// (sgi-gru: <c>gru_alloc_locked_gts</c> takes the lock three calls above the registration).
    /// Which mm is not matched across the call. Null when they all do; otherwise the callers, the
    /// outermost first, down to one that reaches <paramref name="method"/> without the write hold
    /// (HMM's 4.18 <c>hmm_vma_fault</c>, entered with it held for read): empty when there is no
    /// caller to name (none in the compilation, recursion, a call the analysis could not follow).
    /// </summary>
    public static ImmutableArray<string>? CallerWithoutMmapSemForWrite(Compilation compilation, IMethodSymbol method, KnownSymbols symbols, CancellationToken cancellationToken)
    {
        var cache = CacheOf(compilation, symbols);
        return cache.CallersHoldMmapSem.GetOrAdd(method, m => CallerWithoutWriteHold(compilation, m, symbols, cache, new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default), cancellationToken));
    }

    /// <summary>
    /// The shortest chain of callers down to <paramref name="method"/> whose first method holds an
    /// mm's <c>mmap_sem</c> (for read or write, taken there or held on entry) at its call, on some
    /// path, every method after it holding none at its call: the held semaphore and the methods from
    /// the holder down to <paramref name="method"/> (sgi-gru's 2008 <c>gru_file_mmap</c>, an <c>f_op-&gt;mmap</c>
    /// entered with the lock, three calls above its <c>mmu_notifier_register</c>). Null when no
    /// caller holds one. Whether every path holds it is not known: the flow keeps no observation of
    /// a path that carries no fact at a call the analysis does not model. Which mm is not matched
    /// across the call.
    /// </summary>
    public static (SemaphoreFact Held, ImmutableArray<string> Chain)? CallerHoldingMmapSem(Compilation compilation, IMethodSymbol method, KnownSymbols symbols, CancellationToken cancellationToken)
    {
        var cache = CacheOf(compilation, symbols);
        return cache.CallerHoldingMmapSem.GetOrAdd(method, m => SearchCallerHolding(compilation, m, symbols, cache, cancellationToken));
    }

    private static ImmutableArray<string>? CallerWithoutWriteHold(Compilation compilation, IMethodSymbol method, KnownSymbols symbols, PerCompilation cache, HashSet<IMethodSymbol> visiting, CancellationToken cancellationToken)
    {
        if (!visiting.Add(method) || visiting.Count > MaxCallerDepth)
        {
            return ImmutableArray<string>.Empty;
        }

        var calls = CallSites.Get(compilation).CallsTo(method, cancellationToken);
        if (calls is null || calls.Count == 0)
        {
            return ImmutableArray<string>.Empty;
        }

        foreach (var (call, model) in calls)
        {
            if (CallerPaths(call, model, cache, cancellationToken) is not (var caller, var paths))
            {
                return ImmutableArray<string>.Empty;
            }

            if (paths.Count > 0 && paths.All(p => MmapSems(p, symbols).Any(s => s.Certainty == Engine.Certainty.Certain && s.Mode != SemaphoreMode.Read)))
            {
                continue;
            }

            // A caller that holds no rw_semaphore passes the question up; one that holds it for read,
            // or only on some paths, is where the write hold is missing.
            if (!paths.All(p => p.Facts(Domains.Semaphores).IsEmpty))
            {
                return ImmutableArray.Create(caller.Name);
            }

            if (CallerWithoutWriteHold(compilation, caller, symbols, cache, visiting, cancellationToken) is { } above)
            {
                return above.Add(caller.Name);
            }
        }

        visiting.Remove(method);
        return null;
    }

    private static (SemaphoreFact Held, ImmutableArray<string> Chain)? SearchCallerHolding(Compilation compilation, IMethodSymbol method, KnownSymbols symbols, PerCompilation cache, CancellationToken cancellationToken)
    {
        var sites = CallSites.Get(compilation);
        var parents = new Dictionary<IMethodSymbol, IMethodSymbol?>(SymbolEqualityComparer.Default) { [method] = null };
        var frontier = new List<IMethodSymbol> { method };
        for (var depth = 0; depth < MaxCallerDepth && frontier.Count > 0; depth++)
        {
            var next = new List<IMethodSymbol>();
            foreach (var current in frontier)
            {
                foreach (var (call, model) in sites.CallsTo(current, cancellationToken) ?? [])
                {
                    if (CallerPaths(call, model, cache, cancellationToken) is not (var caller, var paths))
                    {
                        continue;
                    }

                    var held = paths.SelectMany(p => MmapSems(p, symbols)).FirstOrDefault();
                    if (held is not null)
                    {
                        var chain = ImmutableArray.CreateBuilder<string>();
                        chain.Add(caller.Name);
                        for (var m = current; m is not null; m = parents[m])
                        {
                            chain.Add(m.Name);
                        }

                        return (held, chain.ToImmutable());
                    }

                    if (paths.All(p => p.Facts(Domains.Semaphores).IsEmpty) && !parents.ContainsKey(caller))
                    {
                        parents[caller] = current;
                        next.Add(caller);
                    }
                }
            }

            frontier = next;
        }

        return null;
    }

    // The unconditional holds of an mm's mmap_sem on a path.
    private static IEnumerable<SemaphoreFact> MmapSems(ObservedPath path, KnownSymbols symbols) =>
        path.Facts(Domains.Semaphores).Where(s => s.Condition == LockCondition.None
            && s.Key.Kind == ValueKind.Member
            && SymbolEqualityComparer.Default.Equals(s.Key.Payload as ISymbol, symbols.MmapSem));

    // The caller of a call site and its paths' facts at the call (none when no path reaching it
    // carries a fact: the analysis keeps no observation there); null for a call from a lambda or a
    // local function (not followed), or where the caller's analysis gave up.
    private static (IMethodSymbol Caller, IReadOnlyList<ObservedPath> Paths)? CallerPaths(IInvocationOperation call, SemanticModel model, PerCompilation cache, CancellationToken cancellationToken)
    {
        var declaration = call.Syntax.Ancestors().FirstOrDefault(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax or AccessorDeclarationSyntax);
        if (declaration is not BaseMethodDeclarationSyntax
            || model.GetOperation(declaration, cancellationToken) is not { } body
            || body is not (IMethodBodyOperation or IConstructorBodyOperation)
            || model.GetDeclaredSymbol(declaration, cancellationToken) is not IMethodSymbol caller)
        {
            return null;
        }

        // The result the driver's own visit of the caller reads, with what that visit tracks (cleared
        // entries only where the body frees a page): which of the two computes it first must not
        // change the result every rule then shares.
        var result = cache.Result(body, caller, cache.Scan(body, caller), cancellationToken);
        return result.Complete ? (caller.OriginalDefinition, result.At(call.Syntax)?.Paths ?? []) : null;
    }

    private static bool HoldsRange(IReadOnlyList<ObservedPath> paths) =>
        paths.All(p => p.Facts(Domains.Ranges).Any(r => r.Certainty == Engine.Certainty.Certain && r.OpenWhenZero is null));

    private static bool ComputeCallersHold(Compilation compilation, IMethodSymbol method, PerCompilation cache, System.Func<IReadOnlyList<ObservedPath>, bool> holds, CancellationToken cancellationToken)
    {
        var calls = CallSites.Get(compilation).CallsTo(method, cancellationToken);
        if (calls is null || calls.Count == 0)
        {
            return false;
        }

        foreach (var (call, model) in calls)
        {
            if (CallerPaths(call, model, cache, cancellationToken) is not (_, { Count: > 0 } paths) || !holds(paths))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The flow of <paramref name="method"/>'s body entered with its <c>bool</c> parameter
    /// <paramref name="flag"/> unproven (<see cref="Domains.Unproven"/>): a helper a non-blockable
    /// callback passes <c>mmu_notifier_range_blockable(range)</c> to (<c>amdgpu_mn_read_lock(amn,
    /// blockable)</c>, gntdev's <c>unmap_if_in_range</c>). Null for a method without a body here.
    /// Kept apart from the shared results, whose entry does not know the flag.
    /// </summary>
    public static FlowResult? ForBlockableFlag(Compilation compilation, KnownSymbols symbols, IMethodSymbol method, IParameterSymbol flag, CancellationToken cancellationToken)
    {
        var cache = CacheOf(compilation, symbols);
        if (method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) is not BaseMethodDeclarationSyntax declaration
            || !compilation.ContainsSyntaxTree(declaration.SyntaxTree))
        {
            return null;
        }

        return cache.FlagResults.GetOrAdd((declaration, flag.Ordinal), _ =>
        {
            var model = CallSites.Get(compilation).Model(declaration.SyntaxTree);
            return model.GetOperation(declaration, cancellationToken) is IMethodBodyOperation body
                ? FlowAnalysis.Analyze(ControlFlowGraph.Create(body, cancellationToken), method, cache.Api, cancellationToken, blockableFlag: flag)
                : null;
        });
    }

    /// <summary>
    /// The (shared, cached) result of a method body that is not the one the driver handed the rule
    /// (a callee or a caller MMU013 follows); null when the body calls nothing the analysis models,
    /// so no range, lock or notification is on any of its paths.
    /// </summary>
    public static FlowResult? ResultOf(Compilation compilation, KnownSymbols symbols, IOperation body, IMethodSymbol? owner, CancellationToken cancellationToken)
    {
        var cache = CacheOf(compilation, symbols);
        if (body is not (IMethodBodyOperation or IConstructorBodyOperation or IBlockOperation))
        {
            return null;
        }

        var scan = cache.Scan(body, owner);
        return scan.Relevant ? cache.Result(body, owner, scan, cancellationToken) : null;
    }

    /// <summary>
    /// The notifier range calls of a block with both bounds given (what <see cref="RangeSyntax.TryGetRange"/>
    /// accepts), in source order: found once per block for the rules that check a range's extent
    /// (MMU007, MMU008), which used to walk the block each.
    /// </summary>
    public static IInvocationOperation[] RangeCalls(Compilation compilation, KnownSymbols symbols, IOperation block) =>
        CacheOf(compilation, symbols).RangeCalls.GetOrCreate(block.Syntax, (block, symbols), static (_, a) => FindRangeCalls(a.block, a.symbols));

    private static IInvocationOperation[] FindRangeCalls(IOperation block, KnownSymbols symbols)
    {
        List<IInvocationOperation>? calls = null;
        foreach (var operation in block.DescendantsAndSelf())
        {
            if (operation is IInvocationOperation invocation && RangeSyntax.TryGetRange(invocation, symbols, out _, out _))
            {
                (calls ??= new List<IInvocationOperation>()).Add(invocation);
            }
        }

        if (calls is null)
        {
            return System.Array.Empty<IInvocationOperation>();
        }

        calls.Sort(static (x, y) => x.Syntax.SpanStart.CompareTo(y.Syntax.SpanStart));
        return calls.ToArray();
    }

    /// <summary>Analyses a graph directly (tests, benchmarks).</summary>
    public static FlowResult Analyze(ControlFlowGraph graph, IMethodSymbol? owner, KnownSymbols symbols, CancellationToken cancellationToken) =>
        FlowAnalysis.Analyze(graph, owner, Api(symbols.Compilation, symbols), cancellationToken);

    /// <summary>
    /// Whether the block calls anything that drives the analysis (a range, a notification, a lock),
    /// and whether it releases a page at all: without a release MMU010 cannot fire, so the
    /// cleared-entries domain (which splits paths) is not tracked.
    /// </summary>
    private static BlockScan Scan(IOperation block, IMethodSymbol? owner, ApiModel api)
    {
        var relevant = (api.Get(owner) is { } effects && (effects.DrivesAnalysis || !effects.MustHold.IsEmpty)) || api.IsIntervalInvalidate(owner);
        var releases = false;
        foreach (var operation in block.Descendants())
        {
            switch (operation)
            {
                case IInvocationOperation invocation when api.Get(invocation.TargetMethod) is { } e && e != MethodEffects.None:
                    relevant |= e.DrivesAnalysis;
                    releases |= e.ReleasesPage;
                    break;
                case IMemberReferenceOperation { Member: var member } when api.IsSequenceMember(member):
                    relevant = true;
                    break;
                case ILocalFunctionOperation local when api.Get(local.Symbol) is { } e && (e.DrivesAnalysis || !e.MustHold.IsEmpty):
                    relevant = true;
                    break;
                case IAnonymousFunctionOperation lambda when api.Get(lambda.Symbol) is { } l && (l.DrivesAnalysis || !l.MustHold.IsEmpty):
                    relevant = true;
                    break;
            }
        }

        return new BlockScan(relevant, releases);
    }

    /// <summary>What <see cref="Scan"/> found in a block: asked by every rule, so kept with the block.</summary>
    private sealed class BlockScan
    {
        public BlockScan(bool relevant, bool releases)
        {
            Relevant = relevant;
            Releases = releases;
        }

        public bool Relevant { get; }

        public bool Releases { get; }
    }

    private sealed class PerCompilation
    {
        public PerCompilation(KnownSymbols symbols)
        {
            Api = new ApiModel(symbols);
        }

        public ApiModel Api { get; }

        private ConditionalWeakTable<SyntaxNode, FlowResult> Results { get; } = new();

        /// <summary>Each block's scan, once: every rule over a body asks before it reads the result.</summary>
        private ConditionalWeakTable<SyntaxNode, BlockScan> Scans { get; } = new();

        public ConditionalWeakTable<SyntaxNode, IInvocationOperation[]> RangeCalls { get; } = new();

        public BlockScan Scan(IOperation block, IMethodSymbol? owner) =>
            Scans.GetOrCreate(block.Syntax, (block, owner, Api), static (_, a) => FlowCache.Scan(a.block, a.owner, a.Api));

        public FlowResult Result(IOperation block, IMethodSymbol? owner, BlockScan scan, CancellationToken cancellationToken) =>
            Results.GetOrCreate(
                block.Syntax,
                (block, owner, scan.Releases, Api, cancellationToken),
                static (_, a) => FlowAnalysis.Analyze(Graph(a.block, a.cancellationToken), a.owner, a.Api, a.cancellationToken, trackCleared: a.Releases));

        public System.Collections.Concurrent.ConcurrentDictionary<IMethodSymbol, bool> CallersHoldRange { get; } = new(SymbolEqualityComparer.Default);

        public System.Collections.Concurrent.ConcurrentDictionary<IMethodSymbol, ImmutableArray<string>?> CallersHoldMmapSem { get; } = new(SymbolEqualityComparer.Default);

        public System.Collections.Concurrent.ConcurrentDictionary<IMethodSymbol, (SemaphoreFact Held, ImmutableArray<string> Chain)?> CallerHoldingMmapSem { get; } = new(SymbolEqualityComparer.Default);

        public System.Collections.Concurrent.ConcurrentDictionary<(SyntaxNode Body, int Flag), FlowResult?> FlagResults { get; } = new();
    }
}
