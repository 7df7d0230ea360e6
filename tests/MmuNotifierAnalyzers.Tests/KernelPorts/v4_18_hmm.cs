using System.Collections.Generic;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V4_18;

/// <summary>
/// mm/hmm.c of the v4.18-v4.20 era (HMM mirror, <c>struct hmm_range</c> with its <c>vma</c>; read from
/// WindRiver-Labs/linux-yocto-4.18 91d5e4b4f3cf; the register-then-publish order of
/// <c>hmm_register</c> is Ralph Campbell's stable fix, the 4.14 form registered first). Buggy for
/// MMU015, case 2: <c>hmm_register</c> creates the per-mm <c>struct hmm</c> on first use and calls
/// <c>__mmu_notifier_register</c>, and its own comment states the condition that makes that right:
/// "We should only get here if hold the mmap_sem in write mode ie on registration of first mirror
/// through hmm_mirror_register()". hmm_mirror_register's callers do ("THE mm->mmap_sem MUST BE HELD
/// IN WRITE MODE !", taken here as <c>[MustHoldLock]</c>), but <c>hmm_vma_get_pfns</c>,
/// <c>hmm_vma_fault</c> and <c>hmm_vma_range_done</c> call <c>hmm_register</c> too, and their callers
/// hold mmap_sem only for read (hmm_vma_fault's "Expected use pattern" opens with
/// <c>down_read(&amp;mm-&gt;mmap_sem)</c>; its <c>-EAGAIN</c> "means mmap_sem have been drop"). When
/// mm-&gt;hmm is NULL there — no mirror registered, or the last one just unregistered, which frees
/// the hmm and clears mm-&gt;hmm — the notifier is registered under a read hold. The analyzer sees
/// those three as holding nothing (Kernel.Mm's annotations cannot say "entered with it held for
/// read"); either way it is not a write hold. The same shape survived the 5.2 rework
/// (<c>hmm_get_or_create</c>, called from <c>hmm_range_register(range, mm, ...)</c>); e36acfe6c86d
/// "mm/hmm: Use hmm_mirror not mm as an argument for hmm_range_register" (v5.3) removed the
/// non-mirror caller and "mm/hmm: Simplify hmm_get_or_create and make it reliable" (same series)
/// added <c>lockdep_assert_held_exclusive(&amp;mm-&gt;mmap_sem)</c>; the fixed form is
/// <c>v5_3_hmm_mirror.cs</c>. mm-&gt;hmm is a table here (Kernel.Mm's mm_struct has no such field);
/// the page walk and the range tracking's memset are left out.
/// </summary>
public static class hmm_c
{
    private const int EINVAL = 22, ENOMEM = 12, EPERM = 1, EAGAIN = 11;
    private const ulong VM_READ = 0x01, VM_HUGETLB = 0x00400000, VM_SPECIAL = 0x00004000 | 0x00040000 | 0x00000400 | 0x10000000; /* VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP */

    public sealed class hmm_range
    {
        public vm_area_struct vma = null!;
        public ulong start;
        public ulong end;
        public bool valid;
    }

    public sealed class hmm_mirror_ops
    {
        public System.Action<hmm_mirror>? release;
        public System.Action<hmm_mirror, ulong, ulong>? sync_cpu_device_pagetables;
    }

    public sealed class hmm_mirror
    {
        public hmm? hmm;
        public hmm_mirror_ops? ops;
    }

    /*
     * struct hmm - HMM per mm struct
     */
    public sealed class hmm : mmu_notifier
    {
        public mm_struct? mm;
        public readonly spinlock_t @lock = new("hmm->lock");
        public int sequence;
        public readonly List<hmm_range> ranges = new();
        public readonly List<hmm_mirror> mirrors = new();
        public readonly rw_semaphore mirrors_sem = new("hmm->mirrors_sem");

        /* hmm->mmu_notifier.ops != NULL: set just before __mmu_notifier_register (Kernel.Mm's ops is init-only). */
        public bool ops_set;
    }

    /* mm->hmm, under mm->page_table_lock. */
    private static readonly Dictionary<mm_struct, hmm> mm_hmm = new();

    private static hmm? READ_ONCE_mm_hmm(mm_struct mm) => mm_hmm.TryGetValue(mm, out var hmm) ? hmm : null;

    /* is_vm_hugetlb_page(), walk_page_range() over hmm_vma_walk_pmd/_hole: the walk is not ported. */
    private static bool is_vm_hugetlb_page(vm_area_struct vma) => (vma.vm_flags & VM_HUGETLB) != 0;

    private static int walk_page_range(hmm_range range, ulong start, ulong end, bool fault) => 0;

    private static void hmm_pfns_special(hmm_range range)
    {
    }

    private static void hmm_pfns_clear(hmm_range range, ulong addr, ulong end)
    {
    }

