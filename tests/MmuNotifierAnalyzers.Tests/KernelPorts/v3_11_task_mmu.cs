using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static KernelPorts.Common.task_mmu_common;

namespace KernelPorts.V3_11_soft_dirty;

/// <summary>
/// fs/proc/task_mmu.c with soft-dirty as it was first merged: v3.10's file (read from
/// AndreiLux/ref-3.10 at 147ee33213f0) plus Pavel Emelyanov's "[PATCH 5/5] mm: Soft-dirty bits for
/// user memory changes tracking" (linux-mm, 2013-04-11; 0f8975ec4db2 in v3.11-rc1). Buggy form:
/// writing 4 to /proc/PID/clear_refs write-protects every pte of the task (clear_soft_dirty) with no
/// MMU notifier, so KVM keeps a writable shadow mapping and the guest's writes are never tracked.
/// Fixed by the follow-up "soft-dirty: call mmu notifiers when write-protecting ptes" ("since
/// soft-dirty clear command modifies page tables we have to flush tlbs and call mmu notifiers ...
/// start is 0 and end is (unsigned long)-1"): v3_16_task_mmu.cs. The walk (mm/pagewalk.c) and the
/// /proc plumbing are reduced to what the walk needs (task_mmu_common.cs).
/// </summary>
public static class task_mmu
{
    public const int CLEAR_REFS_ALL = 1;
    public const int CLEAR_REFS_ANON = 2;
    public const int CLEAR_REFS_MAPPED = 3;
    public const int CLEAR_REFS_SOFT_DIRTY = 4;
    public const int CLEAR_REFS_LAST = 5;

    private sealed class clear_refs_private
    {
        public vm_area_struct vma = null!;
        public int type;
    }

    private static void clear_soft_dirty(vm_area_struct vma,
            ulong addr, pte_ptr pte)
    {
        /*
         * The soft-dirty tracker uses #PF-s to catch writes
         * to pages, so write-protect the pte as well. See the
         * Documentation/vm/soft-dirty.txt for full description
         * of how soft-dirty works.
         */
        pte_t ptent = ptep_get(pte);
        ptent = pte_wrprotect(ptent);
        ptent = pte_clear_flags(ptent, _PAGE_SOFT_DIRTY);
        set_pte_at(vma.vm_mm, addr, pte, ptent);
    }

    private static int clear_refs_pte_range(pmd_ptr pmd, ulong addr,
                                            ulong end, mm_walk walk)
    {
        var cp = (clear_refs_private)walk.@private!;
        vm_area_struct vma = cp.vma;
        pte_ptr pte;
        pte_t ptent;
        spinlock_t ptl;
        page? page;

        split_huge_page_pmd(vma, addr, pmd);
        if (pmd_trans_unstable(pmd))
            return 0;

        pte = pte_offset_map_lock(vma.vm_mm, pmd, addr, out ptl);
        for (; addr != end; pte++, addr += PAGE_SIZE)
        {
            ptent = ptep_get(pte);
            if (!pte_present(ptent))
                continue;

            if (cp.type == CLEAR_REFS_SOFT_DIRTY)
            {
                clear_soft_dirty(vma, addr, pte);
                continue;
            }

            page = vm_normal_page(vma, addr, ptent);
            if (page == null)
                continue;

            /* Clear accessed and referenced bits. */
            ptep_test_and_clear_young(vma, addr, pte);
            ClearPageReferenced(page);
        }
        pte_unmap_unlock(pte - 1, ptl);
        cond_resched();
        return 0;
    }

    /* The written number, already parsed (kstrtoint(strstrip(buffer))), and the task's mm
     * (get_proc_task(), get_task_mm()): the /proc plumbing before the walk is left out. */
    public static long clear_refs_write(mm_struct? mm, int type, long count)
    {
        vm_area_struct? vma;

        if (type < CLEAR_REFS_ALL || type >= CLEAR_REFS_LAST)
            return -EINVAL;
        if (mm != null)
        {
            var cp = new clear_refs_private
            {
                type = type,
            };
            var clear_refs_walk = new mm_walk
            {
                pmd_entry = clear_refs_pte_range,
                mm = mm,
                @private = cp,
            };
            down_read(mm.mmap_sem);
            for (vma = first_vma(mm); vma != null; vma = vm_next(vma))
            {
                cp.vma = vma;
                if (is_vm_hugetlb_page(vma))
                    continue;
                /*
                 * Writing 1 to /proc/pid/clear_refs affects all pages.
                 *
                 * Writing 2 to /proc/pid/clear_refs only affects
                 * Anonymous pages.
                 *
                 * Writing 3 to /proc/pid/clear_refs only affects file
                 * mapped pages.
                 */
                if (type == CLEAR_REFS_ANON && !PageAnonVma(vma))
                    continue;
                if (type == CLEAR_REFS_MAPPED && PageAnonVma(vma))
                    continue;
                walk_page_range(vma.vm_start, vma.vm_end, // expect: MMU013
                        clear_refs_walk);
            }
            flush_tlb_mm(mm);
            up_read(mm.mmap_sem);
            mmput(mm);
        }

        return count;
    }
}
