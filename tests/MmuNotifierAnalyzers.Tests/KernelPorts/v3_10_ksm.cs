using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V3_10;

/// <summary>
/// mm/ksm.c, Linux v3.10.9 (read from AndreiLux/ref-3.10, Makefile VERSION 3 PATCHLEVEL 10
/// SUBLEVEL 9). Both functions carry the v3.6 bracket of 6bdb913f0a70 ("mm: wrap calls to
/// set_pte_at_notify with invalidate_range_start and invalidate_range_end"), so
/// <c>set_pte_at_notify</c> is covered. In <c>replace_page</c> the old page is cleared with a plain
/// <c>ptep_clear_flush</c> and <c>put_page</c> runs before <c>_end</c>; 34ee645e83b6 ("mmu_notifier: call
/// mmu_notifier_invalidate_range() from VMM", v3.19) made that clear <c>ptep_clear_flush_notify</c>,
/// and 0f10851ea475 ("mm/mmu_notifier: avoid double notification when it is useless", v4.19)
/// made it plain again: a read-only page replaced by an identical one, still referenced by the
/// caller. Not counted as an MMU010 defect.
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
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        addr = page_address_in_vma(page, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        BUG_ON(PageTransCompound(page));

        mmun_start = addr;
        mmun_end = addr + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);

        ptep = page_check_address(page, mm, addr, out ptl, 0);
        if (ptep == null)
            goto out_mn;

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
            set_pte_at_notify(mm, addr, ptep, entry); // no finding: MMU009, inside [mmun_start, mmun_end)
        }
        orig_pte = ptep_get(ptep);
        err = 0;

    out_unlock:
        pte_unmap_unlock(ptep, ptl);
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
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
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        addr = page_address_in_vma(page, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        pmd = mm_find_pmd(mm, addr);
        if (pmd == null)
            goto @out;
        BUG_ON(pmd_trans_huge(pmdp_get(pmd)));

        mmun_start = addr;
        mmun_end = addr + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);

        ptep = pte_offset_map_lock(mm, pmd, addr, out ptl);
        if (!pte_same(ptep_get(ptep), orig_pte))
        {
            pte_unmap_unlock(ptep, ptl);
            goto out_mn;
        }

        get_page(kpage);
        page_add_anon_rmap(kpage, vma, addr);

        flush_cache_page(vma, addr, pte_pfn(ptep_get(ptep)));
        ptep_clear_flush(vma, addr, ptep);
        set_pte_at_notify(mm, addr, ptep, mk_pte(kpage, vma.vm_page_prot));

        page_remove_rmap(page);
        if (!page_mapped(page))
            try_to_free_swap(page);
        put_page(page); // no finding: MMU010, the caller (try_to_merge_one_page) holds a reference and the old pte was read-only, so nothing is freed or written before _end; 0f10851ea475 (v4.19) dropped the 3.19 notify as useless

        pte_unmap_unlock(ptep, ptl);
        err = 0;
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    @out:
        return err;
    }
}
