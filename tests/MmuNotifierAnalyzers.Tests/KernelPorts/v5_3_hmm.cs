using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;
using hmm_mirror = KernelPorts.V5_2.hmm_c.hmm_mirror;
using hmm_range = KernelPorts.V5_2.hmm_c.hmm_range;
using hmm_update = KernelPorts.V5_2.hmm_c.hmm_update;

namespace KernelPorts.V5_3;

/// <summary>
/// mm/hmm.c, v5.3 (after "mm/hmm: Fix error flows in hmm_invalidate_range_start", Jason Gunthorpe,
/// 2019): <c>hmm-&gt;lock</c> became the spinlock <c>ranges_lock</c> "so we can reliably obtain it
/// without blocking during error unwind"; the end no longer takes a sleeping lock, and the start
/// sleeps (<c>down_read</c>) only when the range is blockable. <c>spin_lock_irqsave</c> is
/// Kernel.Mm's <c>spin_lock</c> (no interrupts in the model). <c>hmm_range</c>, <c>hmm_update</c>
/// and <c>hmm_mirror</c> did not change: they are v5_2_hmm.cs's.
/// </summary>
public static class hmm_c
{
    public sealed class hmm : mmu_notifier
    {
        public int kref = 1;
        public readonly spinlock_t ranges_lock = new("hmm->ranges_lock");
        public readonly List<hmm_range> ranges = new();
        public readonly List<hmm_mirror> mirrors = new();
        public readonly rw_semaphore mirrors_sem = new("hmm->mirrors_sem");
        public long notifiers;
    }

    private const int HMM_UPDATE_INVALIDATE = 0;

    /* kref_get_unless_zero(): the reference count, without atomics here. */
    private static bool kref_get_unless_zero(hmm hmm)
    {
        if (hmm.kref == 0)
            return false;
        hmm.kref++;
        return true;
    }

    /* hmm_put(): kref_put(&hmm->kref, hmm_free); hmm_free defers the free to SRCU. */
    private static void hmm_put(hmm hmm) => hmm.kref--;

    /* wake_up_all(&hmm->wq): waiters in hmm_range_wait_until_valid are not modelled. */
    private static void wake_up_all(hmm hmm)
    {
    }

    /* WARN_ON(): report and go on. */
    private static bool WARN_ON(bool condition) => condition;

    private static void notifiers_decrement(hmm hmm)
    {
        spin_lock(hmm.ranges_lock);
        hmm.notifiers--;
        if (hmm.notifiers == 0) {
            foreach (var range in hmm.ranges) {
                if (range.valid)
                    continue;
                range.valid = true;
            }
            wake_up_all(hmm);
        }
        spin_unlock(hmm.ranges_lock);
    }

    private static int hmm_invalidate_range_start(mmu_notifier mn, mmu_notifier_range nrange)
    {
        hmm hmm = (hmm)mn;
        hmm_update update;
        int ret = 0;

        if (!kref_get_unless_zero(hmm))
            return 0;

        update.start = nrange.start;
        update.end = nrange.end;
        update.@event = HMM_UPDATE_INVALIDATE;
        update.blockable = mmu_notifier_range_blockable(nrange);

        spin_lock(hmm.ranges_lock);
        hmm.notifiers++;
        foreach (var range in hmm.ranges) {
            if (update.end < range.start || update.start >= range.end)
                continue;

            range.valid = false;
        }
        spin_unlock(hmm.ranges_lock);

        if (mmu_notifier_range_blockable(nrange))
            down_read(hmm.mirrors_sem);         // no finding: only when the range is blockable
        else if (!down_read_trylock(hmm.mirrors_sem)) {
            ret = -EAGAIN;
            goto @out;
        }

        foreach (var mirror in hmm.mirrors) {
            int rc;

            rc = mirror.sync_cpu_device_pagetables(mirror, ref update);
            if (rc != 0) {
                if (WARN_ON(update.blockable || rc != -EAGAIN))
                    continue;
                ret = -EAGAIN;
                break;
            }
        }
        up_read(hmm.mirrors_sem);

    @out:
        if (ret != 0)
            notifiers_decrement(hmm);
        hmm_put(hmm);
        return ret;
    }

    private static void hmm_invalidate_range_end(mmu_notifier mn, mmu_notifier_range nrange)
    {
        hmm hmm = (hmm)mn;

        if (!kref_get_unless_zero(hmm))
            return;

        notifiers_decrement(hmm);
        hmm_put(hmm);
    }

    public static readonly mmu_notifier_ops hmm_mmu_notifier_ops = new()
    {
        invalidate_range_start_range = hmm_invalidate_range_start,
        invalidate_range_end_range = hmm_invalidate_range_end,
    };
}
