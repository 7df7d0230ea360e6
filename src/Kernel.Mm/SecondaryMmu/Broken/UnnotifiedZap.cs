using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// A deliberately broken primary-side path (MMU013): it unmaps the pages of a range — the PTE
/// cleared under the page-table lock, the rmap dropped, the page released — with no
/// <c>mmu_notifier_invalidate_range_start/end</c> around the walk, the shape of the THP NUMA
/// migration, soft-dirty and khugepaged bugs: no secondary MMU hears of it. A KVM-like MMU keeps
/// translating to the old page; once the last reference goes, to a freed page.
/// </summary>
public static class UnnotifiedZap
{
    /// <summary>Unmaps the present PTEs of [<paramref name="start"/>, <paramref name="end"/>) of
    /// <paramref name="vma"/> without telling the notifiers. Takes and drops the PT lock; never sleeps.</summary>
    public static int zap_pte_range_unnotified(vm_area_struct vma, ulong start, ulong end)
    {
        var mm = vma.vm_mm;
        int zapped = 0;
        for (ulong addr = start; addr < end; addr += PAGE_SIZE)
        {
            var pmd = mm_find_pmd(mm, addr);
            if (pmd is null || pmd_trans_huge(pmdp_get(pmd)))
            {
                continue;
            }

            var pte = pte_offset_map_lock(mm, pmd, addr, out var ptl);
            pte_t old = ptep_get_and_clear(mm, addr, pte);   // expect: MMU013 (no start/end covers this)
            if (pte_present(old))
            {
                flush_tlb_page(vma, addr);
                var page = vm_normal_page(vma, addr, old);
                if (page is not null)
                {
                    page_remove_rmap(page);
                    put_page(page);
                }

                zapped++;
            }

            pte_unmap_unlock(pte, ptl);
        }

        return zapped;
    }
}
