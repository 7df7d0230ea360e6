using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace Seeds.Before.Seed004;

/// <summary>
/// mm/mremap.c before seed 004 (v3.6): the range end is called with <c>old_end-len</c>, an
/// expression rebuilt after the loop advanced <c>old_addr</c>, instead of the values passed to
/// the start.
/// </summary>
public static class mremap
{
    public static ulong move_page_tables(vm_area_struct vma,
                                         ulong old_addr, vm_area_struct new_vma,
                                         ulong new_addr, ulong len)
    {
        ulong extent, next, old_end;
        pmd_ptr? old_pmd, new_pmd;
        bool need_flush = false;

        old_end = old_addr + len;
        flush_cache_range(vma, old_addr, old_end);

        ulong mmun_start = old_addr;
        ulong mmun_end = old_end;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);

        for (; old_addr < old_end; old_addr += extent, new_addr += extent)
        {
            cond_resched();
            next = (old_addr + PMD_SIZE) & PMD_MASK;
            /* even if next overflowed, extent below will be ok */
            extent = next - old_addr;
            if (extent > old_end - old_addr)
                extent = old_end - old_addr;
            old_pmd = get_old_pmd(vma.vm_mm, old_addr);
            if (old_pmd == null)
                continue;
            new_pmd = alloc_new_pmd(vma.vm_mm, vma, new_addr);
            if (new_pmd == null)
                break;
            if (pmd_trans_huge(pmdp_get(old_pmd)))
            {
                /* move_huge_pmd() is not ported: split, then move the ptes */
                split_huge_page_pmd(vma, old_addr, old_pmd);
                VM_BUG_ON(pmd_trans_huge(pmdp_get(old_pmd)));
            }
            next = (new_addr + PMD_SIZE) & PMD_MASK;
            if (extent > next - new_addr)
                extent = next - new_addr;
            if (extent > LATENCY_LIMIT)
                extent = LATENCY_LIMIT;
            move_ptes(vma, old_pmd, old_addr, old_addr + extent,
                      new_vma, new_pmd, new_addr);
            need_flush = true;
        }
        if (likely(need_flush))
            flush_tlb_range(vma, old_end - len, old_addr);

        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);

        return len + old_addr - old_end;    /* how much done */
    }
}
