using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V2_6_3x;

/// <summary>
/// drivers/misc/sgi-gru/grutlbpurge.c, grumain.c and grufault.c as merged, read from
/// SenberHu/Linux-Kernel-2.16 7341fa283c72 (the index stores no Makefile for it; the code is of
/// 2.6.30–2.6.3x: GRU kernel contexts — <c>gru_alloc_gts</c> registers only <c>if (vma)</c>,
/// <c>is_kernel_context</c>, <c>bs_kgts_sema</c> — the four-argument <c>hlist_for_each_entry_rcu</c>
/// of before 3.9, and <c>__mmu_notifier_register</c>'s result not yet checked). The fixed form of
/// <c>v2_6_26_sgi_gru.cs</c> for MMU015: the notifier is registered with __mmu_notifier_register,
/// the form for a caller that holds mmap_sem for write, and the only path to it,
/// gru_alloc_locked_gts, takes <c>down_write(&amp;mm-&gt;mmap_sem)</c> three calls above it (then
/// downgrades to read once the thread state is locked); the fault handler only looks the thread
/// state up. The unregister in gru_drop_mmu_notifier runs from gts_drop, and ->release only sets
/// ms_released. Left out: the kernel contexts (grukservices.c calls gru_alloc_gts with no vma, which
/// registers nothing), the table's invalidate_page, the GRU hardware and the TLB flush (stubs).
/// </summary>
public static class sgi_gru
{
    public sealed class task_struct_
    {
        public mm_struct mm = null!;
    }

    /* The task in the GRU ioctl (gru_handle_user_call_os and friends). */
    public static readonly task_struct_ current = new();

    public sealed class gru_mm_struct : mmu_notifier
    {
        public int ms_refcnt;
        public int ms_range_active;
        public bool ms_released;
    }

    public sealed class gru_thread_state
    {
        public readonly mutex ts_ctxlock = new("gts->ts_ctxlock");
        public int ts_refcnt;
        public int ts_tsid;
        public int ts_cbr_au_count, ts_dsr_au_count, ts_user_options;
        public mm_struct? ts_mm;
        public vm_area_struct? ts_vma;
        public gru_mm_struct? ts_gms;
    }

    public sealed class gru_vma_data
    {
        public readonly List<gru_thread_state> vd_head = new();
        public readonly spinlock_t vd_lock = new();
        public int vd_cbr_au_count, vd_dsr_au_count, vd_user_options;
    }

    /* mm->mmu_notifier_mm->list, searched by mmu_find_ops(). */
    private static readonly Dictionary<mm_struct, gru_mm_struct> mmu_notifier_list = new();

    private static int TSID(ulong vaddr, vm_area_struct vma) => (int)((vaddr - vma.vm_start) >> 18);

    private static void gru_flush_tlb_range(gru_mm_struct gms, ulong start, ulong len)
    {
    }

    /*
     * MMUOPS notifier callout functions
     */
    private static void gru_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        var gms = (gru_mm_struct)mn;