    /*
     * hmm_register - register HMM against an mm (HMM internal)
     *
     * @mm: mm struct to attach to
     *
     * This is not intended to be used directly by device drivers. It allocates an
     * HMM struct if mm does not have one, and initializes it.
     */
    private static hmm? hmm_register(mm_struct mm)
    {
        hmm? hmm = READ_ONCE_mm_hmm(mm);
        bool cleanup = false;

        /*
         * The hmm struct can only be freed once the mm_struct goes away,
         * hence we should always have pre-allocated an new hmm struct
         * above.
         */
        if (hmm != null)
            return hmm;

        hmm = new hmm { ops = hmm_mmu_notifier_ops };
        hmm.ops_set = false; /* hmm->mmu_notifier.ops = NULL; */
        hmm.mm = mm;

        spin_lock(mm.page_table_lock);
        if (READ_ONCE_mm_hmm(mm) == null)
            mm_hmm[mm] = hmm;
        else
            cleanup = true;
        spin_unlock(mm.page_table_lock);

        if (cleanup)
            goto error;

        /*
         * We should only get here if hold the mmap_sem in write mode ie on
         * registration of first mirror through hmm_mirror_register()
         */
        hmm.ops_set = true;
        if (__mmu_notifier_register(hmm, mm) != 0) // expect: MMU015
            goto error_mm;

        return READ_ONCE_mm_hmm(mm);

    error_mm:
        spin_lock(mm.page_table_lock);
        if (READ_ONCE_mm_hmm(mm) == hmm)
            mm_hmm.Remove(mm);
        spin_unlock(mm.page_table_lock);
    error:
        return null;
    }

    private static void hmm_invalidate_range(hmm hmm, ulong start, ulong end)
    {
        spin_lock(hmm.@lock);
        foreach (var range in hmm.ranges) {
            if (end < range.start || start >= range.end)
                continue;

            range.valid = false;
        }
        spin_unlock(hmm.@lock);

        down_read(hmm.mirrors_sem);
        foreach (var mirror in hmm.mirrors)
            mirror.ops!.sync_cpu_device_pagetables!(mirror, start, end);
        up_read(hmm.mirrors_sem);
    }

    private static void hmm_release(mmu_notifier mn, mm_struct mm)
    {
        hmm hmm = READ_ONCE_mm_hmm(mm)!;

        down_write(hmm.mirrors_sem);
        while (hmm.mirrors.Count > 0) {
            hmm_mirror mirror = hmm.mirrors[0];
            hmm.mirrors.RemoveAt(0);
            if (mirror.ops!.release != null) {
                /*
                 * Drop mirrors_sem so callback can wait on any pending
                 * work that might itself trigger mmu_notifier callback
                 * and thus would deadlock with us.
                 */
                up_write(hmm.mirrors_sem);
                mirror.ops.release(mirror);
                down_write(hmm.mirrors_sem);
            }
        }
        up_write(hmm.mirrors_sem);
    }

    private static void hmm_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        hmm hmm = READ_ONCE_mm_hmm(mm)!;

