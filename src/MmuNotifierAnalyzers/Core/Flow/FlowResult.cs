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

/// <summary>An operation reached with spinlocks held on at least one path.</summary>
internal sealed class LockedOperation
{
    public LockedOperation(IOperation operation, ImmutableArray<LockFact> locks)
    {
        Operation = operation;
        Locks = locks;
    }

    /// <summary>The operation as it appears in the control-flow graph (its Syntax is the source's).</summary>
    public IOperation Operation { get; }

    public ImmutableArray<LockFact> Locks { get; }
}

/// <summary>One path's view of a notification call: the ranges open there and the call's own range.</summary>
internal sealed class NotifyPath : System.IEquatable<NotifyPath>
{
    public NotifyPath(ImmutableArray<RangeFact> open, Value? start, Value? end)
    {
        Open = open;
        Start = start;
        End = end;
    }

    /// <summary>Every range open on this path (certain or not, conditional or not).</summary>
    public ImmutableArray<RangeFact> Open { get; }

    /// <summary>The start of the range the call notifies.</summary>
    public Value? Start { get; }

    /// <summary>The end of the range the call notifies.</summary>
    public Value? End { get; }

    /// <summary>The ranges open on this path for sure: certain, and not waiting on a <c>_nonblock</c> result.</summary>
    public IEnumerable<RangeFact> SurelyOpen => Open.Where(r => r.Certainty == Certainty.Certain && r.OpenWhenZero is null);

    /// <summary>Whether <paramref name="range"/>'s [start, end) covers the call's.</summary>
    public Coverage CoveredBy(RangeFact range) =>
        range.IsRangeObject ? Coverage.Unknown : RangeCoverage.Covers(range.StartValue, range.EndValue, Start, End);

    public bool Equals(NotifyPath? other) =>
        other is not null && Equals(Start, other.Start) && Equals(End, other.End)
        && Open.Length == other.Open.Length && Open.All(other.Open.Contains);

    public override bool Equals(object? obj) => Equals(obj as NotifyPath);

    public override int GetHashCode() => Open.Length;
}

/// <summary>A notification call (<c>invalidate_range</c>, <c>change_pte</c> and their wrappers) with every path that reaches it.</summary>
internal sealed class NotifyCall
{
    public NotifyCall(IOperation operation, NotifyKind kind)
    {
        Operation = operation;
        Kind = kind;
    }

    /// <summary>The call as it appears in the control-flow graph (its Syntax is the source's).</summary>
    public IOperation Operation { get; }

    public NotifyKind Kind { get; }

    /// <summary>One entry per distinct state the call is reached in: a question asked of every entry is a must.</summary>
    public List<NotifyPath> Paths { get; } = new();
}

/// <summary>
/// The result of the path-sensitive analysis of one operation block (a method body with its
/// lambdas and local functions, each analysed as its own method). Built once, cached, read by
/// every rule. All keys are syntax nodes, so rules can match them to their own operations.
/// </summary>
internal sealed class FlowResult
{
    public static readonly FlowResult Empty = new(true);

    private readonly Dictionary<SyntaxNode, RangeLeak> _leaks = new();
    private readonly Dictionary<SyntaxNode, string> _unmatchedEnds = new();
    private readonly Dictionary<SyntaxNode, RangeFact> _reopened = new();
    private readonly Dictionary<SyntaxNode, List<RangeClose>> _closes = new();
    private readonly Dictionary<SyntaxNode, RangeFieldWrite> _fieldWrites = new();
    private readonly Dictionary<SyntaxNode, (IOperation Operation, List<LockFact> Locks)> _locked = new();
    private readonly Dictionary<SyntaxNode, List<RangeFact>> _openRanges = new();
    private readonly Dictionary<SyntaxNode, NotifyCall> _notifications = new();

    internal FlowResult(bool complete)
    {
        Complete = complete;
    }

    /// <summary>False when the analysis gave up (budget): rules then report nothing.</summary>
    public bool Complete { get; private set; }

    /// <summary>Starts whose range is still open when some path leaves the method (first such exit).</summary>
    public IEnumerable<RangeLeak> LeakedRanges => Complete ? _leaks.Values : Enumerable.Empty<RangeLeak>();

