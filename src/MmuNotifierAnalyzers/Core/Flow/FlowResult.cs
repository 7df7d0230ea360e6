using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>A range still open when a path leaves the method.</summary>
internal sealed class RangeLeak
{
    public RangeLeak(RangeFact range, ExitPath exit)
    {
        Range = range;
        Exit = exit;
    }

    public RangeFact Range { get; }

    public ExitPath Exit { get; }
}

/// <summary>An end call matched to the start it closes, and what differs between them.</summary>
internal sealed class RangeClose
{
    public RangeClose(SyntaxNode end, RangeFact range, bool keyDiffers, bool startDiffers, bool endDiffers, string keyDisplay, string? startDisplay, string? endDisplay)
    {
        KeyDisplay = keyDisplay;
        StartDisplay = startDisplay;
        EndDisplay = endDisplay;
        End = end;
        Range = range;
        KeyDiffers = keyDiffers;
        StartDiffers = startDiffers;
        EndDiffers = endDiffers;
    }

    public SyntaxNode End { get; }

    public RangeFact Range { get; }

    /// <summary>End's mm (or range object) is not provably start's.</summary>
    public bool KeyDiffers { get; }

    public bool StartDiffers { get; }

    public bool EndDiffers { get; }

    /// <summary>End's mm (or range) argument as written.</summary>
    public string KeyDisplay { get; }

    /// <summary>End's <c>start</c> argument as written.</summary>
    public string? StartDisplay { get; }

    /// <summary>End's <c>end</c> argument as written.</summary>
    public string? EndDisplay { get; }

    public bool HasMismatch => KeyDiffers || StartDiffers || EndDiffers || !Range.Writes.IsEmpty;
}

/// <summary>A write to a field of an open 4.20 <c>mmu_notifier_range</c>.</summary>
internal sealed class RangeFieldWrite
{
    public RangeFieldWrite(SyntaxNode write, ISymbol member, RangeFact range)
    {
        Write = write;
        Member = member;
        Range = range;
    }

    public SyntaxNode Write { get; }

    public ISymbol Member { get; }

    public RangeFact Range { get; }
}

/// <summary>One path reaching an observed operation: its property facts and the values of the
/// call's arguments (by parameter ordinal; empty for an operation that is not a call).</summary>
internal sealed class ObservedPath : System.IEquatable<ObservedPath>
{
    private readonly ImmutableArray<object> _state;

    internal ObservedPath(Disjunct state, ImmutableArray<Value?> arguments)
    {
        _state = state.PropertyValues;
        Arguments = arguments;
    }

    public ImmutableArray<Value?> Arguments { get; }

    /// <summary>The path's facts of one domain (certain or not).</summary>
    public T Facts<T>(FactDomain<T> domain)
        where T : notnull => (T)_state[domain.Index];

    /// <summary>The value of the argument passed for parameter <paramref name="ordinal"/>, or null.</summary>
    public Value? Argument(int ordinal) => ordinal >= 0 && ordinal < Arguments.Length ? Arguments[ordinal] : null;

    public bool Equals(ObservedPath? other) =>
        other is not null && Disjunct.SameProperties(_state, other._state) && Arguments.SequenceEqual(other.Arguments);

    public override bool Equals(object? obj) => Equals(obj as ObservedPath);

    public override int GetHashCode() => Arguments.Length;
}

/// <summary>
/// What the analysis saw at one operation (a call, an object creation, a property read, an await
/// reached with a fact open): one entry per distinct path state. A question asked of some entry
/// is a may, of every entry a must.
/// </summary>
internal sealed class Observation
{
    private readonly List<ObservedPath> _paths = new();

    public Observation(IOperation operation)
    {
        Operation = operation;
    }

    /// <summary>The operation as it appears in the control-flow graph (its Syntax is the source's).</summary>
    public IOperation Operation { get; }

    public IReadOnlyList<ObservedPath> Paths => _paths;

