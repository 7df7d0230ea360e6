using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V3_1;

/// <summary>
/// mm/ksm.c, Linux v3.1.10 (read from AICP/kernel_asus_grouper, Makefile VERSION 3 PATCHLEVEL 1
/// SUBLEVEL 10; these two functions are as in mainline before v3.6). Buggy form of commit
/// 6bdb913f0a70 ("mm: wrap calls to set_pte_at_notify with invalidate_range_start and
/// invalidate_range_end", v3.6): <c>set_pte_at_notify</c> runs with no start/end open, so a
/// start/end notifier that does not implement change_pte never hears of the new PTE.
/// </summary>
public static class ksm
{
    /* page_address_in_vma(): the page's address in vma, or -EFAULT; Kernel.Mm's vma_address. */
    private static ulong page_address_in_vma(page page, vm_area_struct vma) => vma_address(page, vma);

    /* PageSwapCache(): Kernel.Mm has no swap cache. */
    private static bool PageSwapCache(page page) => false;

    /* try_to_free_swap(): Kernel.Mm has no swap. */
    private static void try_to_free_swap(page page)
    {
    }

    private static readonly ulong EFAULT_ADDR = unchecked((ulong)-EFAULT);

    public static int write_protect_page(vm_area_struct vma, page page,
                                         ref pte_t orig_pte)
    {
        mm_struct mm = vma.vm_mm;
        ulong addr;
        pte_ptr? ptep;
        spinlock_t ptl;
        int swapped;
        int err = -EFAULT;

        addr = page_address_in_vma(page, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        BUG_ON(PageTransCompound(page));
        ptep = page_check_address(page, mm, addr, out ptl, 0);
        if (ptep == null)
            goto @out;

        if (pte_write(ptep_get(ptep)) || pte_dirty(ptep_get(ptep)))
        {
            pte_t entry;

            swapped = PageSwapCache(page) ? 1 : 0;
            flush_cache_page(vma, addr, page_to_pfn(page));
            /*
             * Ok this is tricky: clear the pte and flush the tlb before the
             * pagecount/mapcount check, so no O_DIRECT (get_user_pages_fast)
             * can start after or in the middle of the check.
             */
            entry = ptep_clear_flush(vma, addr, ptep);
            /*
             * Check that no O_DIRECT or similar I/O is in progress on the
             * page
             */
            if (page_mapcount(page) + 1 + swapped != page_count(page))
            {
                set_pte_at(mm, addr, ptep, entry);
                goto out_unlock;
            }
            if (pte_dirty(entry))
                set_page_dirty(page);
            entry = pte_mkclean(pte_wrprotect(entry));
            set_pte_at_notify(mm, addr, ptep, entry); // expect: MMU009
        }
        orig_pte = ptep_get(ptep);
        err = 0;

    out_unlock:
        pte_unmap_unlock(ptep, ptl);
    @out:
        return err;
    }

    /**
     * replace_page - replace page in vma by new ksm page
     * Returns 0 on success, -EFAULT on failure.
     */
    public static int replace_page(vm_area_struct vma, page page,
                                   page kpage, pte_t orig_pte)
    {
        mm_struct mm = vma.vm_mm;
        pmd_ptr? pmd;
        pte_ptr ptep;
        spinlock_t ptl;
        ulong addr;
        int err = -EFAULT;

        addr = page_address_in_vma(page, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        /* pgd_offset/pud_offset/pmd_offset with their _present checks: Kernel.Mm's mm_find_pmd */
        pmd = mm_find_pmd(mm, addr);
        if (pmd == null)
            goto @out;
        BUG_ON(pmd_trans_huge(pmdp_get(pmd)));

        ptep = pte_offset_map_lock(mm, pmd, addr, out ptl);
        if (!pte_same(ptep_get(ptep), orig_pte))
        {
            pte_unmap_unlock(ptep, ptl);
            goto @out;
        }

        get_page(kpage);
        page_add_anon_rmap(kpage, vma, addr);

        flush_cache_page(vma, addr, pte_pfn(ptep_get(ptep)));
        ptep_clear_flush(vma, addr, ptep);
        set_pte_at_notify(mm, addr, ptep, mk_pte(kpage, vma.vm_page_prot)); // expect: MMU009

        page_remove_rmap(page);
        if (!page_mapped(page))
            try_to_free_swap(page);
        put_page(page); // no finding: MMU010 needs an invalidation after the clear to be late for; there is none here, the missing bracket is MMU009's

        pte_unmap_unlock(ptep, ptl);
        err = 0;
    @out:
        return err;
    }
}
