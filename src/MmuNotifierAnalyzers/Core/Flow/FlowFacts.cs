using System;
using System.Collections.Immutable;
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
