using System;
using System.Collections.Generic;
using System.Threading;

namespace Kernel.Mm;

/// <summary>
/// <c>struct mm_struct</c>: an address space: its vmas, its page tables (pgd → pud → pmd → pte,
/// each table a real page), the locks that guard them, its registered MMU notifiers and the
/// invalidation accounting the runtime checks use.
/// </summary>
public sealed class mm_struct
{
    private static int s_nextId;

    internal readonly int id;
    internal pt_table? pgd;
    internal readonly List<vm_area_struct> mmap = new();     // sorted by vm_start; guarded by itself
    internal int mm_users = 1;
    internal int mm_count = 1;
    internal bool torn_down;

    // MMU notifiers (the kernel's subscriptions->list): an RCU hlist, newest first, walked under
    // srcu, linked and unlinked in O(1) under notifier_lock.
    internal readonly object notifier_lock = new();
    internal readonly hlist_head notifier_list = new();
    internal readonly srcu_struct srcu = new();
    internal mmu_notifier_subscriptions? subscriptions;

    // Invalidation accounting (runtime twins of MMU002/003/006/009/010); guarded by InvalidationTwin.Lock.
    internal readonly List<OpenInvalidation> open_ranges = new();
    internal readonly List<pte_clear_record> pending_clears = new();

    // THP: page tables deposited for a later split (pgtable_trans_huge_deposit).
    internal readonly Stack<page> pmd_huge_pte = new();

    internal long invalidate_range_start_calls;
    internal long invalidate_range_end_calls;
    internal long invalidate_range_calls;
    internal long tlb_flushes;

    internal mm_struct()
    {
        id = Interlocked.Increment(ref s_nextId);
        page_table_lock = new spinlock_t($"mm#{id}->page_table_lock");
        mmap_sem = new rw_semaphore($"mm#{id}->mmap_sem");
    }

    /// <summary>Protects the upper page-table levels and huge PMDs (and, with split PTE locks off,
    /// everything).</summary>
    public readonly spinlock_t page_table_lock;

    /// <summary>The mmap semaphore (<c>mmap_lock</c> since 5.8).</summary>
    public readonly rw_semaphore mmap_sem;

    /// <summary>The 5.8 name of <see cref="mmap_sem"/>.</summary>
    public rw_semaphore mmap_lock => mmap_sem;

    /// <summary>Raised after every notifier saw <c>invalidate_range_end</c> (and after
    /// <c>mmu_notifier_invalidate_range</c> and <c>mmu_notifier_invalidate_page</c>), with the
    /// range: coherence checkers hook here.</summary>
    public event Action<mm_struct, ulong, ulong>? InvalidationEnded;

    /// <summary>A snapshot of the registered notifiers, newest first.</summary>
    public IReadOnlyList<mmu_notifier> Notifiers
    {
        get
        {
            var list = new List<mmu_notifier>();
            lock (notifier_lock)
            {
                for (var mn = notifier_list.first; mn is not null; mn = mn.hlist_next)
                {
                    list.Add(mn);
                }
            }

            return list.AsReadOnly();
        }
    }

    /// <summary>A snapshot of the vmas, in address order.</summary>
    public IReadOnlyList<vm_area_struct> Vmas
    {
        get
        {
            lock (mmap)
            {
                return mmap.ToArray();
            }
        }
    }

    /// <summary><c>mm_users</c>.</summary>
    public int Users => Volatile.Read(ref mm_users);

    /// <summary>Calls of <c>mmu_notifier_invalidate_range_start</c> (both forms) on this mm.</summary>
    public long InvalidateRangeStartCalls => Interlocked.Read(ref invalidate_range_start_calls);

    /// <summary>Calls of <c>mmu_notifier_invalidate_range_end</c> (both forms) on this mm.</summary>
    public long InvalidateRangeEndCalls => Interlocked.Read(ref invalidate_range_end_calls);

    /// <summary>Calls of <c>mmu_notifier_invalidate_range</c> (explicit and from clear_flush_notify).</summary>
    public long InvalidateRangeCalls => Interlocked.Read(ref invalidate_range_calls);

    /// <summary>TLB flushes requested on this mm.</summary>
    public long TlbFlushes => Interlocked.Read(ref tlb_flushes);

    /// <summary>Invalidation ranges currently open (started, not ended) on this mm, any thread.</summary>
    public int OpenInvalidations
    {
        get
        {
            lock (InvalidationTwin.Lock)
            {
                return open_ranges.Count;
            }
        }
    }

    internal void raise_invalidation_ended(ulong start, ulong end) => InvalidationEnded?.Invoke(this, start, end);

    public override string ToString() => $"mm#{id}";
}
