using System.Collections.Generic;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V2_6_26;

/// <summary>
/// The SGI GRU driver as posted to linux-mm before its merge, against Andrea Arcangeli's
/// "mmu-notifier-core" v15 (2.6.26 cycle), in which mmu_notifier_register took the mm's mmap_sem
/// for write itself (mm_lock). Buggy for MMU015: the GRU registers its notifier from mmap, and
/// f_op->mmap runs with mmap_sem already held for write by the mmap system call. Jack Steiner
/// reported the deadlock ("The GRU does the registration/deregistration of mmu notifiers from
/// mmap/munmap. At this point, the mmap_sem is already held writeable. I hit a deadlock in
/// mm_lock.", linux-mm, 5 May 2008, Message-ID 20080505162113.GA18761@sgi.com), and Andrea added
/// __mmu_notifier_register for callers that hold it (agreed in 20080505183405.GI8470@duo.random);
/// the merged driver calls that (<c>v2_6_3x_sgi_gru.cs</c>). Read from two postings, both in the
/// search index: gru_register_mmu_notifier, gru_drop_mmu_notifier, gru_mmu_release and the table
/// from the attachment of Message-ID 20080505194625.GA17734@sgi.com (the GRU's mmuops code on v15,
/// "protected by the mmap_sem"); the mmap path gru_file_mmap → gru_alloc_vma_data → gru_alloc_gts
/// from the driver posted on 22 Feb 2008 (Message-ID 20080222163126.GA32146@sgi.com, against
/// Christoph Lameter's v7 notifiers; its gru_register_mmu_notifier had the same shape). Neither
/// was committed to a tree. The table's invalidate_page and clear_flush_young are left out; the
/// GRU hardware, its thread data (gtd) and the TLB flush are stubs.
/// </summary>
public static class sgi_gru
{
    private const int EPERM = 1, ENOMEM = 12, EINVAL = 22;
    private const ulong VM_SHARED = 0x08, VM_WRITE = 0x02;
    private const ulong GRU_GSEG_PAGESIZE = 256 * 1024;

    public sealed class task_struct_
    {
        public mm_struct mm = null!;
    }

    /* The task in the mmap system call. */
    public static readonly task_struct_ current = new();

    public sealed class gru_mm_struct : mmu_notifier
    {
        public int ms_refcnt;
        public int ms_range_active;
        public bool ms_released;
    }

    public sealed class gru_thread_state
    {
        public int ts_refcnt;
        public int ts_tsid;
        public mm_struct? ts_mm;
        public vm_area_struct? ts_vma;
        public gru_mm_struct? ts_ms;
    }

    public sealed class gru_vma_data
    {
        public readonly List<gru_thread_state> vd_head = new();
        public readonly spinlock_t vd_lock = new();
    }

    public sealed class gru_file_data
    {
        public int fd_thread_slices;
    }

    public sealed class file_
    {
        public gru_file_data private_data = new();
    }

    /* mm->mmu_notifier_mm->list, searched by mmu_find_ops(). */
    private static readonly Dictionary<mm_struct, gru_mm_struct> mmu_notifier_list = new();

    private static int TSID(int slice) => slice;

    private static ulong CONTEXT_WINDOW_BYTES(int thread_slices) => GRU_GSEG_PAGESIZE * (ulong)thread_slices;

    private static void gru_flush_tlb_range(gru_mm_struct gms, ulong start, ulong len)
    {
    }

    private static void synchronize_rcu()
    {
    }

    /*
     * MMUOPS notifier callout functions
     */
    private static void gru_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        var gms = (gru_mm_struct)mn;

