using System;
using System.Threading;

namespace Kernel.Mm;

/// <summary>
/// <c>spinlock_t</c>: a real, owner-tracked lock. Taking it enters atomic context on the current
/// thread (nothing may sleep until it is released); contention really spins.
/// </summary>
public sealed class spinlock_t
{
    internal int owner;            // managed thread id of the holder, 0 when free
    internal string? site;         // function that took it, when MmRuntime.TrackLockSites

    public spinlock_t()
        : this("spinlock")
    {
    }

    public spinlock_t(string name)
    {
        this.name = name ?? throw new ArgumentNullException(nameof(name));
    }

    /// <summary>The lock's name in reports (<c>mm->page_table_lock</c>, <c>ptl</c>, ...).</summary>
    public string name { get; }

    /// <summary>True when the current thread holds the lock.</summary>
    public bool IsHeldByCurrentThread => Volatile.Read(ref owner) == Environment.CurrentManagedThreadId;

    public override string ToString() => name;
}
