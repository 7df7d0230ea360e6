using System;
using System.Collections.Generic;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/mmu_notifier.h, mm/mmu_notifier.c
public static partial class Linux
{
    /// <summary>The range's callbacks may sleep (4.19+).</summary>
    public const uint MMU_NOTIFIER_RANGE_BLOCKABLE = 1u << 0;

    private const int EDEADLK = 35;

    // ---- registration ------------------------------------------------------------------------

    /// <summary>
    /// Registers <paramref name="mn"/> on <paramref name="mm"/>: from now on every invalidation of the
    /// mm reaches its callbacks. Takes mmap_sem for write, so it may sleep and must not be called
    /// with mmap_sem held. Safe while invalidations run on other threads (the notifier is linked at
    /// the head of an RCU list that they walk under SRCU), and O(1) in the notifiers already
    /// registered. Returns 0 (-EDEADLK, after the MMU015 report, when the caller holds mmap_sem:
    /// the kernel would hang).
    /// </summary>
    [MaySleep]
    public static int mmu_notifier_register(mmu_notifier mn, mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mn);
        ArgumentNullException.ThrowIfNull(mm);
        might_sleep_in(nameof(mmu_notifier_register));
        if (!RegistrationTwin.MayTakeMmapSem(mm, nameof(mmu_notifier_register)))
        {
            return -EDEADLK;
        }