    /// <summary>May: the facts of <paramref name="domain"/> on some path (certain or not), each once.</summary>
    public ImmutableArray<T> OnSomePath<T>(FactSetDomain<T> domain)
        where T : class, IUncertainFact<T>
    {
        var facts = ImmutableArray.CreateBuilder<T>();
        foreach (var path in _paths)
        {
            foreach (var fact in path.Facts(domain))
            {
                if (!facts.Contains(fact))
                {
                    facts.Add(fact);
                }
            }
        }

        return facts.ToImmutable();
    }

    /// <summary>May: whether some path has a fact of <paramref name="domain"/> (certain or not); asks no array.</summary>
    public bool AnyOnSomePath<T>(FactSetDomain<T> domain)
        where T : class, IUncertainFact<T>
    {
        foreach (var path in _paths)
        {
            if (!path.Facts(domain).IsEmpty)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Must: the facts of <paramref name="domain"/> that every path has for certain.</summary>
    public ImmutableArray<T> OnEveryPath<T>(FactSetDomain<T> domain)
        where T : class, IUncertainFact<T> =>
        _paths.Count == 0
            ? ImmutableArray<T>.Empty
            : _paths[0].Facts(domain).Where(f => f.Certainty == Certainty.Certain && _paths.All(p => p.Facts(domain).Contains(f))).ToImmutableArray();

    internal void Add(ObservedPath path)
    {
        if (!_paths.Contains(path))
        {
            _paths.Add(path);
        }
    }
}

/// <summary>
/// The result of the path-sensitive analysis of one operation block (a method body with its
/// lambdas and local functions, each analysed as its own method). Built once, cached, read by
/// every rule. All keys are syntax nodes, so rules can match them to their own operations.
/// </summary>
internal sealed class FlowResult
{
    public static readonly FlowResult Empty = new(true);

    // Made on first use: most results (every body of a file that calls the API, each lambda) hold
    // a few observations and nothing else.
    private Dictionary<SyntaxNode, RangeLeak>? _leaks;
    private Dictionary<SyntaxNode, string>? _unmatchedEnds;
    private Dictionary<SyntaxNode, RangeFact>? _reopened;
    private Dictionary<SyntaxNode, List<RangeClose>>? _closes;
    private Dictionary<SyntaxNode, RangeFieldWrite>? _fieldWrites;
    private Dictionary<SyntaxNode, Observation>? _observations;
    private List<(ExitPath Exit, List<ObservedPath> Paths)>? _exits;

    internal FlowResult(bool complete)
    {
        Complete = complete;
    }

    /// <summary>False when the analysis gave up (budget): rules then report nothing.</summary>
    public bool Complete { get; private set; }

    /// <summary>Starts whose range is still open when some path leaves the method (first such exit).</summary>
    public IEnumerable<RangeLeak> LeakedRanges => Complete && _leaks is not null ? _leaks.Values : Enumerable.Empty<RangeLeak>();

    /// <summary>End calls reached on some path with no start open on their mm, with the mm as written.</summary>
    public IEnumerable<KeyValuePair<SyntaxNode, string>> UnmatchedEnds =>
        Complete && _unmatchedEnds is not null ? _unmatchedEnds : Enumerable.Empty<KeyValuePair<SyntaxNode, string>>();

    /// <summary>Starts reached while a range on the same mm is still open; the value is that open range.</summary>
    public IEnumerable<KeyValuePair<SyntaxNode, RangeFact>> ReopenedStarts =>
        Complete && _reopened is not null ? _reopened : Enumerable.Empty<KeyValuePair<SyntaxNode, RangeFact>>();

    /// <summary>Each end call with the start(s) it closes on some path.</summary>
    public IEnumerable<RangeClose> Closes => Complete && _closes is not null ? _closes.Values.SelectMany(l => l) : Enumerable.Empty<RangeClose>();

    /// <summary>Writes to fields of an open 4.20 <c>mmu_notifier_range</c>.</summary>
    public IEnumerable<RangeFieldWrite> RangeFieldWrites => Complete && _fieldWrites is not null ? _fieldWrites.Values : Enumerable.Empty<RangeFieldWrite>();

    /// <summary>Every observed operation: the calls the analysis models, and any call, object
    /// creation, property read or await reached with a property fact (a range, a lock, a cleared entry) on some path.</summary>
    public IEnumerable<Observation> Observations => Complete && _observations is not null ? _observations.Values : Enumerable.Empty<Observation>();

    /// <summary>The exits of an interval notifier's <c>-&gt;invalidate</c> (by its signature) with the
    /// facts of each path that leaves there; empty for any other method.</summary>
    public IEnumerable<(ExitPath Exit, IReadOnlyList<ObservedPath> Paths)> Exits =>
        Complete && _exits is not null ? _exits.Select(e => (e.Exit, (IReadOnlyList<ObservedPath>)e.Paths)) : Enumerable.Empty<(ExitPath, IReadOnlyList<ObservedPath>)>();

    /// <summary>The observation of the operation with this syntax, or null.</summary>
    public Observation? At(SyntaxNode operation) => Complete && _observations is not null && _observations.TryGetValue(operation, out var o) ? o : null;

    internal void GiveUp() => Complete = false;

    internal void Observe(IOperation operation, ObservedPath path)
    {
        _observations ??= new Dictionary<SyntaxNode, Observation>();
        if (!_observations.TryGetValue(operation.Syntax, out var observation))
        {
            observation = new Observation(operation);
            _observations.Add(operation.Syntax, observation);
        }

        observation.Add(path);
    }

    internal void AddExit(ExitPath exit, IEnumerable<ObservedPath> paths)
    {
        _exits ??= new List<(ExitPath Exit, List<ObservedPath> Paths)>();
        var index = _exits.FindIndex(e => e.Exit.Kind == exit.Kind && e.Exit.Statement == exit.Statement);
        if (index < 0)
        {
            _exits.Add((exit, new List<ObservedPath>()));
            index = _exits.Count - 1;
        }

        foreach (var path in paths)
        {
            if (!_exits[index].Paths.Contains(path))
            {
                _exits[index].Paths.Add(path);
            }
        }
    }

    internal void AddLeak(RangeFact range, ExitPath exit)
    {
        _leaks ??= new Dictionary<SyntaxNode, RangeLeak>();
        if (!_leaks.ContainsKey(range.Start))
        {
            _leaks.Add(range.Start, new RangeLeak(range, exit));
        }
    }

    internal void AddUnmatchedEnd(SyntaxNode end, string mm)
    {
        _unmatchedEnds ??= new Dictionary<SyntaxNode, string>();
        if (!_unmatchedEnds.ContainsKey(end))
        {
            _unmatchedEnds.Add(end, mm);
        }
    }

    internal void AddReopened(SyntaxNode start, RangeFact open)
    {
        _reopened ??= new Dictionary<SyntaxNode, RangeFact>();
        if (!_reopened.ContainsKey(start))
        {
            _reopened.Add(start, open);
        }
    }

    internal void AddClose(RangeClose close)
    {
        _closes ??= new Dictionary<SyntaxNode, List<RangeClose>>();
        if (!_closes.TryGetValue(close.End, out var list))
        {
            list = new List<RangeClose>();
            _closes.Add(close.End, list);
        }

        if (!list.Any(c => c.Range.Start == close.Range.Start && c.HasMismatch == close.HasMismatch && c.Range.Writes.Length == close.Range.Writes.Length))
        {
            list.Add(close);
        }
    }

    internal void AddFieldWrite(RangeFieldWrite write)
    {
        _fieldWrites ??= new Dictionary<SyntaxNode, RangeFieldWrite>();
        if (!_fieldWrites.ContainsKey(write.Write))
        {
            _fieldWrites.Add(write.Write, write);
        }
    }
}
