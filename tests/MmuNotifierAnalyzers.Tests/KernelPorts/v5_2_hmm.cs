using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_2;

/// <summary>
/// mm/hmm.c as it was before "mm/hmm: Fix error flows in hmm_invalidate_range_start" (Jason
/// Gunthorpe, hmm tree, June 2019, merged for v5.3), read from that patch's pre-image ([PATCH v4
/// hmm 12/12] on linux-mm); the range form and <c>mmu_notifier_range_blockable</c> are v5.2's
/// (4a83bfe916f3). <c>hmm-&gt;lock</c> is a mutex: the start tries it when the range is not
/// blockable, but the end takes it unconditionally, also after the OOM reaper's non-blocking start.
/// </summary>
public static class hmm_c
{
    public sealed class hmm_range
    {
        public ulong start;
        public ulong end;
        public bool valid;
    }

    public struct hmm_update
    {
        public ulong start;
        public ulong end;
        public int @event;
        public bool blockable;
    }

    public delegate int sync_cpu_device_pagetables_fn(hmm_mirror mirror, ref hmm_update update);

    public sealed class hmm_mirror
    {
        public sync_cpu_device_pagetables_fn sync_cpu_device_pagetables = null!;
    }

    public sealed class hmm : mmu_notifier
    {
        public int kref = 1;
        public readonly mutex @lock = new("hmm->lock");
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

        if (mmu_notifier_range_blockable(nrange))
            mutex_lock(hmm.@lock);              // no finding: taken only when the range is blockable
        else if (!mutex_trylock(hmm.@lock)) {
            ret = -EAGAIN;
            goto @out;
        }
        hmm.notifiers++;
        foreach (var range in hmm.ranges) {
            if (update.end < range.start || update.start >= range.end)
                continue;

            range.valid = false;
        }
        mutex_unlock(hmm.@lock);

        if (mmu_notifier_range_blockable(nrange))
            down_read(hmm.mirrors_sem);
        else if (!down_read_trylock(hmm.mirrors_sem)) {
            ret = -EAGAIN;
            goto @out;
        }
        foreach (var mirror in hmm.mirrors) {
            int ret_;   /* the C shadows ret here; C# cannot */

            ret_ = mirror.sync_cpu_device_pagetables(mirror, ref update);
            if (!update.blockable && ret_ == -EAGAIN)
                break;
        }
        up_read(hmm.mirrors_sem);

    @out:
        hmm_put(hmm);
        return ret;
    }

    private static void hmm_invalidate_range_end(mmu_notifier mn, mmu_notifier_range nrange)
    {
        hmm hmm = (hmm)mn;

        if (!kref_get_unless_zero(hmm))
            return;

        mutex_lock(hmm.@lock);                  // expect: MMU014
        hmm.notifiers--;
        if (hmm.notifiers == 0) {
            foreach (var range in hmm.ranges) {
                if (range.valid)
                    continue;
                range.valid = true;
            }
            wake_up_all(hmm);
        }
        mutex_unlock(hmm.@lock);

        hmm_put(hmm);
    }

    public static readonly mmu_notifier_ops hmm_mmu_notifier_ops = new()
    {
        invalidate_range_start_range = hmm_invalidate_range_start,
        invalidate_range_end_range = hmm_invalidate_range_end,
    };
}