        down_write(mm.mmap_sem);
        try
        {
            return __mmu_notifier_register(mn, mm);
        }
        finally
        {
            up_write(mm.mmap_sem);
        }
    }

    /// <summary><see cref="mmu_notifier_register"/> for a caller that already holds mmap_sem for write.
    /// The ops table is checked here (MMU001, MMU011), and the caller's lock (MMU015).</summary>
    [MaySleep]
    public static int __mmu_notifier_register(mmu_notifier mn, mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mn);
        ArgumentNullException.ThrowIfNull(mm);
        if (mn.ops is null)
        {
            throw new ArgumentException("mmu_notifier_register: mn.ops is null", nameof(mn));
        }

        if (Volatile.Read(ref mm.mm_users) <= 0)
        {
            throw new InvalidOperationException($"mmu_notifier_register: {mm} has no users (torn down)");
        }

        if ((mn.ops.invalidate_range_start is not null && mn.ops.invalidate_range_start_range is not null)
            || (mn.ops.invalidate_range_end is not null && mn.ops.invalidate_range_end_range is not null))
        {
            throw new ArgumentException($"mmu_notifier_register({mn.GetType().Name}): the ops table sets both forms of invalidate_range_start or of invalidate_range_end, (mn, mm, start, end) and (mn, range): set one", nameof(mn));
        }

        RegistrationTwin.AssertMmapSemWriteLocked(mm, nameof(__mmu_notifier_register));
        RegistrationTwin.Registering(mn, mm, nameof(mmu_notifier_register));

        lock (mm.notifier_lock)
        {
            if (mn.registered)
            {
                throw new InvalidOperationException($"mmu_notifier_register: the notifier is already registered on {mn.mm}");
            }

            mn.mm = mm;
            mn.registered = true;
            mn.released = false;
            mmgrab(mm);
            hlist_add_head_rcu(mn, mm.notifier_list);
        }

        return 0;
    }

    /// <summary>
    /// Unregisters <paramref name="mn"/>: calls its <c>-&gt;release</c> (unless <c>mmput</c> already
    /// did), unlinks it and waits (<c>synchronize_srcu</c>) until no callback of it is still running
    /// on another thread. May sleep; must not be called from a notifier callback (MMU015).
    /// </summary>
    [MaySleep]
    public static void mmu_notifier_unregister(mmu_notifier mn, mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mn);
        ArgumentNullException.ThrowIfNull(mm);
        might_sleep_in(nameof(mmu_notifier_unregister));
        if (!RegistrationTwin.MayUnregister(mn, mm, nameof(mmu_notifier_unregister)))
        {
            return;
        }

        if (!ReferenceEquals(mn.mm, mm) || !mn.registered)
        {
            throw new InvalidOperationException($"mmu_notifier_unregister: the notifier is not registered on {mm}");
        }

        bool call_release;
        lock (mm.notifier_lock)
        {
            call_release = !mn.released;
            mn.released = true;
        }

        if (call_release && mn.ops.release is { } release)
        {
            int id = srcu_read_lock(mm.srcu);
            try
            {
                release(mn, mm);
            }
            finally
            {
                srcu_read_unlock(mm.srcu, id);
            }
        }

        lock (mm.notifier_lock)
        {
            hlist_del_init_rcu(mn, mm.notifier_list);
            mn.registered = false;
        }

        // Wait for callbacks of this notifier running on other threads.
        synchronize_srcu(mm.srcu);
        mmdrop(mm);
    }

    /// <summary>exit_mmap's notifier teardown: <c>-&gt;release</c> of every notifier, then unlink them.</summary>
    internal static void mmu_notifier_release(mm_struct mm)
    {
        if (mm.subscriptions is { } subs)
        {
            mn_itree_release(subs, mm);
        }

        int id = srcu_read_lock(mm.srcu);
        try
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                bool call;
                lock (mm.notifier_lock)
                {
                    call = !mn.released;
                    mn.released = true;
                }

                if (call)
                {
                    mn.ops.release?.Invoke(mn, mm);
                }
            }

            lock (mm.notifier_lock)
            {
                while (mm.notifier_list.first is { } first)
                {
                    hlist_del_init_rcu(first, mm.notifier_list);
                }
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }

        synchronize_srcu(mm.srcu);
    }

    // ---- invalidation: caller side ------------------------------------------------------------

    /// <summary>Fills <paramref name="range"/> (4.20). A length in pages (MMU007) or a huge page's
    /// range not aligned to it (MMU008) is reported here.</summary>
    public static void mmu_notifier_range_init(mmu_notifier_range range, mmu_notifier_event @event, uint flags,
        vm_area_struct? vma, mm_struct mm, ulong start, ulong end)
    {
        ArgumentNullException.ThrowIfNull(range);
        ArgumentNullException.ThrowIfNull(mm);
        range.@event = @event;
        range.flags = flags;
        range.vma = vma;
        range.mm = mm;
        range.start = start;
        range.end = end;
        NotifierRangeTwin.Check(range, nameof(mmu_notifier_range_init));
    }

    /// <summary>True when the range's callbacks may sleep.</summary>
    public static bool mmu_notifier_range_blockable(mmu_notifier_range range)
    {
        ArgumentNullException.ThrowIfNull(range);
        return (range.flags & MMU_NOTIFIER_RANGE_BLOCKABLE) != 0;
    }

    /// <summary>
    /// Tells every secondary MMU that [start, end) of <paramref name="mm"/> is about to change: calls
    /// each <c>-&gt;invalidate_range_start</c> (and invalidates overlapping interval notifiers). Call it
    /// BEFORE taking the page-table lock (it may sleep), and close it with
    /// <see cref="mmu_notifier_invalidate_range_end(mm_struct, ulong, ulong)"/> on every path, with
    /// the same range.
    /// </summary>
    [MaySleep]
    [OpensInvalidationRange]
    public static void mmu_notifier_invalidate_range_start(mm_struct mm, ulong start, ulong end)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var cover = NotifierRangeTwin.Check(mm, start, end, nameof(mmu_notifier_invalidate_range_start), report: true);
        might_sleep_in(nameof(mmu_notifier_invalidate_range_start));
        var range = new mmu_notifier_range
        {
            mm = mm,
            start = cover.start,
            end = cover.end,
            @event = mmu_notifier_event.MMU_NOTIFY_CLEAR,
            flags = MMU_NOTIFIER_RANGE_BLOCKABLE,
        };
        invalidate_range_start_core(range, start, end, cover, legacy: true);
    }

    /// <summary>The 4.20 form of <see cref="mmu_notifier_invalidate_range_start(mm_struct, ulong, ulong)"/>.</summary>
    [MaySleep]
    [OpensInvalidationRange(Range = "range")]
    public static void mmu_notifier_invalidate_range_start(mmu_notifier_range range)
    {
        ArgumentNullException.ThrowIfNull(range);
        ArgumentNullException.ThrowIfNull(range.mm);
        var cover = NotifierRangeTwin.Check(range, nameof(mmu_notifier_invalidate_range_start));
        might_sleep_in(nameof(mmu_notifier_invalidate_range_start));
        range.flags |= MMU_NOTIFIER_RANGE_BLOCKABLE;
        invalidate_range_start_core(range, range.start, range.end, cover, legacy: false);
    }

    /// <summary>
    /// The non-blocking start (OOM reaper): callbacks run in atomic context and may refuse; returns 0,
    /// or -EAGAIN when one refused (the range is then closed already: do not call end). Not
    /// annotated as opening a range: it opens one only when it returns 0.
    /// </summary>
    public static int mmu_notifier_invalidate_range_start_nonblock(mmu_notifier_range range)
    {
        ArgumentNullException.ThrowIfNull(range);
        ArgumentNullException.ThrowIfNull(range.mm);
        var cover = NotifierRangeTwin.Check(range, nameof(mmu_notifier_invalidate_range_start_nonblock));
        range.flags &= ~MMU_NOTIFIER_RANGE_BLOCKABLE;
        return invalidate_range_start_core(range, range.start, range.end, cover, legacy: false);
    }

    /// <summary>
    /// Closes the range opened by the matching start: calls each <c>-&gt;invalidate_range</c> (atomic)
    /// and <c>-&gt;invalidate_range_end</c>, ends the interval-notifier invalidation, then raises
    /// <see cref="mm_struct.InvalidationEnded"/>. Call it after the page-table lock was dropped (it
    /// may sleep). An end with no open start on the mm is MMU002; a different range is MMU003.
    /// </summary>
    [MaySleep]
    [ClosesInvalidationRange]
    public static void mmu_notifier_invalidate_range_end(mm_struct mm, ulong start, ulong end)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var cover = NotifierRangeTwin.Check(mm, start, end, nameof(mmu_notifier_invalidate_range_end), report: !InvalidationTwin.OpenedWith(mm, start, end));
        might_sleep_in(nameof(mmu_notifier_invalidate_range_end));
        invalidate_range_end_core(mm, start, end, cover, null, only_end: false, nameof(mmu_notifier_invalidate_range_end));
    }

    /// <summary>The 4.20 form of <see cref="mmu_notifier_invalidate_range_end(mm_struct, ulong, ulong)"/>.</summary>
    [MaySleep]
    [ClosesInvalidationRange(Range = "range")]
    public static void mmu_notifier_invalidate_range_end(mmu_notifier_range range)
    {
        ArgumentNullException.ThrowIfNull(range);
        ArgumentNullException.ThrowIfNull(range.mm);
        var cover = NotifierRangeTwin.Check(range, nameof(mmu_notifier_invalidate_range_end));
        might_sleep_in(nameof(mmu_notifier_invalidate_range_end));
        invalidate_range_end_core(range.mm, range.start, range.end, cover, range, only_end: false, nameof(mmu_notifier_invalidate_range_end));
    }

    /// <summary>End without the implicit <c>-&gt;invalidate_range</c>: the caller already called it
    /// under the page-table lock (<c>*_clear_flush_notify</c>).</summary>
    [MaySleep]
    [ClosesInvalidationRange(Range = "range")]
    public static void mmu_notifier_invalidate_range_only_end(mmu_notifier_range range)
    {
        ArgumentNullException.ThrowIfNull(range);
        ArgumentNullException.ThrowIfNull(range.mm);
        var cover = NotifierRangeTwin.Check(range, nameof(mmu_notifier_invalidate_range_only_end));
        might_sleep_in(nameof(mmu_notifier_invalidate_range_only_end));
        invalidate_range_end_core(range.mm, range.start, range.end, cover, range, only_end: true, nameof(mmu_notifier_invalidate_range_only_end));
    }

    /// <summary>
    /// Calls each <c>-&gt;invalidate_range</c> for [start, end): for secondary MMUs that share the CPU
    /// page table. Never sleeps: call it under the page-table lock right after the update. It must
    /// be inside a start/end pair covering the range (MMU006): on its own it is a no-op for
    /// start/end notifiers such as KVM.
    /// </summary>
    [NeverSleeps]
    public static void mmu_notifier_invalidate_range(mm_struct mm, ulong start, ulong end) =>
        invalidate_range_as(mm, start, end, nameof(mmu_notifier_invalidate_range));

    /// <summary>
    /// Legacy (removed in 4.13; reported as MMU001): tells each notifier's <c>-&gt;invalidate_page</c>
    /// that the page at <paramref name="address"/> was unmapped. Called after the PT lock was
    /// released and before the page is freed. May sleep.
    /// </summary>
    [MaySleep]
    public static void mmu_notifier_invalidate_page(mm_struct mm, ulong address)
    {
        ArgumentNullException.ThrowIfNull(mm);
        InvalidationTwin.InvalidatePageCalled(mm, address);
        might_sleep_in(nameof(mmu_notifier_invalidate_page));
        ulong start = address & PAGE_MASK;
        int id = srcu_read_lock(mm.srcu);
        try
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                mn.ops.invalidate_page?.Invoke(mn, mm, start);
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }

        InvalidationTwin.Invalidated(mm, start, start + PAGE_SIZE);
        mm.raise_invalidation_ended(start, start + PAGE_SIZE);
    }

    /// <summary>
    /// Tells each <c>-&gt;change_pte</c> that the PTE of <paramref name="address"/> now maps another
    /// page (atomic: under the PT lock). Must be inside a start/end covering the address (MMU009).
    /// </summary>
    [NeverSleeps]
    public static void mmu_notifier_change_pte(mm_struct mm, ulong address, pte_t pte) =>
        change_pte_as(mm, address, pte, nameof(mmu_notifier_change_pte));

    /// <summary>change_pte, then set_pte_at (KSM, COW): inside start/end (MMU009).</summary>
    [NeverSleeps]
    public static void set_pte_at_notify(mm_struct mm, ulong address, pte_ptr ptep, pte_t pte)
    {
        change_pte_as(mm, address, pte, nameof(set_pte_at_notify));
        set_pte_at_as(mm, address, ptep, pte, notified: true, nameof(set_pte_at_notify));
    }

    /// <summary>ptep_clear_flush, then <c>-&gt;invalidate_range</c> of the page: under the PT lock,
    /// inside start/end (MMU006).</summary>
    [NeverSleeps]
    public static pte_t ptep_clear_flush_notify(vm_area_struct vma, ulong address, pte_ptr ptep)
    {
        ArgumentNullException.ThrowIfNull(vma);
        var pte = ptep_clear_flush_as(vma, address, ptep, notified: true, nameof(ptep_clear_flush_notify));
        ulong start = address & PAGE_MASK;
        invalidate_range_as(vma.vm_mm, start, start + PAGE_SIZE, nameof(ptep_clear_flush_notify));
        return pte;
    }

    /// <summary>pmdp_huge_clear_flush, then <c>-&gt;invalidate_range</c> of the 2 MiB range: under the
    /// PT lock, inside start/end (MMU006).</summary>
    [NeverSleeps]
    public static pmd_t pmdp_huge_clear_flush_notify(vm_area_struct vma, ulong haddr, pmd_ptr pmdp)
    {
        ArgumentNullException.ThrowIfNull(vma);
        var pmd = pmdp_huge_clear_flush_as(vma, haddr, pmdp, notified: true, nameof(pmdp_huge_clear_flush_notify));
        invalidate_range_as(vma.vm_mm, haddr, haddr + HPAGE_PMD_SIZE, nameof(pmdp_huge_clear_flush_notify));
        return pmd;
    }

    /// <summary>Clears the accessed bit in the CPU PTE and in every secondary MMU; 1 if any was young.</summary>
    [NeverSleeps]
    public static int ptep_clear_flush_young_notify(vm_area_struct vma, ulong address, pte_ptr ptep)
    {
        ArgumentNullException.ThrowIfNull(vma);
        int young = ptep_clear_flush_young(vma, address, ptep);
        ulong start = address & PAGE_MASK;
        young |= mmu_notifier_clear_flush_young(vma.vm_mm, start, start + PAGE_SIZE);
        return young;
    }

    /// <summary>Calls every <c>-&gt;clear_flush_young</c> (atomic); nonzero if any was young.</summary>
    [NeverSleeps]
    public static int mmu_notifier_clear_flush_young(mm_struct mm, ulong start, ulong end)
    {
        ArgumentNullException.ThrowIfNull(mm);
        check_range(start, end, nameof(mmu_notifier_clear_flush_young));
        int young = 0;
        int id = srcu_read_lock(mm.srcu);
        try
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                if (mn.ops.clear_flush_young is { } clear_flush_young)
                {
                    using (AtomicContext.EnterCallback(AtomicCallback.Of(mn, nameof(clear_flush_young))))
                    {
                        young |= clear_flush_young(mn, mm, start, end);
                    }
                }
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }

        return young;
    }

    /// <summary>Calls every <c>-&gt;clear_young</c> (atomic); nonzero if any was young.</summary>
    [NeverSleeps]
    public static int mmu_notifier_clear_young(mm_struct mm, ulong start, ulong end)
    {
        ArgumentNullException.ThrowIfNull(mm);
        check_range(start, end, nameof(mmu_notifier_clear_young));
        int young = 0;
        int id = srcu_read_lock(mm.srcu);
        try
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                if (mn.ops.clear_young is { } clear_young)
                {
                    using (AtomicContext.EnterCallback(AtomicCallback.Of(mn, nameof(clear_young))))
                    {
                        young |= clear_young(mn, mm, start, end);
                    }
                }
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }

        return young;
    }

    /// <summary>Calls every <c>-&gt;test_young</c> (atomic) until one answers young.</summary>
    [NeverSleeps]
    public static int mmu_notifier_test_young(mm_struct mm, ulong address)
    {
        ArgumentNullException.ThrowIfNull(mm);
        int young = 0;
        int id = srcu_read_lock(mm.srcu);
        try
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                if (mn.ops.test_young is { } test_young)
                {
                    using (AtomicContext.EnterCallback(AtomicCallback.Of(mn, nameof(test_young))))
                    {
                        young = test_young(mn, mm, address);
                    }

                    if (young != 0)
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }

        return young;
    }

    /// <summary>True when some notifier is registered on <paramref name="mm"/>.</summary>
    public static bool mm_has_notifiers(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        return !hlist_empty(mm.notifier_list) || mm.subscriptions is { has_itree: true };
    }

    // ---- internals ----------------------------------------------------------------------------

    /// <summary>Opens [start, end) as the caller passed it (what its end must match) and tells the
    /// notifiers about <paramref name="cover"/>, the range rounded out to whole pages.</summary>
    private static int invalidate_range_start_core(mmu_notifier_range caller, ulong start, ulong end, (ulong start, ulong end) cover, bool legacy)
    {
        var mm = caller.mm;
        Interlocked.Increment(ref mm.invalidate_range_start_calls);
        var range = caller;
        if (cover.start != range.start || cover.end != range.end)
        {
            // The notifiers, interval ones included, get whole pages; the caller's range stays as written.
            range = new mmu_notifier_range { mm = mm, vma = caller.vma, start = cover.start, end = cover.end, flags = caller.flags, @event = caller.@event };
        }

        var open = InvalidationTwin.Started(mm, start, end, cover, legacy ? null : caller);
        bool blockable = mmu_notifier_range_blockable(range);

        if (mm.subscriptions is { has_itree: true } subs)
        {
            if (mn_itree_invalidate(subs, range) != 0)
            {
                InvalidationTwin.Refused(open, nonBlockable: !blockable);
                return -EAGAIN;
            }
        }

        int id = srcu_read_lock(mm.srcu);
        try
        {
            int ret = 0;
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                if (mn.ops.invalidate_range_start is null && mn.ops.invalidate_range_start_range is null)
                {
                    continue;
                }

                int _ret;
                if (blockable)
                {
                    _ret = call_invalidate_range_start(mn, range);
                }
                else
                {
                    // non_block_start() / non_block_end()
                    using (AtomicContext.EnterCallback(AtomicCallback.Of(mn, nameof(mmu_notifier_ops.invalidate_range_start), nonBlockable: true)))
                    {
                        _ret = call_invalidate_range_start(mn, range);
                    }
                }

                if (_ret != 0)
                {
                    ret = _ret;
                    if (blockable || _ret != -EAGAIN)
                    {
                        // The kernel WARNs and goes on; here it is a driver bug the test should see.
                        end_failed_start(mm, range, open);
                        throw new InvalidOperationException($"{mn.GetType().Name}->invalidate_range_start returned {_ret} for {range}: only -EAGAIN, and only when the range is not blockable");
                    }
                }
            }

            if (ret != 0)
            {
                end_failed_start(mm, range, open);
                return ret;
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }

        return 0;
    }

    /// <summary>A start some notifier refused: the ones that started expect their end, so every one
    /// gets it (as mn_hlist_invalidate_range_start does), and the range counts as never started.</summary>
    private static void end_failed_start(mm_struct mm, mmu_notifier_range range, OpenInvalidation open)
    {
        foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
        {
            call_invalidate_range_end(mn, range);
        }

        if (mm.subscriptions is { has_itree: true } subs)
        {
            mn_itree_inv_end(subs);
        }

        InvalidationTwin.Refused(open, nonBlockable: !mmu_notifier_range_blockable(range));
    }

    private static int call_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        if (mn.ops.invalidate_range_start_range is { } invalidate_range_start_range)
        {
            return invalidate_range_start_range(mn, range);
        }

        mn.ops.invalidate_range_start!(mn, range.mm, range.start, range.end);
        return 0;
    }

    private static void call_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        if (mn.ops.invalidate_range_end_range is { } invalidate_range_end_range)
        {
            invalidate_range_end_range(mn, range);
        }
        else
        {
            mn.ops.invalidate_range_end?.Invoke(mn, range.mm, range.start, range.end);
        }
    }

    /// <summary>Closes the start [start, end) as the caller passed it and tells the notifiers about
    /// <paramref name="cover"/>, the range rounded out to whole pages.</summary>
    private static void invalidate_range_end_core(mm_struct mm, ulong start, ulong end, (ulong start, ulong end) cover, mmu_notifier_range? range, bool only_end, string function)
    {
        Interlocked.Increment(ref mm.invalidate_range_end_calls);
        InvalidationTwin.Ended(mm, start, end, range, function);
        (start, end) = cover;
        var notified = range is not null && range.start == start && range.end == end
            ? range
            : new mmu_notifier_range { mm = mm, vma = range?.vma, start = start, end = end, flags = range?.flags ?? MMU_NOTIFIER_RANGE_BLOCKABLE, @event = range?.@event ?? mmu_notifier_event.MMU_NOTIFY_CLEAR };

        int id = srcu_read_lock(mm.srcu);
        try
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                if (!only_end && mn.ops.invalidate_range is { } invalidate_range)
                {
                    using (AtomicContext.EnterCallback(AtomicCallback.Of(mn, nameof(invalidate_range))))
                    {
                        invalidate_range(mn, mm, start, end);
                    }
                }

                call_invalidate_range_end(mn, notified);
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }

        if (mm.subscriptions is { has_itree: true } subs)
        {
            mn_itree_inv_end(subs);
        }

        InvalidationTwin.Invalidated(mm, start, end);
        mm.raise_invalidation_ended(start, end);
    }

    private static void invalidate_range_as(mm_struct mm, ulong start, ulong end, string function)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var (cover_start, cover_end) = NotifierRangeTwin.Check(mm, start, end, function, report: true);
        Interlocked.Increment(ref mm.invalidate_range_calls);
        InvalidationTwin.InvalidateRangeCalled(mm, start, end, (cover_start, cover_end), function);

        (start, end) = (cover_start, cover_end);
        int id = srcu_read_lock(mm.srcu);
        try
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                if (mn.ops.invalidate_range is { } invalidate_range)
                {
                    using (AtomicContext.EnterCallback(AtomicCallback.Of(mn, nameof(invalidate_range))))
                    {
                        invalidate_range(mn, mm, start, end);
                    }
                }
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }

        InvalidationTwin.Invalidated(mm, start, end);
        mm.raise_invalidation_ended(start, end);
    }

    private static void change_pte_as(mm_struct mm, ulong address, pte_t pte, string function)
    {
        ArgumentNullException.ThrowIfNull(mm);
        InvalidationTwin.ChangePteCalled(mm, address, function);

        int id = srcu_read_lock(mm.srcu);
        try
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                if (mn.ops.change_pte is { } change_pte)
                {
                    using (AtomicContext.EnterCallback(AtomicCallback.Of(mn, nameof(change_pte))))
                    {
                        change_pte(mn, mm, address, pte);
                    }
                }
            }
        }
        finally
        {
            srcu_read_unlock(mm.srcu, id);
        }
    }
}
