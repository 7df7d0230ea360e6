using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.FlowAnalysis;

namespace MmuNotifierAnalyzers.Core.Flow.Engine;

/// <summary>How a path leaves the method.</summary>
internal enum ExitKind
{
    /// <summary>A <c>return</c> statement.</summary>
    Return,

    /// <summary>Falls off the end of the method.</summary>
    EndOfMethod,

    /// <summary>A <c>throw</c> that no <c>catch</c> in the method handles.</summary>
    Throw,
}

/// <summary>Where a path leaves the method: the statement (if any) and a description for messages.</summary>
internal sealed class ExitPath
{
    private readonly string _prefix;
    private readonly SyntaxNode? _lineOf;
    private readonly string _suffix;
    private string? _description;

    public ExitPath(ExitKind kind, SyntaxNode? statement, string description)
        : this(kind, statement, description, null, string.Empty)
    {
    }

    /// <summary>An exit whose description is <paramref name="prefix"/>, the line of
    /// <paramref name="lineOf"/> and <paramref name="suffix"/>: the line is looked up only when a
    /// message asks for it (most exits are never reported).</summary>
    public ExitPath(ExitKind kind, SyntaxNode? statement, string prefix, SyntaxNode? lineOf, string suffix)
    {
        Kind = kind;
        Statement = statement;
        _prefix = prefix;
        _lineOf = lineOf;
        _suffix = suffix;
    }

    public ExitKind Kind { get; }

    /// <summary>The <c>return</c>/<c>throw</c> statement, or null (end of method, <c>return;</c> in a void method).</summary>
    public SyntaxNode? Statement { get; }

    /// <summary>"returns at line 12 (label 'out')", "throws at line 9", "reaches the end of the method".</summary>
    public string Description => _description ??= _lineOf is null ? _prefix + _suffix : _prefix + Line(_lineOf) + _suffix;

    /// <summary>The 1-based line of a node, for messages.</summary>
    internal static string Line(SyntaxNode node) =>
        (node.GetLocation().GetLineSpan().StartLinePosition.Line + 1).ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// What a path-sensitive analysis plugs into <see cref="FlowEngine{TPath, TBranch}"/>: how one
/// path goes through a block, how a branch value refines it, how paths meeting at a block join,
/// and what to do with the paths that leave the method. The engine knows nothing else.
/// </summary>
/// <typeparam name="TPath">One path's abstract state (a disjunct).</typeparam>
/// <typeparam name="TBranch">What a block's branch value evaluates to on a path.</typeparam>
internal interface IPathSemantics<TPath, TBranch>
    where TPath : class
    where TBranch : class
{
    /// <summary>Runs <paramref name="block"/>'s operations and its branch value on one path.
    /// <paramref name="record"/> is set in the final pass, when observations are kept.</summary>
    TPath Transfer(BasicBlock block, TPath path, bool record, out TBranch? branch);

    /// <summary>The path when <paramref name="branch"/> evaluates to <paramref name="outcome"/>, or null when it cannot.</summary>
    TPath? Refine(TPath path, TBranch branch, bool outcome);

    /// <summary>Joins the paths reaching block <paramref name="blockOrdinal"/> (in edge order).</summary>
    List<TPath> Join(IEnumerable<TPath> incoming, int blockOrdinal);

    /// <summary>Same state: the fixed point is reached when every block's input set stays the same.</summary>
    bool Same(TPath a, TPath b);

    /// <summary>Paths leaving the method (final pass only).</summary>
    void Exit(ExitPath exit, List<TPath> paths);
}

/// <summary>Which way a path leaves a block.</summary>
internal enum Edge
{
    Conditional = 1,
    FallThrough = 2,

