using System;
using Microsoft.CodeAnalysis;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>How an <c>rw_semaphore</c> is held.</summary>
internal enum SemaphoreMode
{
    Read,
    Write,

    /// <summary>Entered with it held (<c>[MustHoldLock]</c>), read or write not said.</summary>
    Unknown,
}

/// <summary>What a call does to an <c>rw_semaphore</c> (<c>down_read</c>, <c>up_write</c>, ...): by
/// symbol, for Kernel.Mm's rwsem functions.</summary>
internal enum SemaphoreOperation
{
    AcquireRead,
    AcquireWrite,
    Release,

    /// <summary><c>downgrade_write</c>: the write hold becomes a read hold.</summary>
    Downgrade,
}

/// <summary>An <c>rw_semaphore</c> effect of a call: what it does, to its parameter <see cref="Ordinal"/>,
/// and, for a trylock, that the hold depends on the returned value.</summary>
internal sealed class SemaphoreEffect
{
    public SemaphoreEffect(SemaphoreOperation operation, int ordinal, LockCondition condition)
    {
        Operation = operation;
        Ordinal = ordinal;
        Condition = condition;
    }

    public SemaphoreOperation Operation { get; }

    public int Ordinal { get; }

    public LockCondition Condition { get; }
}

/// <summary>The notifier registration calls MMU015 judges.</summary>
internal enum RegistrationKind
{
    /// <summary><c>mmu_notifier_register</c>: takes the mm's mmap_sem for write itself.</summary>
    Register,

    /// <summary><c>__mmu_notifier_register</c>: the caller holds the mm's mmap_sem for write.</summary>
    RegisterLocked,

    /// <summary><c>mmu_notifier_unregister</c>: waits for every SRCU reader (synchronize_srcu).</summary>
    Unregister,
}

/// <summary>
/// An <c>rw_semaphore</c> held on the path (mmap_sem above all): its identity (the symbolic value of
/// the semaphore expression, <c>mm.mmap_lock</c> read as <c>mm.mmap_sem</c>), where and how it was
/// taken, and, for a trylock, the value the hold depends on. Kept apart from the spinlocks of
/// <see cref="Domains.Locks"/>: sleeping under an rwsem is allowed.
/// </summary>
internal sealed class SemaphoreFact : IEquatable<SemaphoreFact>, IUncertainFact<SemaphoreFact>
{
    public SemaphoreFact(Value key, SyntaxNode? acquiredAt, string display, SemaphoreMode mode, LockCondition condition, Value? conditionValue, Certainty certainty)
    {
        Key = key;
        AcquiredAt = acquiredAt;
        Display = display;
        Mode = mode;
        Condition = condition;
        ConditionValue = conditionValue;
        Certainty = certainty;
    }

    public Value Key { get; }

    /// <summary>The acquiring call, or null when the method is entered with it held ([MustHoldLock]).</summary>
    public SyntaxNode? AcquiredAt { get; }

    /// <summary>The semaphore as written (<c>mm.mmap_sem</c>).</summary>
    public string Display { get; }

    public SemaphoreMode Mode { get; }

    public LockCondition Condition { get; }

    public Value? ConditionValue { get; }

    public Certainty Certainty { get; }

    public SemaphoreFact Unconditional() => new(Key, AcquiredAt, Display, Mode, LockCondition.None, null, Certainty);

    /// <summary>The hold as a lock of any kind: what the sequence protocol asks of its driver lock (MMU012).</summary>
    public LockFact AsLock() => new(Key, AcquiredAt, Display, Condition, ConditionValue, Certainty);

    public SemaphoreFact WithMode(SemaphoreMode mode) => new(Key, AcquiredAt, Display, mode, Condition, ConditionValue, Certainty);

    public SemaphoreFact WithCertainty(Certainty certainty) =>
        certainty == Certainty ? this : new SemaphoreFact(Key, AcquiredAt, Display, Mode, Condition, ConditionValue, certainty);

    public bool Equals(SemaphoreFact? other) =>
        other is not null
        && AcquiredAt == other.AcquiredAt
        && Mode == other.Mode
        && Condition == other.Condition
        && Certainty == other.Certainty
        && Key.Equals(other.Key)
        && Equals(ConditionValue, other.ConditionValue);

    public override bool Equals(object? obj) => Equals(obj as SemaphoreFact);

    public override int GetHashCode() => Key.GetHashCode();
}
