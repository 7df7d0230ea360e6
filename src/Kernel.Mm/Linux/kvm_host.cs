using System;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

/// <summary>
/// The part of <c>struct kvm</c> (include/linux/kvm_host.h, 2.6.27 to 5.x) that the secondary-MMU
/// sequence protocol uses: <c>mmu_lock</c>, and the <c>mmu_notifier_seq</c> /
/// <c>mmu_notifier_count</c> pair the notifier's start/end maintain under it. A KVM port's fault
/// path reads <see cref="mmu_notifier_seq"/> before it looks the page up and, under
/// <see cref="mmu_lock"/>, installs only if <see cref="Linux.mmu_notifier_retry"/> returns 0.
/// </summary>
public sealed class kvm
{
    /// <summary>kvm->mmu_lock: protects the shadow / stage-2 page tables and the two counters.</summary>
    public readonly spinlock_t mmu_lock = new("kvm->mmu_lock");

    /// <summary>kvm->mmu_notifier_seq: bumped by every invalidate_range_end, under mmu_lock. The
    /// fault path reads it without the lock (then smp_rmb) before looking the page up.</summary>
    [SequenceRead]
    public long mmu_notifier_seq;

    /// <summary>kvm->mmu_notifier_count: invalidations started and not yet ended, under mmu_lock.</summary>
    public long mmu_notifier_count;
}

// include/linux/kvm_host.h
public static partial class Linux
{
    /// <summary>
    /// mmu_notifier_retry(): 1 when an invalidation is running or one ended since
    /// <paramref name="mmu_seq"/> was read from <c>kvm->mmu_notifier_seq</c> (the fault must not
    /// install what it looked up), else 0. Call it with <c>kvm->mmu_lock</c> held.
    /// </summary>
    [NeverSleeps]
    [SequenceRetryCheck]
    public static int mmu_notifier_retry(kvm kvm, long mmu_seq)
    {
        ArgumentNullException.ThrowIfNull(kvm);
        if (Volatile.Read(ref kvm.mmu_notifier_count) != 0)
        {
            return 1;
        }

        // smp_rmb(): the count is read before the sequence, pairing with invalidate_range_end's
        // smp_wmb() between the sequence increment and the count decrement.
        Interlocked.MemoryBarrier();
        return Volatile.Read(ref kvm.mmu_notifier_seq) != mmu_seq ? 1 : 0;
    }
}