    /// <summary>End calls reached on some path with no start open on their mm, with the mm as written.</summary>
    public IEnumerable<KeyValuePair<SyntaxNode, string>> UnmatchedEnds =>
        Complete ? _unmatchedEnds : Enumerable.Empty<KeyValuePair<SyntaxNode, string>>();

    /// <summary>Starts reached while a range on the same mm is still open; the value is that open range.</summary>
    public IEnumerable<KeyValuePair<SyntaxNode, RangeFact>> ReopenedStarts =>
        Complete ? _reopened : Enumerable.Empty<KeyValuePair<SyntaxNode, RangeFact>>();

    /// <summary>Each end call with the start(s) it closes on some path.</summary>
    public IEnumerable<RangeClose> Closes => Complete ? _closes.Values.SelectMany(l => l) : Enumerable.Empty<RangeClose>();

    /// <summary>Writes to fields of an open 4.20 <c>mmu_notifier_range</c>.</summary>
    public IEnumerable<RangeFieldWrite> RangeFieldWrites => Complete ? _fieldWrites.Values : Enumerable.Empty<RangeFieldWrite>();

    /// <summary>Calls, object creations, property reads and awaits reached with a spinlock held.</summary>
    public IEnumerable<LockedOperation> LockedOperations =>
        Complete
            ? _locked.Values.Select(v => new LockedOperation(v.Operation, v.Locks.ToImmutableArray()))
            : Enumerable.Empty<LockedOperation>();

    /// <summary>Spinlocks held (on some path) when the operation with this syntax runs.</summary>
    public ImmutableArray<LockFact> LocksHeldAt(SyntaxNode operation) =>
        Complete && _locked.TryGetValue(operation, out var v) ? v.Locks.ToImmutableArray() : ImmutableArray<LockFact>.Empty;

    /// <summary>Ranges open (on some path) when the call with this syntax runs, with their argument values.</summary>
    public ImmutableArray<RangeFact> OpenRangesAt(SyntaxNode call) =>
        Complete && _openRanges.TryGetValue(call, out var v) ? v.ToImmutableArray() : ImmutableArray<RangeFact>.Empty;

    /// <summary>Every notification call reached on some path, with each path's open ranges.</summary>
    public IEnumerable<NotifyCall> Notifications => Complete ? _notifications.Values : Enumerable.Empty<NotifyCall>();

    internal void GiveUp() => Complete = false;

    internal void AddNotifyPath(IOperation call, NotifyKind kind, NotifyPath path)
    {
        if (!_notifications.TryGetValue(call.Syntax, out var entry))
        {
            entry = new NotifyCall(call, kind);
            _notifications.Add(call.Syntax, entry);
        }

        if (!entry.Paths.Contains(path))
        {
            entry.Paths.Add(path);
        }
    }

    internal void AddLeak(RangeFact range, ExitPath exit)
    {
        if (!_leaks.ContainsKey(range.Start))
        {
            _leaks.Add(range.Start, new RangeLeak(range, exit));
        }
    }

    internal void AddUnmatchedEnd(SyntaxNode end, string mm)
    {
        if (!_unmatchedEnds.ContainsKey(end))
        {
            _unmatchedEnds.Add(end, mm);
        }
    }

    internal void AddReopened(SyntaxNode start, RangeFact open)
    {
        if (!_reopened.ContainsKey(start))
        {
            _reopened.Add(start, open);
        }
    }

    internal void AddClose(RangeClose close)
    {
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
        if (!_fieldWrites.ContainsKey(write.Write))
        {
            _fieldWrites.Add(write.Write, write);
        }
    }

    internal void AddLocked(IOperation operation, ImmutableArray<LockFact> locks)
    {
        if (!_locked.TryGetValue(operation.Syntax, out var entry))
        {
            entry = (operation, new List<LockFact>());
            _locked.Add(operation.Syntax, entry);
        }

        foreach (var l in locks)
        {
            if (!entry.Locks.Any(x => x.Key.Equals(l.Key) && x.AcquiredAt == l.AcquiredAt))
            {
                entry.Locks.Add(l);
            }
        }
    }

    internal void AddOpenRanges(SyntaxNode call, ImmutableArray<RangeFact> ranges)
    {
        if (!_openRanges.TryGetValue(call, out var list))
        {
            list = new List<RangeFact>();
            _openRanges.Add(call, list);
        }

        foreach (var r in ranges)
        {
            if (!list.Contains(r))
            {
                list.Add(r);
            }
        }
    }
}
