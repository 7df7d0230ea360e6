using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_9.TestHmm;

/// <summary>
/// lib/test_hmm.c as "mm/hmm/test: add selftest driver for HMM" (Ralph Campbell) added it in
/// v5.9, read from the posted patch (<c>down_read(&amp;mm-&gt;mmap_sem)</c>, <c>hmm_range_fault</c>
/// returning a count): the reference user of interval notifiers. <c>-&gt;invalidate</c> takes
/// <c>dmirror-&gt;mutex</c> (or fails a non-blockable range) and calls
/// <c>mmu_interval_set_seq</c> under it on every path that returns true; the fault path is
/// hmm.rst's loop. Correct: no MMU012.
/// </summary>
public static class test_hmm
{
    public sealed class dmirror : mmu_interval_notifier
    {
        public readonly mutex mutex = new("dmirror->mutex");
    }

    public sealed class hmm_range
    {
        public mmu_interval_notifier notifier = null!;
        public ulong notifier_seq;
        public ulong start;
        public ulong end;
    }

    private const int HMM_RANGE_DEFAULT_TIMEOUT = 1000;

    /* hmm_range_fault() (v5.9: the number of pages, or an error). */
    [LooksUpPages]
    private static long hmm_range_fault(hmm_range range) => (long)((range.end - range.start) >> PAGE_SHIFT);

    /* dmirror_do_fault(): stores each page into the mirror's page table (an xarray). */
    [EstablishesSecondaryMapping]
    private static int dmirror_do_fault(dmirror dmirror, hmm_range range) => 0;

    /* dmirror_do_update(): erases [start, end) from the mirror's page table. */
    private static void dmirror_do_update(dmirror dmirror, ulong start, ulong end)
    {
    }

    private static ulong jiffies => (ulong)System.Environment.TickCount64;

    private static ulong msecs_to_jiffies(int msecs) => (ulong)msecs;

    private static bool time_after(ulong a, ulong b) => (long)(b - a) < 0;

    public static bool dmirror_interval_invalidate(mmu_interval_notifier mni,
                                                   mmu_notifier_range range,
                                                   ulong cur_seq)
    {
        dmirror dmirror = (dmirror)mni;

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
            long count;

            if (time_after(jiffies, timeout))
            {
                ret = -EBUSY;
                goto @out;
            }

            range.notifier_seq = mmu_interval_read_begin(range.notifier);
            down_read(mm.mmap_sem);
            count = hmm_range_fault(range);
            up_read(mm.mmap_sem);
            if (count <= 0)
            {
                if (count == 0 || count == -EBUSY)
                    continue;
                ret = (int)count;
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
