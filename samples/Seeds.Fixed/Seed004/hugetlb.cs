using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace Seeds.Before.Seed004;

/// <summary>
/// mm/hugetlb.c before seed 004 (v3.6). hugetlb_cow: start/end are called inside the
/// <c>pte_same</c> block, under <c>mm->page_table_lock</c>. __unmap_hugepage_range: start/end
/// on the parameters <c>start</c>/<c>end</c> (seed 004 only renamed them to the mmun_ convention).
/// </summary>
public static class hugetlb
{
    public static void __unmap_hugepage_range(mmu_gather tlb, vm_area_struct vma,
                                              ulong start, ulong end,
                                              page? ref_page)
    {
        bool force_flush = false;
        mm_struct mm = vma.vm_mm;
        ulong address;
        pte_ptr? ptep;
        pte_t pte;
        page page;
        hstate h = hstate_vma(vma);
        ulong sz = huge_page_size(h);

        WARN_ON(!is_vm_hugetlb_page(vma));
        BUG_ON((start & ~huge_page_mask(h)) != 0);
        BUG_ON((end & ~huge_page_mask(h)) != 0);

        tlb_start_vma(tlb, vma);
        mmu_notifier_invalidate_range_start(mm, start, end);
    again:
        spin_lock(mm.page_table_lock);
        for (address = start; address < end; address += sz)
        {
            ptep = huge_pte_offset(mm, address);
            if (ptep == null)
                continue;

            /* huge_pmd_unshare(): no shared hugetlb page tables in Kernel.Mm */

            pte = huge_ptep_get(ptep);
            if (huge_pte_none(pte))
                continue;

            /* is_hugetlb_entry_hwpoisoned(): no hwpoison in Kernel.Mm */

            page = pte_page(pte);
            /*
             * If a reference page is supplied, it is because a specific
             * page is being unmapped, not a range. Ensure the page we
             * are about to unmap is the actual page of interest.
             */
            if (ref_page != null)
            {
                if (page != ref_page)
                    continue;

                /* set_vma_resv_flags(vma, HPAGE_RESV_UNMAPPED): no reservations in Kernel.Mm */
            }

            pte = huge_ptep_get_and_clear(mm, address, ptep);
            tlb_remove_tlb_entry(tlb, ptep, address);
            if (pte_dirty(pte))
                set_page_dirty(page);

            page_remove_rmap(page, true);
            force_flush = !__tlb_remove_page(tlb, page);
            if (force_flush)
                break;
            /* Bail out after unmapping reference page if supplied */
            if (ref_page != null)
                break;
        }
        spin_unlock(mm.page_table_lock);
        /*
         * mmu_gather ran out of room to batch pages, we break out of
         * the PTE lock to avoid doing the potential expensive TLB invalidate
         * and page-free while holding it.
         */
        if (force_flush)
        {
            force_flush = false;
            tlb_flush_mmu(tlb);
            if (address < end && ref_page == null)
                goto again;
        }
        mmu_notifier_invalidate_range_end(mm, start, end);
        tlb_end_vma(tlb, vma);
    }

    /*
     * Hugetlb_cow() should be called with page lock of the original hugepage held.
     * Called with hugetlb_instantiation_mutex held and pte_page locked so we
     * cannot race with other handlers or page migration.
     * Keep the pte_same checks anyway to make transition from the mutex easier.
     */
    [MustHoldLock("mm.page_table_lock")]
    public static vm_fault_t hugetlb_cow(mm_struct mm, vm_area_struct vma,
                                         ulong address, pte_ptr ptep, pte_t pte,
                                         page? pagecache_page)
    {
        hstate h = hstate_vma(vma);
        page old_page;
        page? new_page;
        bool avoidcopy;
        int outside_reserve = 0;

        old_page = pte_page(pte);

        /* If no-one else is actually using this page, avoid the copy
         * and just make the page writable */
        avoidcopy = page_mapcount(old_page) == 1;
        if (avoidcopy)
        {
            if (PageAnon(old_page))
                page_move_anon_rmap(old_page, vma, address);
            set_huge_ptep_writable(vma, address, ptep);
            return 0;
        }

        /* outside_reserve: no hugetlb reservations in Kernel.Mm (and so no unmap_ref_private) */

        page_cache_get(old_page);

        /* Drop page_table_lock as buddy allocator may be called */
        spin_unlock(mm.page_table_lock);
        new_page = alloc_huge_page(vma, address, outside_reserve);

        if (new_page == null)
        {
            page_cache_release(old_page);

            /* Caller expects lock to be held */
            spin_lock(mm.page_table_lock);
            return VM_FAULT_OOM;
        }

        /*
         * When the original hugepage is shared one, it does not have
         * anon_vma prepared.
         */
        if (unlikely(anon_vma_prepare(vma) != 0))
        {
            page_cache_release(new_page);
            page_cache_release(old_page);
            /* Caller expects lock to be held */
            spin_lock(mm.page_table_lock);
            return VM_FAULT_OOM;
        }

        copy_user_huge_page(new_page, old_page, address, vma,
                            pages_per_huge_page(h));
        __SetPageUptodate(new_page);

        ulong mmun_start = address & huge_page_mask(h);
        ulong mmun_end = (address & huge_page_mask(h)) + huge_page_size(h);
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        /*
         * Retake the page_table_lock to check for racing updates
         * before the page tables are altered
         */
        spin_lock(mm.page_table_lock);
        ptep = huge_pte_offset(mm, address & huge_page_mask(h))!;
        if (likely(pte_same(huge_ptep_get(ptep), pte)))
        {
            /* Break COW */
            huge_ptep_clear_flush(vma, address, ptep);
            set_huge_pte_at(mm, address, ptep,
                            make_huge_pte(vma, new_page, 1));
            page_remove_rmap(old_page, true);
            hugepage_add_new_anon_rmap(new_page, vma, address);
            /* Make the old page be freed below */
            new_page = old_page;
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        /* Caller expects lock to be held */
        spin_lock(mm.page_table_lock);
        page_cache_release(new_page);
        page_cache_release(old_page);
        return 0;
    }
}