    /// <summary>Into a catch handler (anything in a try block may throw).</summary>
    Handler = 3,
}

/// <summary>
/// A worklist over the basic blocks of a <see cref="ControlFlowGraph"/> to a fixed point, where
/// a block's state is a small set of paths. Finally regions run as sub-analyses on the paths
/// that enter them; catch handlers receive the states of their try region; an explicit throw
/// that nothing in the method catches, a return and the end of the method are exits. After the
/// fixed point one more pass over every block lets the semantics record what it observes.
/// </summary>
internal sealed class FlowEngine<TPath, TBranch>
    where TPath : class
    where TBranch : class
{
    /// <summary>Block visits allowed per block before the analysis gives up (never reached by real code).</summary>
    private const int VisitsPerBlock = 64;

    /// <summary>The contribution key of the paths that enter a region (no source block).</summary>
    private const long RegionEntryKey = -1;

    private readonly ControlFlowGraph _graph;
    private readonly IPathSemantics<TPath, TBranch> _semantics;
    private readonly CancellationToken _cancellationToken;
    private bool _record;
    private int _budget;
    private bool? _hasBareReturn;

    /// <summary>Which blocks are loop heads (a predecessor at or after them), computed once per graph.</summary>
    private bool[]? _loopHeads;

    public FlowEngine(ControlFlowGraph graph, IPathSemantics<TPath, TBranch> semantics, CancellationToken cancellationToken)
    {
        _graph = graph;
        _semantics = semantics;
        _cancellationToken = cancellationToken;
        _budget = (graph.Blocks.Length * VisitsPerBlock) + 256;
    }

    /// <summary>Analyses the graph from <paramref name="entry"/>; false when it gave up (budget).</summary>
    public bool Run(TPath entry)
    {
        _record = true;
        return Solve(_graph.Root, 0, new List<TPath> { entry }, out _);
    }

    /// <summary>The 1-based line of a node, for messages.</summary>
    internal static string Line(SyntaxNode node) => ExitPath.Line(node);

    /// <summary>
    /// Runs the blocks of <paramref name="region"/> from <paramref name="entryOrdinal"/> to a fixed point,
    /// then (when recording) the final pass. <paramref name="leaving"/> receives the states that
    /// leave a finally region.
    /// </summary>
    private bool Solve(ControlFlowRegion region, int entryOrdinal, List<TPath> initial, out List<TPath> leaving)
    {
        // Per block of the graph (a region's blocks and the handlers it reaches are all inside it):
        // what each incoming edge delivered, and the input the block was last stepped with.
        var contributions = new EdgeStates?[_graph.Blocks.Length];
        var inStates = new List<TPath>?[_graph.Blocks.Length];
        var worklist = new Worklist(_graph.Blocks.Length);
        var outputs = new List<TPath>();
        leaving = outputs;

        Contribute(contributions, worklist, entryOrdinal, RegionEntryKey, initial);
        var record = _record;

        // Without a back edge, blocks taken in order are each stepped once, with their final
        // input: what they see is recorded on that one pass. With one, the fixed point comes
        // first and a second pass records.
        var recordNow = record && !HasBackEdge(region);
        _record = recordNow;
        try
        {
            while (worklist.Count > 0)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                if (--_budget < 0)
                {
                    return false;
                }

                var ordinal = worklist.RemoveMin();
                var block = _graph.Blocks[ordinal];
                var input = _semantics.Join(contributions[ordinal]!.Incoming(), ordinal);
                if (inStates[ordinal] is { } previous)
                {
                    if (SameSet(previous, input))
                    {
                        continue;
                    }

                    // Widening at a loop head: a path whose facts differ from the loop entry's
                    // (an entry cleared in the body) meets only itself on the back edge, so its
                    // data would change on every turn; joined with what the head saw before, it
                    // becomes the head's phi and the loop converges.
                    if (IsLoopHead(block))
                    {
                        var both = new List<TPath>(previous.Count + input.Count);
                        both.AddRange(previous);
                        both.AddRange(input);
                        input = _semantics.Join(both, ordinal);
                        if (SameSet(previous, input))
                        {
                            continue;
                        }
                    }
                }

                inStates[ordinal] = input;
                if (!Step(region, block, input, contributions, worklist, outputs))
                {
                    return false;
                }
            }

            if (record && !recordNow)
            {
                _record = true;
                outputs.Clear();
                var scratch = new EdgeStates?[_graph.Blocks.Length];
                var none = new Worklist(_graph.Blocks.Length);
                for (var ordinal = 0; ordinal < inStates.Length; ordinal++)
                {
                    if (inStates[ordinal] is { } input && !Step(region, _graph.Blocks[ordinal], input, scratch, none, outputs))
                    {
                        return false;
                    }
                }
            }
        }
        finally
        {
            _record = record;
        }

        return true;
    }

