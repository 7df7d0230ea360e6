using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_11.TestHmm;

/// <summary>
/// lib/test_hmm.c in the v5.11+ form (read from a tree in the index: <c>mmap_read_lock</c>,
/// v5.8+; <c>range-&gt;owner</c>, renamed from <c>migrate_pgmap_owner</c> in v5.11;
/// <c>hmm_range_fault</c> returning 0 or an error, v5.8+). <c>-&gt;invalidate</c> now returns
/// true early, without <c>mmu_interval_set_seq</c>, for the invalidation that migrating the
/// device's own private pages starts: "the invalidation is handled as part of the migration
/// process". mmu_interval_set_seq's contract says it "must be called unconditionally from the
/// invalidate callback", but the <c>MMU_NOTIFY_MIGRATE</c> event documents this exception (a driver
/// may ignore the invalidation when the owner is its own): MMU012 accepts that guard, and is silent.
/// </summary>
public static class test_hmm
{
    public sealed class dmirror_device
    {
    }

    public sealed class dmirror : mmu_interval_notifier
    {
        public readonly mutex mutex = new("dmirror->mutex");
        public dmirror_device mdevice = new();
    }

    public sealed class hmm_range
    {
        public mmu_interval_notifier notifier = null!;
        public ulong notifier_seq;
        public ulong start;
        public ulong end;
    }

    private const int HMM_RANGE_DEFAULT_TIMEOUT = 1000;

    [LooksUpPages]
    private static int hmm_range_fault(hmm_range range) => 0;

    [EstablishesSecondaryMapping]
    private static int dmirror_do_fault(dmirror dmirror, hmm_range range) => 0;

    private static void dmirror_do_update(dmirror dmirror, ulong start, ulong end)
    {
    }

    private static void mmap_read_lock(mm_struct mm) => down_read(mm.mmap_sem);

    private static void mmap_read_unlock(mm_struct mm) => up_read(mm.mmap_sem);

    private static ulong jiffies => (ulong)System.Environment.TickCount64;

    private static ulong msecs_to_jiffies(int msecs) => (ulong)msecs;

    private static bool time_after(ulong a, ulong b) => (long)(b - a) < 0;

    public static bool dmirror_interval_invalidate(mmu_interval_notifier mni,
                                                   mmu_notifier_range range,
                                                   ulong cur_seq)
    {
        dmirror dmirror = (dmirror)mni;

        /*
         * Ignore invalidation callbacks for device private pages since
         * the invalidation is handled as part of the migration process.
         */
        if (range.@event == mmu_notifier_event.MMU_NOTIFY_MIGRATE &&
            range.owner == dmirror.mdevice)
            return true; // no finding: the device's own migration, the MMU_NOTIFY_MIGRATE exception

        if (mmu_notifier_range_blockable(range))
            mutex_lock(dmirror.mutex);
        else if (!mutex_trylock(dmirror.mutex))
            return false;

        mmu_interval_set_seq(mni, cur_seq);
        dmirror_do_update(dmirror, range.start, range.end);

        mutex_unlock(dmirror.mutex);
        return true;
    }

    public static int dmirror_range_fault(dmirror dmirror,
                                          hmm_range range)
    {
        mm_struct mm = dmirror.mm!;
        ulong timeout =
            jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
        int ret;

        while (true)
        {
            if (time_after(jiffies, timeout))
            {
                ret = -EBUSY;
                goto @out;
            }

            range.notifier_seq = mmu_interval_read_begin(range.notifier);
            mmap_read_lock(mm);
            ret = hmm_range_fault(range);
            mmap_read_unlock(mm);
            if (ret != 0)
            {
                if (ret == -EBUSY)
                    continue;
                goto @out;
            }

            mutex_lock(dmirror.mutex);
            if (mmu_interval_read_retry(range.notifier,
                                        range.notifier_seq))
            {
                mutex_unlock(dmirror.mutex);
                continue;
            }
            break;
        }

        ret = dmirror_do_fault(dmirror, range);

        mutex_unlock(dmirror.mutex);
    @out:
        return ret;
    }
}
