using System.Collections.Generic;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_3;

/// <summary>
/// mm/hmm.c, v5.3: the registration half (the invalidation half is <c>v5_3_hmm.cs</c>, for MMU014).
/// Read from the search index, file id 9734602, the whole file (<c>lockdep_assert_held_write</c>,
/// <c>ranges_lock</c>, <c>hmm_range_register(range, mirror, ...)</c>: v5.3; the repository is not
/// named by the index). The fixed form of <c>v4_18_hmm.cs</c>: <c>hmm_get_or_create</c>, the one place
/// that calls <c>__mmu_notifier_register</c>, asserts the write hold
/// (<c>lockdep_assert_held_write(&amp;mm-&gt;mmap_sem)</c>, <c>[MustHoldLock]</c> here) and has one
/// caller, <c>hmm_mirror_register</c>, which asserts it too; <c>hmm_range_register</c>, called under a
/// read hold, takes the mirror and only references the hmm its registration created (e36acfe6c86d
/// "mm/hmm: Use hmm_mirror not mm as an argument for hmm_range_register"; "mm/hmm: Simplify
/// hmm_get_or_create and make it reliable", same series: "running under the write side of the
/// mmap_sem"). MMU015 must stay silent. The ops table holds <c>->release</c> only: the v5.3
/// start/end are ported in <c>v5_3_hmm.cs</c> against that file's types. mm-&gt;hmm is a table here.
/// </summary>
public static class hmm_mirror_c
{
    private const int EINVAL = 22, ENOMEM = 12, EFAULT = 14;

    public sealed class hmm_mirror_ops
    {
        public System.Action<hmm_mirror>? release;
    }

    public sealed class hmm_mirror
    {
        public hmm hmm = null!;
        public hmm_mirror_ops? ops;
    }

    public sealed class hmm_range
    {
        public hmm? hmm;
        public ulong start;
        public ulong end;
        public uint page_shift;
        public bool valid;
    }

    public sealed class hmm : mmu_notifier
    {
        public mm_struct mm = null!;
        public int kref = 1;
        public readonly spinlock_t ranges_lock = new("hmm->ranges_lock");
        public readonly List<hmm_range> ranges = new();
        public readonly List<hmm_mirror> mirrors = new();
        public readonly rw_semaphore mirrors_sem = new("hmm->mirrors_sem");
        public long notifiers;
    }

    /* mm->hmm, under mm->page_table_lock ("Abuse the page_table_lock to also protect mm->hmm"). */
    private static readonly Dictionary<mm_struct, hmm> mm_hmm = new();

    private static hmm? mm_hmm_of(mm_struct mm) => mm_hmm.TryGetValue(mm, out var hmm) ? hmm : null;

    /* kref_get_unless_zero(): the reference count, without atomics here. */
    private static bool kref_get_unless_zero(hmm hmm)
    {
        if (hmm.kref == 0)
            return false;
        hmm.kref++;
        return true;
    }

    /* mmu_notifier_unregister_no_release() / mmu_notifier_call_srcu(): gone in 5.4, stubs (3.17-5.3). */
    private static void mmu_notifier_unregister_no_release(mmu_notifier mn, mm_struct mm)
    {
    }

    private static void mmu_notifier_call_srcu(hmm hmm)
    {
    }

    /* WARN_ON(): report and go on. */
    private static bool WARN_ON(bool condition) => condition;

    /**
     * hmm_get_or_create - register HMM against an mm (HMM internal)
     *
     * This is not intended to be used directly by device drivers. If mm already
     * has an HMM struct then it get a reference on it and returns it. Otherwise
     * it allocates an HMM struct, initializes it, associate it with the mm and
     * returns it.
     */
    [MustHoldLock("mm.mmap_sem")] // lockdep_assert_held_write(&mm->mmap_sem)
    private static hmm? hmm_get_or_create(mm_struct mm)
    {
        hmm? hmm;

        /* Abuse the page_table_lock to also protect mm->hmm. */
        spin_lock(mm.page_table_lock);
        hmm = mm_hmm_of(mm);
        if (hmm != null && kref_get_unless_zero(hmm))
            goto out_unlock;
        spin_unlock(mm.page_table_lock);

        hmm = new hmm { ops = hmm_mmu_notifier_ops };
        hmm.kref = 1;
        hmm.notifiers = 0;
        hmm.mm = mm;

        if (__mmu_notifier_register(hmm, mm) != 0) // no finding: the caller holds mmap_sem for write (asserted)
            return null;

        mmgrab(hmm.mm);

        /*
         * We hold the exclusive mmap_sem here so we know that mm->hmm is
         * still NULL or 0 kref, and is safe to update.
         */
        spin_lock(mm.page_table_lock);
        mm_hmm[mm] = hmm;

    out_unlock:
        spin_unlock(mm.page_table_lock);
        return hmm;
    }