    private bool Step(
        ControlFlowRegion region,
        BasicBlock block,
        List<TPath> input,
        EdgeStates?[] contributions,
        Worklist worklist,
        List<TPath> outputs)
    {
        var states = new List<TPath>(input.Count);
        var branches = block.ConditionalSuccessor is null ? null : new TBranch?[input.Count];
        for (var i = 0; i < input.Count; i++)
        {
            states.Add(_semantics.Transfer(block, input[i], _record, out var branch));
            if (branches is not null)
            {
                branches[i] = branch;
            }
        }

        // Anything in a try block may throw into the catch handlers: they see the states on entry and exit.
        if (HandlerEntries(region, block) is { Count: > 0 } handlers)
        {
            var thrown = new List<TPath>(input.Count + states.Count);
            thrown.AddRange(input);
            thrown.AddRange(states);
            foreach (var handler in handlers)
            {
                Contribute(contributions, worklist, handler, EdgeKey(block, Edge.Handler), thrown);
            }
        }

        if (block.ConditionalSuccessor is { } conditional)
        {
            var taken = new List<TPath>(states.Count);
            var notTaken = new List<TPath>(states.Count);
            var jumpOutcome = block.ConditionKind == ControlFlowConditionKind.WhenTrue;
            for (var i = 0; i < states.Count; i++)
            {
                var state = states[i];
                if (branches![i] is not { } branch)
                {
                    taken.Add(state);
                    notTaken.Add(state);
                    continue;
                }

                if (_semantics.Refine(state, branch, jumpOutcome) is { } t)
                {
                    taken.Add(t);
                }

                if (_semantics.Refine(state, branch, !jumpOutcome) is { } f)
                {
                    notTaken.Add(f);
                }
            }

            if (!Deliver(region, block, conditional, taken, contributions, worklist, outputs, Edge.Conditional))
            {
                return false;
            }

            return block.FallThroughSuccessor is not { } fallThrough
                || Deliver(region, block, fallThrough, notTaken, contributions, worklist, outputs, Edge.FallThrough);
        }

        return block.FallThroughSuccessor is not { } next
            || Deliver(region, block, next, states, contributions, worklist, outputs, Edge.FallThrough);
    }

    private bool Deliver(
        ControlFlowRegion region,
        BasicBlock source,
        ControlFlowBranch branch,
        List<TPath> states,
        EdgeStates?[] contributions,
        Worklist worklist,
        List<TPath> outputs,
        Edge edge)
    {
        if (states.Count == 0)
        {
            return true;
        }

        foreach (var finallyRegion in branch.FinallyRegions)
        {
            if (!RunFinally(finallyRegion, ref states))
            {
                return false;
            }
        }

        switch (branch.Semantics)
        {
            case ControlFlowBranchSemantics.Regular:
            case ControlFlowBranchSemantics.Return:
                if (branch.Destination is null)
                {
                    return true;
                }

                if (branch.Destination.Kind == BasicBlockKind.Exit)
                {
                    if (_record)
                    {
                        _semantics.Exit(ReturnExit(source, branch.Semantics), states);
                    }

                    return true;
                }

                Contribute(contributions, worklist, branch.Destination.Ordinal, EdgeKey(source, edge), states);
                return true;

            case ControlFlowBranchSemantics.Throw:
            case ControlFlowBranchSemantics.Rethrow:
                return Throw(region, source, states);

            case ControlFlowBranchSemantics.StructuredExceptionHandling:
                outputs.AddRange(states);
                return true;

            default:
                // Error, program termination: the path ends here without reaching an exit.
                return true;
        }
    }

