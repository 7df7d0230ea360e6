using System;
using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static Seeds.Common.page_vma_mapped;

namespace FixCorpus.V4_19;

/// <summary>
/// mm/rmap.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments at 0c8fdfc73a8e; the owner's
/// comments are left out), page_mkclean_one. Correct form after 369ea8242c0f ("mm/rmap: update to
/// new mmu_notifier semantic v2", v4.13, which replaced the trailing invalidate_page by start/end
/// over the whole compound page) and 0f10851ea475 (v4.19, which dropped the
/// <c>mmu_notifier_invalidate_range</c> for a protection downgrade). The walk (PVMW_SYNC) takes
/// and drops the PTE lock itself; the THP-pagecache PMD branch is compiled in.
/// </summary>
public static class rmap
{
    public static bool page_mkclean_one(page page, vm_area_struct vma,
                                        ulong address, ref int cleaned)
    {
        page_vma_mapped_walk_t pvmw = new()
        {
            page = page,
            vma = vma,
            address = address,
            flags = PVMW_SYNC,
        };
        ulong start = address, end;

        /*
         * We have to assume the worse case ie pmd for invalidation. Note that
         * the page can not be free from this function.
         */
        end = Math.Min(vma.vm_end, start + (PAGE_SIZE << compound_order(page)));
        mmu_notifier_invalidate_range_start(vma.vm_mm, start, end);

        while (page_vma_mapped_walk(pvmw))
        {
            ulong cstart;
            int ret = 0;

            cstart = address = pvmw.address;
            if (pvmw.pte != null)
            {
                pte_t entry;
                pte_ptr pte = pvmw.pte;

                if (!pte_dirty(ptep_get(pte)) && !pte_write(ptep_get(pte)))
                    continue;

                flush_cache_page(vma, address, pte_pfn(ptep_get(pte)));
                entry = ptep_clear_flush(vma, address, pte);
                entry = pte_wrprotect(entry);
                entry = pte_mkclean(entry);
                set_pte_at(vma.vm_mm, address, pte, entry);
                ret = 1;
            }
            else
            {
                pmd_ptr pmd = pvmw.pmd!;
                pmd_t entry;

                if (!pmd_dirty(pmdp_get(pmd)) && !pmd_write(pmdp_get(pmd)))
                    continue;

                flush_cache_page(vma, address, page_to_pfn(page));
                entry = pmdp_huge_clear_flush(vma, address, pmd);
                entry = pmd_wrprotect(entry);
                entry = pmd_mkclean(entry);
                set_pmd_at(vma.vm_mm, address, pmd, entry);
                cstart &= PMD_MASK;
                ret = 1;
            }

            /*
             * No need to call mmu_notifier_invalidate_range() as we are
             * downgrading page table protection not changing it to point
             * to a new page.
             *
             * See Documentation/vm/mmu_notifier.rst
             */
            if (ret != 0)
                cleaned++;
        }

        mmu_notifier_invalidate_range_end(vma.vm_mm, start, end);

        return true;
    }
}
