using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static KernelPorts.Common.task_mmu_common;

namespace KernelPorts.V3_16;

/// <summary>
/// fs/proc/task_mmu.c, the soft-dirty clear as v3.16-rc1 had it, after "soft-dirty: call mmu
/// notifiers when write-protecting ptes" (Pavel Emelyanov, v3.11-rc1): clear_refs_write brackets
/// the whole walk with invalidate_range_start/_end(mm, 0, -1) when it clears soft-dirty bits, "the
/// same trick as in exit_mmap()". Read from the context lines of Naoya Horiguchi's "[PATCH v3 05/13]
/// clear_refs: remove clear_refs_private->vma and introduce clear_refs_test_walk()" (linux-mm,
/// 2014-06-20, against v3.16-rc1), with clear_soft_dirty and clear_refs_pte_range as Cyrill
/// Gorcunov's swap soft-dirty patch (v3.12) left them; the head of clear_refs_write (parsing) is
/// v3.10's. The buggy form is v3_11_task_mmu.cs. Kernel.Mm has no swap or file ptes: those branches
/// of clear_soft_dirty are left out.
/// </summary>
public static class task_mmu
{
    public const int CLEAR_REFS_ALL = 1;
    public const int CLEAR_REFS_ANON = 2;
    public const int CLEAR_REFS_MAPPED = 3;
    public const int CLEAR_REFS_SOFT_DIRTY = 4;
    public const int CLEAR_REFS_LAST = 5;

    /* VM_SOFTDIRTY (3.13): a new vma is soft-dirty as a whole; Kernel.Mm has no such flag bit. */
    private const ulong VM_SOFTDIRTY = 0;

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

        if (pte_present(ptent))
        {
            ptent = pte_wrprotect(ptent);
            ptent = pte_clear_flags(ptent, _PAGE_SOFT_DIRTY);
        }
        /* else if (is_swap_pte(ptent)) ... else if (pte_file(ptent)) ...: no swap or file ptes */

        set_pte_at(vma.vm_mm, addr, pte, ptent); // no finding: MMU013, clear_refs_write brackets the walk that runs this
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

            if (cp.type == CLEAR_REFS_SOFT_DIRTY)
            {
                clear_soft_dirty(vma, addr, pte);
                continue;
            }

            if (!pte_present(ptent))
                continue;

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
            if (type == CLEAR_REFS_SOFT_DIRTY)
                mmu_notifier_invalidate_range_start(mm, 0, unchecked((ulong)-1));
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
                 *
                 * Writing 4 to /proc/pid/clear_refs affects all pages.
                 */
                if (type == CLEAR_REFS_ANON && !PageAnonVma(vma))
                    continue;
                if (type == CLEAR_REFS_MAPPED && PageAnonVma(vma))
                    continue;
                if (type == CLEAR_REFS_SOFT_DIRTY)
                {
                    if ((vma.vm_flags & VM_SOFTDIRTY) != 0)
                        vma.vm_flags &= ~VM_SOFTDIRTY;
                }
                walk_page_range(vma.vm_start, vma.vm_end, // no finding: MMU013, inside the soft-dirty bracket (the other types change no entry)
                        clear_refs_walk);
            }
            if (type == CLEAR_REFS_SOFT_DIRTY)
                mmu_notifier_invalidate_range_end(mm, 0, unchecked((ulong)-1));
            flush_tlb_mm(mm);
            up_read(mm.mmap_sem);
            mmput(mm);
        }

        return count;
    }
}
