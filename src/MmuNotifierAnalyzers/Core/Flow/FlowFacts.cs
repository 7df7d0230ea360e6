using System;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>How a lock's hold depends on the value its acquiring call returned. The values are
/// the annotations' <c>LockAcquisition</c> (Always, WhenReturnNotNull, WhenReturnTrue), which
/// reaches the analyzer as an integer.</summary>
internal enum LockCondition
{
    None = 0,
    WhenNotNull = 1,
    WhenTrue = 2,
}

/// <summary>A local (or parameter) passed to start that was written before the end: the local and the write.</summary>
internal readonly struct ArgumentWrite : IEquatable<ArgumentWrite>
{
    public ArgumentWrite(ISymbol variable, SyntaxNode write)
    {
        Variable = variable;
        Write = write;
    }

    public ISymbol Variable { get; }

    public SyntaxNode Write { get; }

    public bool Equals(ArgumentWrite other) =>
        SymbolEqualityComparer.Default.Equals(Variable, other.Variable) && Write == other.Write;

    public override bool Equals(object? obj) => obj is ArgumentWrite w && Equals(w);

    public override int GetHashCode() => Write.GetHashCode();
}

/// <summary>
/// An invalidation range opened by a start (or an annotated opener) and not yet closed.
/// <see cref="Key"/> is the mm value (classic form) or the <c>mmu_notifier_range</c> object (4.20 form).
/// </summary>
internal sealed class RangeFact : IEquatable<RangeFact>, IUncertainFact<RangeFact>
{
    public RangeFact(
        Value key,
        bool isRangeObject,
        SyntaxNode start,
        Value? startValue,
        Value? endValue,
        ImmutableArray<ISymbol> watched,
        ImmutableArray<ArgumentWrite> writes,
        Certainty certainty,
        string keyDisplay,
        string? startDisplay = null,
        string? endDisplay = null,
        Value? openWhenZero = null)
    {
        OpenWhenZero = openWhenZero;
        KeyDisplay = keyDisplay;
        StartDisplay = startDisplay;
        EndDisplay = endDisplay;
        Key = key;
        IsRangeObject = isRangeObject;
        Start = start;
        StartValue = startValue;
        EndValue = endValue;
        Watched = watched;
        Writes = writes;
        Certainty = certainty;
    }

    public Value Key { get; }

    /// <summary>The mm (or range object) argument as written at the start.</summary>
    public string KeyDisplay { get; }

    /// <summary>For an opener that reports failure (<c>_nonblock</c> returns -EAGAIN): the returned
    /// value; the range is open only on the paths where it is zero. Null once known (or always open).</summary>
    public Value? OpenWhenZero { get; }

    /// <summary>Start's <c>start</c> argument as written.</summary>
    public string? StartDisplay { get; }

    /// <summary>Start's <c>end</c> argument as written.</summary>
    public string? EndDisplay { get; }

    public bool IsRangeObject { get; }

    /// <summary>The start call (its syntax; stable across the CFG's copies of the operation).</summary>
    public SyntaxNode Start { get; }

    /// <summary>The value of start's <c>start</c> argument (null in the 4.20 form).</summary>
    public Value? StartValue { get; }

    /// <summary>The value of start's <c>end</c> argument (null in the 4.20 form).</summary>
    public Value? EndValue { get; }

    /// <summary>Locals and parameters read by start's arguments (a write to one before the end is MMU003).</summary>
    public ImmutableArray<ISymbol> Watched { get; }

    /// <summary>Writes to <see cref="Watched"/> variables seen since the start.</summary>
    public ImmutableArray<ArgumentWrite> Writes { get; }

    public Certainty Certainty { get; }

    public RangeFact WithWrite(ArgumentWrite write) =>
        Writes.Contains(write) ? this : new RangeFact(Key, IsRangeObject, Start, StartValue, EndValue, Watched, Writes.Add(write), Certainty, KeyDisplay, StartDisplay, EndDisplay, OpenWhenZero);

    public RangeFact WithCertainty(Certainty certainty) =>
        certainty == Certainty ? this : new RangeFact(Key, IsRangeObject, Start, StartValue, EndValue, Watched, Writes, certainty, KeyDisplay, StartDisplay, EndDisplay, OpenWhenZero);

    public RangeFact Unconditional() =>
        new(Key, IsRangeObject, Start, StartValue, EndValue, Watched, Writes, Certainty, KeyDisplay, StartDisplay, EndDisplay);

    public bool Equals(RangeFact? other) =>
        other is not null
        && Start == other.Start
        && Certainty == other.Certainty
        && Key.Equals(other.Key)
        && Equals(StartValue, other.StartValue)
        && Equals(EndValue, other.EndValue)
        && Equals(OpenWhenZero, other.OpenWhenZero)
        && Writes.Length == other.Writes.Length
        && SetEquals(Writes, other.Writes);