    /// <summary>An explicit throw: caught by an enclosing catch (its handler already sees this block's
    /// states), or it runs the enclosing finally blocks and leaves the method.</summary>
    private bool Throw(ControlFlowRegion region, BasicBlock source, List<TPath> states)
    {
        for (var r = source.EnclosingRegion; r is not null && r != region; r = r.EnclosingRegion)
        {
            if (r.Kind == ControlFlowRegionKind.Finally)
            {
                return true;
            }

            if (r.Kind == ControlFlowRegionKind.Try && r.EnclosingRegion is { } parent)
            {
                if (parent.Kind == ControlFlowRegionKind.TryAndCatch)
                {
                    return true;
                }

                if (parent.Kind == ControlFlowRegionKind.TryAndFinally && parent.NestedRegions.Length > 1
                    && !RunFinally(parent.NestedRegions[1], ref states))
                {
                    return false;
                }
            }
        }

        if (region == _graph.Root && _record)
        {
            var syntax = source.BranchValue?.Syntax;
            var statement = syntax?.AncestorsAndSelf().FirstOrDefault(n => n is ThrowStatementSyntax or ThrowExpressionSyntax);
            var at = statement ?? syntax;
            _semantics.Exit(at is null ? new ExitPath(ExitKind.Throw, null, "throws") : new ExitPath(ExitKind.Throw, at, "throws at line ", at, string.Empty), states);
        }

        return true;
    }

    private bool RunFinally(ControlFlowRegion finallyRegion, ref List<TPath> states)
    {
        if (!Solve(finallyRegion, finallyRegion.FirstBlockOrdinal, states, out var leaving))
        {
            return false;
        }

        states = _semantics.Join(leaving, finallyRegion.FirstBlockOrdinal);
        return true;
    }

    private static List<int>? HandlerEntries(ControlFlowRegion solving, BasicBlock block)
    {
        List<int>? handlers = null;
        for (var r = block.EnclosingRegion; r is not null && r != solving; r = r.EnclosingRegion)
        {
            if (r.Kind is ControlFlowRegionKind.Finally)
            {
                break;
            }

            if (r.Kind == ControlFlowRegionKind.Try && r.EnclosingRegion is { Kind: ControlFlowRegionKind.TryAndCatch } tryAndCatch)
            {
                var nested = tryAndCatch.NestedRegions;
                handlers = new List<int>(nested.Length - 1);
                for (var i = 1; i < nested.Length; i++)
                {
                    handlers.Add(nested[i].FirstBlockOrdinal);
                }

                break;
            }
        }

        return handlers;
    }

    private void Contribute(
        EdgeStates?[] contributions,
        Worklist worklist,
        int target,
        long edge,
        List<TPath> states)
    {
        var edges = contributions[target] ??= new EdgeStates();
        if (edges.TryGet(edge) is { } existing && SameSet(existing, states))
        {
            return;
        }

        edges.Set(edge, states);
        worklist.Add(target);
    }

    /// <summary>A contribution's key: the source block and which of its edges (a block has at most one of each).</summary>
    private static long EdgeKey(BasicBlock source, Edge edge) => ((long)source.Ordinal << 2) | (long)edge;

    private bool IsLoopHead(BasicBlock block) => LoopHeads()[block.Ordinal];

    private bool[] LoopHeads()
    {
        if (_loopHeads is { } heads)
        {
            return heads;
        }

        heads = new bool[_graph.Blocks.Length];
        foreach (var block in _graph.Blocks)
        {
            foreach (var predecessor in block.Predecessors)
            {
                if (predecessor.Source.Ordinal >= block.Ordinal)
                {
                    heads[block.Ordinal] = true;
                    break;
                }
            }
        }

        return _loopHeads = heads;
    }

    /// <summary>The same paths, as sets (a list may hold a path twice: the states a handler receives are not joined).</summary>
    private bool SameSet(List<TPath> a, List<TPath> b) => ReferenceEquals(a, b) || (Covers(a, b) && Covers(b, a));

    // Every path of `b` has an equal in `a`.
    private bool Covers(List<TPath> a, List<TPath> b)
    {
        foreach (var y in b)
        {
            var found = false;
            foreach (var x in a)
            {
                if (ReferenceEquals(x, y) || _semantics.Same(x, y))
                {
                    found = true;
                    break;
                }
            }

            if (!found)
            {
                return false;
            }
        }

        return true;
    }

    private bool HasBackEdge(ControlFlowRegion region)
    {
        var heads = LoopHeads();
        for (var i = region.FirstBlockOrdinal; i <= region.LastBlockOrdinal; i++)
        {
            if (heads[i])
            {
                return true;
            }
        }

        return false;
    }