        hmm.sequence++;
    }

    private static void hmm_invalidate_range_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        hmm hmm = READ_ONCE_mm_hmm(mm)!;

        hmm_invalidate_range(hmm, start, end);
    }

    public static readonly mmu_notifier_ops hmm_mmu_notifier_ops = new()
    {
        release = hmm_release,
        invalidate_range_start = hmm_invalidate_range_start,
        invalidate_range_end = hmm_invalidate_range_end,
    };

    /*
     * hmm_mirror_register() - register a mirror against an mm
     *
     * @mirror: new mirror struct to register
     * @mm: mm to register against
     *
     * To start mirroring a process address space, the device driver must register
     * an HMM mirror struct.
     *
     * THE mm->mmap_sem MUST BE HELD IN WRITE MODE !
     */
    [MustHoldLock("mm.mmap_sem")] // the comment's contract; v5.3 asserts it (lockdep_assert_held_write)
    public static int hmm_mirror_register(hmm_mirror mirror, mm_struct mm)
    {
        /* Sanity check */
        if (mm == null || mirror == null || mirror.ops == null)
            return -EINVAL;

    again:
        mirror.hmm = hmm_register(mm);
        if (mirror.hmm == null)
            return -ENOMEM;

        down_write(mirror.hmm.mirrors_sem);
        if (mirror.hmm.mm == null) {
            /*
             * A racing hmm_mirror_unregister() is about to destroy the hmm
             * struct. Try again to allocate a new one.
             */
            up_write(mirror.hmm.mirrors_sem);
            mirror.hmm = null;
            goto again;
        } else {
            mirror.hmm.mirrors.Insert(0, mirror);
            up_write(mirror.hmm.mirrors_sem);
        }

        return 0;
    }

    /* mmu_notifier_unregister_no_release(): unlinks without ->release and without waiting for SRCU readers (3.17-5.3). */
    private static void mmu_notifier_unregister_no_release(mmu_notifier mn, mm_struct mm)
    {
    }

    /*
     * hmm_mirror_unregister() - unregister a mirror
     *
     * Stop mirroring a process address space, and cleanup.
     */
    public static void hmm_mirror_unregister(hmm_mirror mirror)
    {
        bool should_unregister = false;
        mm_struct? mm;
        hmm hmm;

        if (mirror.hmm == null)
            return;

        hmm = mirror.hmm;
        down_write(hmm.mirrors_sem);
        hmm.mirrors.Remove(mirror);
        should_unregister = hmm.mirrors.Count == 0;
        mirror.hmm = null;
        mm = hmm.mm;
        hmm.mm = null;
        up_write(hmm.mirrors_sem);

        if (!should_unregister || mm == null)
            return;

        mmu_notifier_unregister_no_release(hmm, mm);

        spin_lock(mm.page_table_lock);
        if (READ_ONCE_mm_hmm(mm) == hmm)
            mm_hmm.Remove(mm);
        spin_unlock(mm.page_table_lock);
    }

    /*
     * hmm_vma_get_pfns() - snapshot CPU page table for a range of virtual addresses
     * (the caller holds mmap_sem for read)
     */
    public static int hmm_vma_get_pfns(hmm_range range)
    {
        vm_area_struct vma = range.vma;
        hmm? hmm;

        /* Sanity check, this really should not happen ! */
        if (range.start < vma.vm_start || range.start >= vma.vm_end)
            return -EINVAL;
        if (range.end < vma.vm_start || range.end > vma.vm_end)
            return -EINVAL;

        hmm = hmm_register(vma.vm_mm);
        if (hmm == null)
            return -ENOMEM;
        /* Caller must have registered a mirror, via hmm_mirror_register() ! */
        if (!hmm.ops_set)
            return -EINVAL;

        /* FIXME support hugetlb fs */
        if (is_vm_hugetlb_page(vma) || (vma.vm_flags & VM_SPECIAL) != 0) {
            hmm_pfns_special(range);
            return -EINVAL;
        }

        if ((vma.vm_flags & VM_READ) == 0) {
            hmm_pfns_clear(range, range.start, range.end);
            return -EPERM;
        }

        /* Initialize range to track CPU page table update */
        spin_lock(hmm.@lock);
        range.valid = true;
        hmm.ranges.Add(range);
        spin_unlock(hmm.@lock);

        walk_page_range(range, range.start, range.end, false);
        return 0;
    }

    /*
     * hmm_vma_range_done() - stop tracking change to CPU page table over a range
     */
    public static bool hmm_vma_range_done(hmm_range range)
    {
        hmm? hmm;

        if (range.end <= range.start)
            return false;

        hmm = hmm_register(range.vma.vm_mm);
        if (hmm == null)
            return false;

        spin_lock(hmm.@lock);
        hmm.ranges.Remove(range);
        spin_unlock(hmm.@lock);

        return range.valid;
    }

    /*
     * hmm_vma_fault() - try to fault some address in a virtual address range
     * @range: range being faulted
     * @block: allow blocking on fault (if true it sleeps and do not drop mmap_sem)
     * Returns: 0 success, error otherwise (-EAGAIN means mmap_sem have been drop)
     *
     * Expected use pattern:
     * retry:
     *   down_read(&mm->mmap_sem);
     *   ...
     *   ret = hmm_vma_fault(range, write, block);
     */
    public static int hmm_vma_fault(hmm_range range, bool block)
    {
        vm_area_struct vma = range.vma;
        ulong start = range.start;
        hmm? hmm;
        int ret;

        /* Sanity check, this really should not happen ! */
        if (range.start < vma.vm_start || range.start >= vma.vm_end)
            return -EINVAL;
        if (range.end < vma.vm_start || range.end > vma.vm_end)
            return -EINVAL;

        hmm = hmm_register(vma.vm_mm);
        if (hmm == null) {
            hmm_pfns_clear(range, range.start, range.end);
            return -ENOMEM;
        }
        /* Caller must have registered a mirror using hmm_mirror_register() */
        if (!hmm.ops_set)
            return -EINVAL;

        /* FIXME support hugetlb fs */
        if (is_vm_hugetlb_page(vma) || (vma.vm_flags & VM_SPECIAL) != 0) {
            hmm_pfns_special(range);
            return -EINVAL;
        }

        if ((vma.vm_flags & VM_READ) == 0) {
            hmm_pfns_clear(range, range.start, range.end);
            return -EPERM;
        }

        /* Initialize range to track CPU page table update */
        spin_lock(hmm.@lock);
        range.valid = true;
        hmm.ranges.Add(range);
        spin_unlock(hmm.@lock);

        do {
            ret = walk_page_range(range, start, range.end, true);
        } while (ret == -EAGAIN);

        if (ret != 0) {
            hmm_pfns_clear(range, start, range.end);
            hmm_vma_range_done(range);
        }
        return ret;
    }
}