    public override bool Equals(object? obj) => Equals(obj as RangeFact);

    public override int GetHashCode() => unchecked((Start.GetHashCode() * 31) + Key.GetHashCode());

    private static bool SetEquals(ImmutableArray<ArgumentWrite> a, ImmutableArray<ArgumentWrite> b)
    {
        foreach (var w in a)
        {
            if (!b.Contains(w))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>A spinlock held on the path: its identity (the symbolic value of the lock expression),
/// where it was taken, and, for conditional acquisitions, the value the hold depends on.</summary>
internal sealed class LockFact : IEquatable<LockFact>, IUncertainFact<LockFact>
{
    public LockFact(Value key, SyntaxNode? acquiredAt, string display, LockCondition condition, Value? conditionValue, Certainty certainty)
    {
        Key = key;
        AcquiredAt = acquiredAt;
        Display = display;
        Condition = condition;
        ConditionValue = conditionValue;
        Certainty = certainty;
    }

    public Value Key { get; }

    /// <summary>The acquiring call, or null when the method is entered with the lock held ([MustHoldLock]).</summary>
    public SyntaxNode? AcquiredAt { get; }

    /// <summary>The lock as written at the acquisition (<c>mm.page_table_lock</c>, <c>ptl</c>).</summary>
    public string Display { get; }

    public LockCondition Condition { get; }

    public Value? ConditionValue { get; }

    public Certainty Certainty { get; }

    public LockFact Unconditional() => new(Key, AcquiredAt, Display, LockCondition.None, null, Certainty);

    public LockFact WithCertainty(Certainty certainty) =>
        certainty == Certainty ? this : new LockFact(Key, AcquiredAt, Display, Condition, ConditionValue, certainty);

    public bool Equals(LockFact? other) =>
        other is not null
        && AcquiredAt == other.AcquiredAt
        && Condition == other.Condition
        && Certainty == other.Certainty
        && Key.Equals(other.Key)
        && Equals(ConditionValue, other.ConditionValue);

    public override bool Equals(object? obj) => Equals(obj as LockFact);

    public override int GetHashCode() => Key.GetHashCode();
}

/// <summary>
/// A page-table entry cleared on the path (<c>ptep_clear_flush</c> and friends) whose range no
/// invalidation has covered yet, and the first page release that ran while it was pending.
/// </summary>
internal sealed class ClearedEntry : IEquatable<ClearedEntry>, IUncertainFact<ClearedEntry>
{
    public ClearedEntry(SyntaxNode clear, Value? start, Value? end, SyntaxNode? releasedAt, Certainty certainty)
    {
        Clear = clear;
        Start = start;
        End = end;
        ReleasedAt = releasedAt;
        Certainty = certainty;
    }

    /// <summary>The clearing call.</summary>
    public SyntaxNode Clear { get; }

    /// <summary>The first address the entry mapped.</summary>
    public Value? Start { get; }

    /// <summary>The end of what the entry mapped (start + PAGE_SIZE, or + HPAGE_PMD_SIZE for a pmd).</summary>
    public Value? End { get; }

    /// <summary>A <c>put_page</c> / <c>page_cache_release</c> that ran while the entry was pending.</summary>
    public SyntaxNode? ReleasedAt { get; }

    public Certainty Certainty { get; }

    public ClearedEntry Released(SyntaxNode release) =>
        ReleasedAt is not null ? this : new ClearedEntry(Clear, Start, End, release, Certainty);

    public ClearedEntry WithCertainty(Certainty certainty) =>
        certainty == Certainty ? this : new ClearedEntry(Clear, Start, End, ReleasedAt, certainty);

    public bool Equals(ClearedEntry? other) =>
        other is not null && Clear == other.Clear && ReleasedAt == other.ReleasedAt && Certainty == other.Certainty
        && Equals(Start, other.Start) && Equals(End, other.End);

    public override bool Equals(object? obj) => Equals(obj as ClearedEntry);

    public override int GetHashCode() => Clear.GetHashCode();
}

/// <summary>Where a sequence read stands on a path (MMU012).</summary>
internal enum SequenceState
{
    /// <summary>Read; no retry check has run since.</summary>
    Unchecked,

    /// <summary>A retry check ran, and the path has not branched on its result.</summary>
    Checked,

    /// <summary>The path took the check's "still valid" outcome.</summary>
    Validated,

    /// <summary>The path took the check's "retry" outcome.</summary>
    Retry,
}

/// <summary>
/// A sequence read on the path (<c>mmu_interval_read_begin</c>, a <c>[SequenceRead]</c> method,
/// field or property), what has checked it since, under which locks, and the page lookups around it.
/// </summary>
internal sealed class SequenceFact : IEquatable<SequenceFact>, IUncertainFact<SequenceFact>
{
    public SequenceFact(
        SyntaxNode read,
        Value? value,
        SyntaxNode? lookupBefore,
        SequenceState state,
        SyntaxNode? check,
        Value? checkResult,
        bool checkTrueWhenValid,
        ImmutableArray<LockFact> locksAtCheck,
        SyntaxNode? droppedAt,
        string? droppedDisplay,
        Certainty certainty)
    {
        Read = read;
        Value = value;
        LookupBefore = lookupBefore;
        State = state;
        Check = check;
        CheckResult = checkResult;
        CheckTrueWhenValid = checkTrueWhenValid;
        LocksAtCheck = locksAtCheck;
        DroppedAt = droppedAt;
        DroppedDisplay = droppedDisplay;
        Certainty = certainty;
    }

    /// <summary>The read (a call, or a field or property reference).</summary>
    public SyntaxNode Read { get; }

    /// <summary>The value read: what a retry check is passed.</summary>
    public Value? Value { get; }

    /// <summary>A lookup the path made before the read, under no lock still held at the read, or null.</summary>
    public SyntaxNode? LookupBefore { get; }

    public SequenceState State { get; }

    /// <summary>The latest retry check of this sequence on the path.</summary>
    public SyntaxNode? Check { get; }

    /// <summary>The check's result, while the path has not branched on it.</summary>
    public Value? CheckResult { get; }

    /// <summary>The check returns true when the sequence is valid (<c>hmm_range_valid</c>), not when to retry.</summary>
    public bool CheckTrueWhenValid { get; }

    /// <summary>The locks held at the check and not released since.</summary>
    public ImmutableArray<LockFact> LocksAtCheck { get; }

    /// <summary>The release of the last lock held at the check, or null.</summary>
    public SyntaxNode? DroppedAt { get; }

    /// <summary>That lock as written.</summary>
    public string? DroppedDisplay { get; }

    public Certainty Certainty { get; }

    public SequenceFact Checked(SyntaxNode check, Value result, bool trueWhenValid, ImmutableArray<LockFact> locks) =>
        new(Read, Value, LookupBefore, SequenceState.Checked, check, result, trueWhenValid, locks, null, null, Certainty);

    /// <summary>The path branched on the check's result: <paramref name="valid"/> or not.</summary>
    public SequenceFact Resolved(bool valid) =>
        new(Read, Value, LookupBefore, valid ? SequenceState.Validated : SequenceState.Retry, Check, null, CheckTrueWhenValid, LocksAtCheck, DroppedAt, DroppedDisplay, Certainty);

    /// <summary>A lock held at the check was released at <paramref name="release"/>.</summary>
    public SequenceFact Released(Value key, SyntaxNode release)
    {
        var remaining = LocksAtCheck.RemoveAll(l => l.Key.Equals(key));
        if (remaining.Length == LocksAtCheck.Length)
        {
            return this;
        }

        var dropped = LocksAtCheck.First(l => l.Key.Equals(key));
        return remaining.IsEmpty
            ? new(Read, Value, LookupBefore, State, Check, CheckResult, CheckTrueWhenValid, remaining, release, dropped.Display, Certainty)
            : With(locksAtCheck: remaining);
    }

    public SequenceFact WithCertainty(Certainty certainty) =>
        certainty == Certainty ? this : With(certainty: certainty);

    private SequenceFact With(ImmutableArray<LockFact>? locksAtCheck = null, Certainty? certainty = null) =>
        new(Read, Value, LookupBefore, State, Check, CheckResult, CheckTrueWhenValid, locksAtCheck ?? LocksAtCheck, DroppedAt, DroppedDisplay, certainty ?? Certainty);

    public bool Equals(SequenceFact? other) =>
        other is not null
        && Read == other.Read
        && State == other.State
        && Check == other.Check
        && LookupBefore == other.LookupBefore
        && DroppedAt == other.DroppedAt
        && Certainty == other.Certainty
        && CheckTrueWhenValid == other.CheckTrueWhenValid
        && Equals(Value, other.Value)
        && Equals(CheckResult, other.CheckResult)
        && LocksAtCheck.Length == other.LocksAtCheck.Length
        && LocksAtCheck.All(other.LocksAtCheck.Contains);

    public override bool Equals(object? obj) => Equals(obj as SequenceFact);

    public override int GetHashCode() => unchecked((Read.GetHashCode() * 31) + (int)State);
}

/// <summary>A lookup (<c>[LooksUpPages]</c>: <c>hmm_range_fault</c>, <c>get_user_pages</c>, a VMA
/// lookup) made on the path, whether a sequence had been read before it, and the locks held at it.</summary>
internal sealed class LookupFact : IEquatable<LookupFact>, IUncertainFact<LookupFact>
{
    public LookupFact(SyntaxNode call, bool afterRead, ImmutableArray<LockFact> locks, Certainty certainty)
    {
        Call = call;
        AfterRead = afterRead;
        Locks = locks;
        Certainty = certainty;
    }

    public SyntaxNode Call { get; }

    /// <summary>A sequence read was on the path at the lookup (a retry loop's earlier turn).</summary>
    public bool AfterRead { get; }

    /// <summary>The locks (of every kind) held at the lookup.</summary>
    public ImmutableArray<LockFact> Locks { get; }

    public Certainty Certainty { get; }

    public LookupFact WithCertainty(Certainty certainty) => certainty == Certainty ? this : new LookupFact(Call, AfterRead, Locks, certainty);

    public bool Equals(LookupFact? other) =>
        other is not null && Call == other.Call && AfterRead == other.AfterRead && Certainty == other.Certainty
        && Locks.Length == other.Locks.Length && Locks.All(other.Locks.Contains);

    public override bool Equals(object? obj) => Equals(obj as LookupFact);

    public override int GetHashCode() => Call.GetHashCode();
}

/// <summary>An <c>mmu_interval_set_seq</c> made on the path (an interval notifier's <c>-&gt;invalidate</c>).</summary>
internal sealed class SequenceSetFact : IEquatable<SequenceSetFact>, IUncertainFact<SequenceSetFact>
{
    public SequenceSetFact(SyntaxNode call, Certainty certainty)
    {
        Call = call;
        Certainty = certainty;
    }

    public SyntaxNode Call { get; }

    public Certainty Certainty { get; }

    public SequenceSetFact WithCertainty(Certainty certainty) => certainty == Certainty ? this : new SequenceSetFact(Call, certainty);

    public bool Equals(SequenceSetFact? other) => other is not null && Call == other.Call && Certainty == other.Certainty;

    public override bool Equals(object? obj) => Equals(obj as SequenceSetFact);

    public override int GetHashCode() => Call.GetHashCode();
}

/// <summary>A non-blocking start that returned non-zero on the path: the range it would have opened
/// on <see cref="Key"/> (the <c>mmu_notifier_range</c>) was refused.</summary>
internal sealed class RefusedRange : IEquatable<RefusedRange>, IUncertainFact<RefusedRange>
{
    public RefusedRange(Value key, SyntaxNode start, string keyDisplay, Certainty certainty)
    {
        Key = key;
        Start = start;
        KeyDisplay = keyDisplay;
        Certainty = certainty;
    }

    public Value Key { get; }

    /// <summary>The refused <c>_nonblock</c> call.</summary>
    public SyntaxNode Start { get; }

    /// <summary>The range argument as written at the start.</summary>
    public string KeyDisplay { get; }

    public Certainty Certainty { get; }

    public RefusedRange WithCertainty(Certainty certainty) =>
        certainty == Certainty ? this : new RefusedRange(Key, Start, KeyDisplay, certainty);

    public bool Equals(RefusedRange? other) =>
        other is not null && Start == other.Start && Certainty == other.Certainty && Key.Equals(other.Key);

    public override bool Equals(object? obj) => Equals(obj as RefusedRange);

    public override int GetHashCode() => Start.GetHashCode();
}

/// <summary>A <c>mmu_notifier_range</c> parameter of the method (or a <c>bool</c> parameter its caller
/// passes <c>mmu_notifier_range_blockable(range)</c> to) that the path has not proven blockable: the
/// method was entered with it, and no test of it has been taken true since.</summary>
internal sealed class UnprovenBlockable : IEquatable<UnprovenBlockable>, IUncertainFact<UnprovenBlockable>
{
    public UnprovenBlockable(Value range, IParameterSymbol parameter, Certainty certainty)
    {
        Range = range;
        Parameter = parameter;
        Certainty = certainty;
    }

    public Value Range { get; }

    public IParameterSymbol Parameter { get; }

    public Certainty Certainty { get; }

    public UnprovenBlockable WithCertainty(Certainty certainty) =>
        certainty == Certainty ? this : new UnprovenBlockable(Range, Parameter, certainty);

    public bool Equals(UnprovenBlockable? other) =>
        other is not null && Certainty == other.Certainty && Range.Equals(other.Range);

    public override bool Equals(object? obj) => Equals(obj as UnprovenBlockable);

    public override int GetHashCode() => Range.GetHashCode();
}
