using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V4_19;

/// <summary>
/// mm/huge_memory.c and mm/khugepaged.c, Linux v4.19: __split_huge_pmd and the notifier part of
/// collapse_huge_page. Correct forms: start before the PMD lock on the huge page's aligned range
/// (<c>haddr = address &amp; HPAGE_PMD_MASK</c>, <c>+ HPAGE_PMD_SIZE</c>: bytes, aligned, no
/// MMU007/MMU008), the end after the unlock on every path; __split_huge_pmd closes with
/// <c>_only_end</c> (0f10851ea475, v4.19: the split needs no <c>->invalidate_range</c>).
/// Kernel.Mm has no migration PMDs, devmap or mlock accounting: those are stubbed.
/// Ported from that release's mainline source; no stored copy of the file at that version was
/// read for it (the index holds none), so the C may differ in comments and layout.
/// </summary>
public static class huge_memory
{
    /*
     * mmu_notifier_invalidate_range_only_end(mm, start, end): _end without the invalidate_range
     * callback; Kernel.Mm has only the 4.20 range form.
     */
    [ClosesInvalidationRange]
    private static void mmu_notifier_invalidate_range_only_end(mm_struct mm, ulong start, ulong end) =>
        mmu_notifier_invalidate_range_end(mm, start, end);

    /* pmd_devmap()/is_pmd_migration_entry(): no device or migration PMDs in Kernel.Mm. */
    private static bool pmd_devmap(pmd_t pmd) => false;

    private static bool is_pmd_migration_entry(pmd_t pmd) => false;

    /* clear_page_mlock(): mlock accounting; Seeds.Common keeps the flag only. */
    private static void clear_page_mlock(page page) => munlock_vma_page(page);

    /* __split_huge_pmd_locked(): rewrites the huge PMD as a page table of PTEs to the same page (under the PMD lock). */
    private static void __split_huge_pmd_locked(vm_area_struct vma, pmd_ptr pmd, ulong haddr, bool freeze)
    {
    }

    /* pmdp_collapse_flush(): pmdp_huge_get_and_clear + flush_tlb_range of the PMD's page table. */
    private static pmd_t pmdp_collapse_flush(vm_area_struct vma, ulong address, pmd_ptr pmdp)
    {
        pmd_t pmd = pmdp_huge_get_and_clear(vma.vm_mm, address, pmdp);
        flush_tlb_range(vma, address, address + HPAGE_PMD_SIZE);
        return pmd;
    }

    private const int SCAN_FAIL = 1;
    private const int SCAN_SUCCEED = 0;

    public static void __split_huge_pmd(vm_area_struct vma, pmd_ptr pmd,
                                        ulong address, bool freeze, page? page)
    {
        spinlock_t ptl;
        mm_struct mm = vma.vm_mm;
        ulong haddr = address & HPAGE_PMD_MASK;

        mmu_notifier_invalidate_range_start(mm, haddr, haddr + HPAGE_PMD_SIZE);
        ptl = pmd_lock(mm, pmd);

        /*
         * If caller asks to setup a migration entries, we need a page to check
         * pmd against. Otherwise we can end up replacing wrong page.
         */
        VM_BUG_ON(freeze && page == null);
        if (page != null && page != pmd_page(pmdp_get(pmd)))
            goto @out;

        if (pmd_trans_huge(pmdp_get(pmd)))
        {
            page = pmd_page(pmdp_get(pmd));
            if (PageMlocked(page))
                clear_page_mlock(page);
        }
        else if (!(pmd_devmap(pmdp_get(pmd)) || is_pmd_migration_entry(pmdp_get(pmd))))
            goto @out;
        __split_huge_pmd_locked(vma, pmd, haddr, freeze);
    @out:
        spin_unlock(ptl);
        /*
         * No need to double call mmu_notifier->invalidate_range() callback.
         * They are 3 cases to consider inside __split_huge_pmd_locked():
         *  1) pmdp_huge_clear_flush_notify() call invalidate_range() obvious
         *  2) __split_huge_zero_page_pmd() read only zero page and any write
         *    fault will trigger a flush_notify before pointing to a new page
         *    (it is fine if the secondary mmu keeps pointing to the old zero
         *    page in the meantime)
         *  3) Split a huge pmd into pte pointing to the same page. No need
         *     to invalidate secondary tlb entry they are all still valid.
         *     any further changes to individual pte will notify. So no need
         *     to call mmu_notifier->invalidate_range()
         */
        mmu_notifier_invalidate_range_only_end(mm, haddr, haddr +
                                               HPAGE_PMD_SIZE);
    }

    /*
     * khugepaged's collapse_huge_page (mm/khugepaged.c): its opening VM_BUG_ON, then from the
     * page-table lock of the range on; the allocation, charge, revalidation and the copy into the
     * new huge page before and after are elided (they touch no notifier).
     */
    public static int collapse_huge_page_isolate(mm_struct mm, vm_area_struct vma,
                                                 ulong address, pmd_ptr pmd)
    {
        pmd_t _pmd;
        pte_ptr pte;
        spinlock_t pmd_ptl, pte_ptl;
        bool isolated;
        int result = SCAN_FAIL;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        VM_BUG_ON((address & ~HPAGE_PMD_MASK) != 0);

        anon_vma_lock_write(vma.anon_vma!);

        pte = pte_offset_map(pmd, address);
        pte_ptl = pte_lockptr(mm, pmd);

        mmun_start = address;
        mmun_end = address + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        pmd_ptl = pmd_lock(mm, pmd); /* probably unnecessary */
        /*
         * After this gup_fast can't run anymore. This also removes
         * any huge TLB entry from the CPU so we won't allow
         * huge and small TLB entries for the same virtual address
         * to avoid the risk of CPU bugs in that area.
         */
        _pmd = pmdp_collapse_flush(vma, address, pmd);
        spin_unlock(pmd_ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);

        spin_lock(pte_ptl);
        isolated = __collapse_huge_page_isolate(vma, address, pte);
        spin_unlock(pte_ptl);

        if (unlikely(!isolated))
        {
            pte_unmap(pte);
            spin_lock(pmd_ptl);
            BUG_ON(!pmd_none(pmdp_get(pmd)));
            /*
             * We can only use set_pmd_at when establishing
             * hugepmds and never for establishing regular pmds that
             * points to regular pagetables. Use pmd_populate for that
             */
            pmd_populate(mm, pmd, pmd_pgtable(_pmd));
            spin_unlock(pmd_ptl);
            anon_vma_unlock_write(vma.anon_vma!);
            result = SCAN_FAIL;
            goto @out;
        }

        /*
         * All pages are isolated and locked so anon_vma rmap
         * can't run anymore.
         */
        anon_vma_unlock_write(vma.anon_vma!);
        result = SCAN_SUCCEED;
    @out:
        return result;
    }
}