    private static void hmm_free(hmm hmm)
    {
        spin_lock(hmm.mm.page_table_lock);
        if (mm_hmm_of(hmm.mm) == hmm)
            mm_hmm.Remove(hmm.mm);
        spin_unlock(hmm.mm.page_table_lock);

        mmu_notifier_unregister_no_release(hmm, hmm.mm);
        mmu_notifier_call_srcu(hmm);
    }

    /* kref_put(&hmm->kref, hmm_free) */
    private static void hmm_put(hmm hmm)
    {
        if (--hmm.kref == 0)
            hmm_free(hmm);
    }

    private static void hmm_release(mmu_notifier mn, mm_struct mm)
    {
        hmm hmm = (hmm)mn;

        /* Bail out if hmm is in the process of being freed */
        if (!kref_get_unless_zero(hmm))
            return;

        /*
         * Since hmm_range_register() holds the mmget() lock hmm_release() is
         * prevented as long as a range exists.
         */
        WARN_ON(hmm.ranges.Count != 0);

        down_read(hmm.mirrors_sem);
        foreach (var mirror in hmm.mirrors) {
            /*
             * Note: The driver is not allowed to trigger
             * hmm_mirror_unregister() from this thread.
             */
            if (mirror.ops!.release != null)
                mirror.ops.release(mirror);
        }
        up_read(hmm.mirrors_sem);

        hmm_put(hmm);
    }

    public static readonly mmu_notifier_ops hmm_mmu_notifier_ops = new()
    {
        release = hmm_release,
    };

    /*
     * hmm_mirror_register() - register a mirror against an mm
     *
     * To start mirroring a process address space, the device driver must register
     * an HMM mirror struct.
     */
    [MustHoldLock("mm.mmap_sem")] // lockdep_assert_held_write(&mm->mmap_sem)
    public static int hmm_mirror_register(hmm_mirror mirror, mm_struct mm)
    {
        /* Sanity check */
        if (mm == null || mirror == null || mirror.ops == null)
            return -EINVAL;

        var hmm = hmm_get_or_create(mm);
        if (hmm == null)
            return -ENOMEM;
        mirror.hmm = hmm;

        down_write(mirror.hmm.mirrors_sem);
        mirror.hmm.mirrors.Insert(0, mirror);
        up_write(mirror.hmm.mirrors_sem);

        return 0;
    }

    /*
     * hmm_mirror_unregister() - unregister a mirror
     *
     * Stop mirroring a process address space, and cleanup.
     */
    public static void hmm_mirror_unregister(hmm_mirror mirror)
    {
        hmm hmm = mirror.hmm;

        down_write(hmm.mirrors_sem);
        hmm.mirrors.Remove(mirror);
        up_write(hmm.mirrors_sem);
        hmm_put(hmm);
    }

    /*
     * hmm_range_register() - start tracking change to CPU page table over a range
     * Returns 0 on success, -EFAULT if the address space is no longer valid
     */
    public static int hmm_range_register(hmm_range range, hmm_mirror mirror, ulong start, ulong end, uint page_shift)
    {
        ulong mask = (1UL << (int)page_shift) - 1UL;
        hmm hmm = mirror.hmm;

        range.valid = false;
        range.hmm = null;

        if ((start & mask) != 0 || (end & mask) != 0)
            return -EINVAL;
        if (start >= end)
            return -EINVAL;

        range.page_shift = page_shift;
        range.start = start;
        range.end = end;

        /* Prevent hmm_release() from running while the range is valid */
        if (!mmget_not_zero(hmm.mm))
            return -EFAULT;

        /* Initialize range to track CPU page table updates. */
        spin_lock(hmm.ranges_lock);

        range.hmm = hmm;
        hmm.kref++;
        hmm.ranges.Insert(0, range);

        /*
         * If there are any concurrent notifiers we have to wait for them for
         * the range to be valid (see hmm_range_wait_until_valid()).
         */
        if (hmm.notifiers == 0)
            range.valid = true;
        spin_unlock(hmm.ranges_lock);

        return 0;
    }
}