        gms.ms_range_active++;
        if (!gms.ms_released)
            gru_flush_tlb_range(gms, start, end - start);
    }

    private static void gru_invalidate_range_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        var gms = (gru_mm_struct)mn;

        gms.ms_range_active--;
    }

    private static void gru_mmu_release(mmu_notifier mn, mm_struct mm)
    {
        var gms = (gru_mm_struct)mn;

        gms.ms_released = true;
    }

    public static readonly mmu_notifier_ops gru_mmuops = new()
    {
        release = gru_mmu_release,
        invalidate_range_start = gru_invalidate_range_start,
        invalidate_range_end = gru_invalidate_range_end,
    };

    /* Move this to the basic mmu_notifier file. But for now... */
    private static gru_mm_struct? mmu_find_ops(mm_struct mm) =>
        mmu_notifier_list.TryGetValue(mm, out var mn) ? mn : null;

    public static gru_mm_struct? gru_register_mmu_notifier()
    {
        gru_mm_struct? gms;
        gru_mm_struct? mn;

        mn = mmu_find_ops(current.mm);
        if (mn != null)
        {
            gms = mn;
            gms.ms_refcnt++;
        }
        else
        {
            gms = new gru_mm_struct { ops = gru_mmuops };
            gms.ms_refcnt = 1;
            mmu_notifier_register(gms, current.mm); // expect: MMU015
            mmu_notifier_list[current.mm] = gms;
            synchronize_rcu();
        }
        return gms;
    }

    public static void gru_drop_mmu_notifier(gru_mm_struct gms)
    {
        if (--gms.ms_refcnt == 0)
        {
            if (!gms.ms_released)
                mmu_notifier_unregister(gms, current.mm); // no finding: reached from gts_drop, not from a callback
            mmu_notifier_list.Remove(current.mm);
        }
    }

    /*
     * Decrement the reference count on a GTS structure. Free the structure
     * if the reference count goes to zero.
     */
    private static void gts_drop(gru_thread_state? gts)
    {
        if (gts != null && --gts.ts_refcnt == 0)
        {
            if (gts.ts_ms != null)
                gru_drop_mmu_notifier(gts.ts_ms);
        }
    }

    /*
     * Allocate a thread state structure.
     */
    private static gru_thread_state? gru_alloc_gts(vm_area_struct vma, gru_vma_data vdata, int tsid)
    {
        gru_thread_state gts;

        gts = new gru_thread_state();
        gts.ts_refcnt = 1;
        gts.ts_tsid = tsid;
        gts.ts_mm = current.mm;
        gts.ts_vma = vma;
        gts.ts_ms = gru_register_mmu_notifier();
        if (gts.ts_ms == null)
            goto err;

        return gts;

    err:
        gts_drop(gts);
        return null;
    }

    /*
     * Allocate a vma private data structure.
     */
    public static gru_vma_data? gru_alloc_vma_data(vm_area_struct vma, int tsid)
    {
        gru_vma_data vdata;
        gru_thread_state? gts;

        vdata = new gru_vma_data();

        gts = gru_alloc_gts(vma, vdata, TSID(0));
        if (gts == null)
            return null;
        vdata.vd_head.Add(gts);
        return vdata;
    }

    /*
     * gru_file_mmap
     *
     * Called when mmaping the device.  Initializes the vma with a fault handler
     * and private data structure necessary to allocate, track, and free the
     * underlying pages.
     */
    [MustHoldLock("vma.vm_mm.mmap_sem")] // f_op->mmap: mmap_region runs with mmap_sem held for write
    public static int gru_file_mmap(file_ file, vm_area_struct vma)
    {
        gru_file_data fdata = file.private_data;

        if ((vma.vm_flags & (VM_SHARED | VM_WRITE)) != (VM_SHARED | VM_WRITE))
            return -EPERM;

        if ((vma.vm_start & (GRU_GSEG_PAGESIZE - 1)) != 0
            || CONTEXT_WINDOW_BYTES(fdata.fd_thread_slices) != vma.vm_end - vma.vm_start)
            return -EINVAL;

        vma.vm_private_data = gru_alloc_vma_data(vma, TSID(0));
        if (vma.vm_private_data == null)
            return -ENOMEM;

        return 0;
    }
}