        gms.ms_range_active++;
        gru_flush_tlb_range(gms, start, end - start);
    }

    private static void gru_invalidate_range_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        var gms = (gru_mm_struct)mn;

        /* ..._and_test() provides needed barrier */
        gms.ms_range_active--;
    }

    private static void gru_release(mmu_notifier mn, mm_struct mm)
    {
        var gms = (gru_mm_struct)mn;

        gms.ms_released = true;
    }

    public static readonly mmu_notifier_ops gru_mmuops = new()
    {
        invalidate_range_start = gru_invalidate_range_start,
        invalidate_range_end = gru_invalidate_range_end,
        release = gru_release,
    };

    /* Move this to the basic mmu_notifier file. But for now... */
    private static gru_mm_struct? mmu_find_ops(mm_struct mm, mmu_notifier_ops ops) =>
        mmu_notifier_list.TryGetValue(mm, out var mn) && mn.ops == ops ? mn : null;

    public static gru_mm_struct? gru_register_mmu_notifier()
    {
        gru_mm_struct? gms;
        gru_mm_struct? mn;

        mn = mmu_find_ops(current.mm, gru_mmuops);
        if (mn != null)
        {
            gms = mn;
            gms.ms_refcnt++;
        }
        else
        {
            gms = new gru_mm_struct { ops = gru_mmuops };
            gms.ms_refcnt = 1;
            __mmu_notifier_register(gms, current.mm); // no finding: its only path down is gru_alloc_locked_gts, which holds mmap_sem for write
            mmu_notifier_list[current.mm] = gms;
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
    public static void gts_drop(gru_thread_state? gts)
    {
        if (gts != null && --gts.ts_refcnt == 0)
        {
            if (gts.ts_gms != null)
                gru_drop_mmu_notifier(gts.ts_gms);
        }
    }

    private static gru_thread_state? gru_find_current_gts_nolock(gru_vma_data vdata, int tsid)
    {
        foreach (var gts in vdata.vd_head)
            if (gts.ts_tsid == tsid)
                return gts;
        return null;
    }

    /*
     * Allocate a thread state structure.
     */
    public static gru_thread_state? gru_alloc_gts(vm_area_struct? vma, int cbr_au_count, int dsr_au_count, int options, int tsid)
    {
        gru_thread_state gts;

        gts = new gru_thread_state();
        gts.ts_refcnt = 1;
        gts.ts_cbr_au_count = cbr_au_count;
        gts.ts_dsr_au_count = dsr_au_count;
        gts.ts_user_options = options;
        gts.ts_tsid = tsid;
        if (vma != null)
        {
            gts.ts_mm = current.mm;
            gts.ts_vma = vma;
            gts.ts_gms = gru_register_mmu_notifier();
            if (gts.ts_gms == null)
                goto err;
        }

        return gts;

    err:
        gts_drop(gts);
        return null;
    }

    /*
     * Allocate a new thread state for a GSEG. Note that races may allow
     * another thread to race to create a gts.
     */
    public static gru_thread_state? gru_alloc_thread_state(vm_area_struct vma, int tsid)
    {
        var vdata = (gru_vma_data)vma.vm_private_data!;
        gru_thread_state? gts, ngts;

        gts = gru_alloc_gts(vma, vdata.vd_cbr_au_count, vdata.vd_dsr_au_count, vdata.vd_user_options, tsid);
        if (gts == null)
            return null;

        spin_lock(vdata.vd_lock);
        ngts = gru_find_current_gts_nolock(vdata, tsid);
        if (ngts != null)
        {
            gts_drop(gts); // known false finding: MMU005 — another thread's gts for this mm holds a reference to the same gms, so this drop never reaches mmu_notifier_unregister; the rule cannot count references
            gts = ngts;
        }
        else
        {
            vdata.vd_head.Add(gts);
        }
        spin_unlock(vdata.vd_lock);
        return gts;
    }

    /*
     * Find the vma of a GSEG. Only the GRU's own mappings count (vma->vm_ops == &gru_vm_ops).
     */
    private static vm_area_struct? gru_find_vma(ulong vaddr)
    {
        vm_area_struct? vma;

        vma = find_vma(current.mm, vaddr);
        if (vma != null && vma.vm_start <= vaddr && vma.vm_private_data is gru_vma_data)
            return vma;
        return null;
    }

    public static gru_thread_state? gru_alloc_locked_gts(ulong vaddr)
    {
        mm_struct mm = current.mm;
        vm_area_struct? vma;
        gru_thread_state? gts = null;

        down_write(mm.mmap_sem);
        vma = gru_find_vma(vaddr);
        if (vma != null)
            gts = gru_alloc_thread_state(vma, TSID(vaddr, vma));
        if (gts != null)
        {
            mutex_lock(gts.ts_ctxlock);
            downgrade_write(mm.mmap_sem);
        }
        else
        {
            up_write(mm.mmap_sem);
        }

        return gts;
    }

    /*
     * Unlock a GTS that was previously locked with gru_alloc_locked_gts().
     */
    public static void gru_unlock_gts(gru_thread_state gts)
    {
        mutex_unlock(gts.ts_ctxlock);
        up_read(current.mm.mmap_sem);
    }
}