    private ExitPath ReturnExit(BasicBlock source, ControlFlowBranchSemantics semantics)
    {
        if (semantics == ControlFlowBranchSemantics.Return)
        {
            var statement = source.BranchValue?.Syntax.AncestorsAndSelf().FirstOrDefault(n => n is ReturnStatementSyntax);
            if (statement is null && source.BranchValue is { Syntax: ExpressionSyntax expression } && expression.Parent is ArrowExpressionClauseSyntax or LambdaExpressionSyntax)
            {
                return new ExitPath(ExitKind.Return, expression, "returns at line ", expression, string.Empty);
            }

            if (statement is null)
            {
                return new ExitPath(ExitKind.Return, null, "returns early");
            }

            var label = statement.Parent is LabeledStatementSyntax labeled ? " (label '" + labeled.Identifier.ValueText + "')" : string.Empty;
            return new ExitPath(ExitKind.Return, statement, "returns at line ", statement, label);
        }

        // A void 'return;' branches to the exit like the end of the method does; tell them
        // apart only where the body has no such return (looked for once per graph).
        _hasBareReturn ??= HasBareReturn(_graph.OriginalOperation.Syntax);
        return _hasBareReturn.Value
            ? new ExitPath(ExitKind.Return, null, "returns")
            : new ExitPath(ExitKind.EndOfMethod, null, "reaches the end of the method");
    }

    private static bool HasBareReturn(SyntaxNode body)
    {
        foreach (var node in body.DescendantNodes(n => n == body || n is not (LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax)))
        {
            if (node is ReturnStatementSyntax { Expression: null })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>What each edge into a block delivered, kept in edge-key order (the join is
    /// order-sensitive only in which disjuncts survive the cap; a fixed order keeps the result
    /// deterministic). A block has a handful of incoming edges: a sorted list beats a dictionary.</summary>
    private sealed class EdgeStates
    {
        // Most blocks have one incoming edge: it is kept inline, the others in key order after it.
        private long _firstKey;
        private List<TPath>? _first;
        private List<(long Key, List<TPath> States)>? _more;

        public List<TPath>? TryGet(long key)
        {
            if (_first is not null && _firstKey == key)
            {
                return _first;
            }

            if (_more is not null)
            {
                foreach (var (k, states) in _more)
                {
                    if (k == key)
                    {
                        return states;
                    }
                }
            }

            return null;
        }

        public void Set(long key, List<TPath> states)
        {
            if (_first is null || _firstKey == key)
            {
                _firstKey = key;
                _first = states;
                return;
            }

            _more ??= new List<(long Key, List<TPath> States)>(2);
            for (var i = 0; i < _more.Count; i++)
            {
                if (_more[i].Key == key)
                {
                    _more[i] = (key, states);
                    return;
                }
            }

            _more.Add((key, states));
        }

        /// <summary>The paths reaching the block, edge by edge in key order.</summary>
        public List<TPath> Incoming()
        {
            if (_more is null)
            {
                return _first!;
            }

            var edges = new List<(long Key, List<TPath> States)>(_more.Count + 1) { (_firstKey, _first!) };
            edges.AddRange(_more);
            edges.Sort(static (x, y) => x.Key.CompareTo(y.Key));
            var count = 0;
            foreach (var edge in edges)
            {
                count += edge.States.Count;
            }

            var paths = new List<TPath>(count);
            foreach (var edge in edges)
            {
                paths.AddRange(edge.States);
            }

            return paths;
        }
    }

    /// <summary>The blocks left to step, lowest ordinal first (a SortedSet allocated a node per add,
    /// and blocks are added again and again until the fixed point).</summary>
    private sealed class Worklist
    {
        private readonly bool[] _queued;
        private int _low;

        public Worklist(int blocks)
        {
            _queued = new bool[blocks];
            _low = blocks;
        }

        public int Count { get; private set; }

        public void Add(int ordinal)
        {
            if (!_queued[ordinal])
            {
                _queued[ordinal] = true;
                Count++;
                if (ordinal < _low)
                {
                    _low = ordinal;
                }
            }
        }

        public int RemoveMin()
        {
            while (!_queued[_low])
            {
                _low++;
            }

            _queued[_low] = false;
            Count--;
            return _low;
        }
    }
}
