using System;
using System.Runtime.CompilerServices;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/spinlock.h, include/linux/preempt.h
public static partial class Linux
{
    /// <summary>Takes <paramref name="lock"/>, spinning while another thread holds it, and enters
    /// atomic context: nothing may sleep until <see cref="spin_unlock"/>.</summary>
    [NeverSleeps]
    [AcquiresLock("lock")]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void spin_lock(spinlock_t @lock)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        string? site = MmRuntime.ShouldTrackLockSites ? CallerSite() : null;
        int me = Environment.CurrentManagedThreadId;
        if (Volatile.Read(ref @lock.owner) == me)
        {
            throw new InvalidOperationException(
                $"spin_lock: recursive locking of spinlock '{@lock.name}' (already held by this thread, taken in {@lock.site ?? "?"}): this deadlocks");
        }

        var state = AtomicContext.State;
        state.PreemptCount++;
        if (Interlocked.CompareExchange(ref @lock.owner, me, 0) != 0)
        {
            var spin = new SpinWait();
            while (Interlocked.CompareExchange(ref @lock.owner, me, 0) != 0)
            {
                spin.SpinOnce();
            }
        }

        state.PreemptCount--;
        @lock.site = site;
        state.HeldSpinlocks.Add(new AtomicContext.HeldLock(@lock, site));
    }

    /// <summary>Takes <paramref name="lock"/> if it is free; returns true (lock held) or false.</summary>
    [NeverSleeps]
    [AcquiresLock("lock", When = LockAcquisition.WhenReturnTrue)]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static bool spin_trylock(spinlock_t @lock)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        int me = Environment.CurrentManagedThreadId;
        if (Interlocked.CompareExchange(ref @lock.owner, me, 0) != 0)
        {
            return false;
        }

        string? site = MmRuntime.ShouldTrackLockSites ? CallerSite() : null;
        @lock.site = site;
        AtomicContext.State.HeldSpinlocks.Add(new AtomicContext.HeldLock(@lock, site));
        return true;
    }

    /// <summary>Releases <paramref name="lock"/>, held by the current thread, and leaves its atomic
    /// context. Unlocking a lock this thread does not hold throws.</summary>
    [NeverSleeps]
    [ReleasesLock("lock")]
    public static void spin_unlock(spinlock_t @lock)
    {
        release_spinlock(@lock, nameof(spin_unlock));
        MmRuntime.PreemptionPoint(nameof(spin_unlock));
    }

    /// <summary>True when some thread holds <paramref name="lock"/>.</summary>
    [NeverSleeps]
    public static bool spin_is_locked(spinlock_t @lock)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        return Volatile.Read(ref @lock.owner) != 0;
    }

    /// <summary>lockdep_assert_held: throws unless the current thread holds <paramref name="lock"/>.</summary>
    [NeverSleeps]
    public static void assert_spin_locked(spinlock_t @lock)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        if (!@lock.IsHeldByCurrentThread)
        {
            throw new InvalidOperationException($"assert_spin_locked: spinlock '{@lock.name}' is not held by this thread");
        }
    }

    /// <summary>Disables preemption: the current thread is in atomic context until
    /// <see cref="preempt_enable"/>.</summary>
    [NeverSleeps]
    public static void preempt_disable() => AtomicContext.State.PreemptCount++;

    [NeverSleeps]
    public static void preempt_enable()
    {
        var state = AtomicContext.State;
        if (state.PreemptCount == 0)
        {
            throw new InvalidOperationException("preempt_enable: preempt_count is already 0 (unbalanced preempt_enable)");
        }

        state.PreemptCount--;
    }

    /// <summary>True in atomic context (a spinlock held, preemption disabled, an atomic callback).</summary>
    [NeverSleeps]
    public static bool in_atomic() => AtomicContext.InAtomic;

    /// <summary>rcu_read_lock (non-preemptible RCU): the read side runs with preemption disabled.</summary>
    [NeverSleeps]
    public static void rcu_read_lock() => preempt_disable();

    [NeverSleeps]
    public static void rcu_read_unlock() => preempt_enable();

    internal static void release_spinlock(spinlock_t @lock, string function)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        int me = Environment.CurrentManagedThreadId;
        int holder = Volatile.Read(ref @lock.owner);
        if (holder != me)
        {
            throw new InvalidOperationException(holder == 0
                ? $"{function}: spinlock '{@lock.name}' is not held (unlock of a lock not held)"
                : $"{function}: spinlock '{@lock.name}' is held by thread {holder}, not by the current thread {me}");
        }

        var held = AtomicContext.State.HeldSpinlocks;
        for (int i = held.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(held[i].Lock, @lock))
            {
                held.RemoveAt(i);
                break;
            }
        }

        @lock.site = null;
        Volatile.Write(ref @lock.owner, 0);
    }

    /// <summary>The method that called the public lock function (naming the runtime helper too, as
    /// in "pte_offset_map_lock &lt;- try_to_unmap_one"). Walks only the few frames it needs.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string? CallerSite()
    {
        // frame 0: CallerSite, 1: spin_lock/spin_trylock, 2: their caller
        var method = new System.Diagnostics.StackFrame(2, false).GetMethod();
        if (method is null)
        {
            return null;
        }

        if (method.DeclaringType == typeof(Linux))
        {
            for (int i = 3; i < 8; i++)
            {
                var outer = new System.Diagnostics.StackFrame(i, false).GetMethod();
                if (outer is null)
                {
                    break;
                }

                if (outer.DeclaringType != typeof(Linux))
                {
                    return method.Name + " <- " + Describe(outer);
                }
            }

            return method.Name;
        }

        return Describe(method);
    }

    private static string Describe(System.Reflection.MethodBase method) => AtomicContext.Describe(method);
}
