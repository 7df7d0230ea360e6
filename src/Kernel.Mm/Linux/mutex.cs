using System;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/mutex.h
public static partial class Linux
{
    /// <summary>Takes <paramref name="lock"/>, sleeping while another thread holds it.</summary>
    [MaySleep]
    public static void mutex_lock(mutex @lock)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        might_sleep_in(nameof(mutex_lock));
        int me = Environment.CurrentManagedThreadId;
        lock (@lock.gate)
        {
            if (@lock.owner == me)
            {
                throw new InvalidOperationException($"mutex_lock: recursive locking of mutex '{@lock.name}' by the thread that holds it: this deadlocks");
            }

            while (@lock.owner != 0)
            {
                Monitor.Wait(@lock.gate);
            }

            @lock.owner = me;
        }
    }

    /// <summary>Takes <paramref name="lock"/> if free; never sleeps.</summary>
    [NeverSleeps]
    public static bool mutex_trylock(mutex @lock)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        lock (@lock.gate)
        {
            if (@lock.owner != 0)
            {
                return false;
            }

            @lock.owner = Environment.CurrentManagedThreadId;
            return true;
        }
    }

    /// <summary>Releases <paramref name="lock"/>; it must be held by the current thread. Never sleeps.</summary>
    [NeverSleeps]
    public static void mutex_unlock(mutex @lock)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        int me = Environment.CurrentManagedThreadId;
        lock (@lock.gate)
        {
            if (@lock.owner != me)
            {
                throw new InvalidOperationException(@lock.owner == 0
                    ? $"mutex_unlock: mutex '{@lock.name}' is not locked"
                    : $"mutex_unlock: mutex '{@lock.name}' is held by thread {@lock.owner}, not by the current thread {me}");
            }

            @lock.owner = 0;
            Monitor.PulseAll(@lock.gate);
        }

        MmRuntime.PreemptionPoint(nameof(mutex_unlock));
    }

    [NeverSleeps]
    public static bool mutex_is_locked(mutex @lock)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        return Volatile.Read(ref @lock.owner) != 0;
    }
}
