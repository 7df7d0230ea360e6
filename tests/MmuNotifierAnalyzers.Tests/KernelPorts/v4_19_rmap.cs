using System;
using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static Seeds.Common.page_vma_mapped;

namespace KernelPorts.V4_19;

/// <summary>
/// mm/rmap.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments, a 4.19 tree with the
/// owner's annotations, which are left out; 4.19 is confirmed by
/// <c>adjust_range_if_pmd_sharing_possible</c> and by the 0f10851ea475 "mm/mmu_notifier: avoid
/// double notification when it is useless" comments). Correct form: start/end around the walk,
/// <c>mmu_notifier_invalidate_range</c> under the PT lock after each clear that needs it, the page
/// released after it. Kernel.Mm has no THP migration entries, zone-device pages, hwpoison or
/// swap devices: those branches are stubbed or elided as noted.
/// </summary>
public static class rmap
{
    /* adjust_range_if_pmd_sharing_possible(): widen to the PUD if the hugetlb PMD may be shared; never here. */
    private static void adjust_range_if_pmd_sharing_possible(vm_area_struct vma, ref ulong start, ref ulong end)
    {
    }

    /* huge_pmd_unshare(): Kernel.Mm does not share hugetlb PMDs. */
    private static bool huge_pmd_unshare(mm_struct mm, ref ulong address, pte_ptr ptep) => false;

    /* should_defer_flush(): no batched TLB flush in Kernel.Mm. */
    private static bool should_defer_flush(mm_struct mm, ttu_flags flags) => false;

    /* set_tlb_ubc_flush_pending(): the batched flush it queues; nothing to queue here. */
    private static void set_tlb_ubc_flush_pending(mm_struct mm, bool writable)
    {
    }

    /* pte_unused(): s390 guest-unused hint; never set on x86. */
    private static bool pte_unused(pte_t pte) => false;

    /* userfaultfd_armed(): no userfaultfd in Kernel.Mm. */
    private static bool userfaultfd_armed(vm_area_struct vma) => false;

    /* PageSwapBacked()/PageSwapCache()/SetPageSwapBacked(): anon pages are swap-backed, none is in a swap cache. */
    private static bool PageSwapBacked(page page) => PageAnon(page);

    private static bool PageSwapCache(page page) => false;

    private static void SetPageSwapBacked(page page)
    {
    }

    /* swap_duplicate(): take a swap-count reference; no swap device, always succeeds. */
    private static int swap_duplicate(ulong entry) => 0;

    /* arch_unmap_one(): a no-op except on sparc ADI. */
    private static int arch_unmap_one(mm_struct mm, vm_area_struct vma, ulong addr, pte_t orig) => 0;

    /* swp_entry_to_pte(): a non-present swap pte; Kernel.Mm encodes it as none. */
    private static pte_t swp_entry_to_pte(ulong entry) => __pte(0);

    /* page_private(): the swap entry of a swap-cache page. */
    private static ulong page_private(page page) => 0;

    /*
     * @arg: enum ttu_flags will be passed to this argument
     */
    public static bool try_to_unmap_one(page page, vm_area_struct vma,
                                        ulong address, ttu_flags flags)
    {
        mm_struct mm = vma.vm_mm;
        var pvmw = new page_vma_mapped_walk_t
        {
            page = page,
            vma = vma,
            address = address,
        };
        pte_t pteval;
        page subpage;
        bool ret = true;
        ulong start = address, end;

        /* munlock has nothing to gain from examining un-locked vmas */
        if ((flags & ttu_flags.TTU_MUNLOCK) != 0 && (vma.vm_flags & VM_LOCKED) == 0)
            return true;

        /* TTU_MIGRATION of zone-device pages and TTU_SPLIT_HUGE_PMD: not modelled, elided */

        /*
         * For THP, we have to assume the worse case ie pmd for invalidation.
         * For hugetlb, it could be much worse if we need to do pud
         * invalidation in the case of pmd sharing.
         *
         * Note that the page can not be free in this function as call of
         * try_to_unmap() must hold a reference on the page.
         */
        end = Math.Min(vma.vm_end, start + (PAGE_SIZE << compound_order(page)));
        if (PageHuge(page))
        {
            /*
             * If sharing is possible, start and end will be adjusted
             * accordingly.
             */
            adjust_range_if_pmd_sharing_possible(vma, ref start, ref end);
        }
        mmu_notifier_invalidate_range_start(vma.vm_mm, start, end);

        while (page_vma_mapped_walk(pvmw))
        {
            /* CONFIG_ARCH_ENABLE_THP_MIGRATION: PMD-mapped THP migration entry, elided */

            /*
             * If the page is mlock()d, we cannot swap it out.
             * If it's recently referenced (perhaps page_referenced
             * skipped over this mm) then we should reactivate it.
             */
            if ((flags & ttu_flags.TTU_IGNORE_MLOCK) == 0)
            {
                if ((vma.vm_flags & VM_LOCKED) != 0)
                {
                    /* PTE-mapped THP are never mlocked */
                    if (!PageTransCompound(page))
                    {
                        /*
                         * Holding pte lock, we do *not* need
                         * mmap_sem here
                         */
                        mlock_vma_page(page);
                    }
                    ret = false;
                    page_vma_mapped_walk_done(pvmw);
                    break;
                }
                if ((flags & ttu_flags.TTU_MUNLOCK) != 0)
                    continue;
            }

            /* Unexpected PMD-mapped THP? */
            VM_BUG_ON(pvmw.pte == null);

            subpage = pfn_to_page(pte_pfn(ptep_get(pvmw.pte!)));
            address = pvmw.address;

            if (PageHuge(page))
            {
                if (huge_pmd_unshare(mm, ref address, pvmw.pte!))
                {
                    /*
                     * huge_pmd_unshare unmapped an entire PMD
                     * page.  There is no way of knowing exactly
                     * which PMDs may be cached for this mm, so
                     * we must flush them all.  start/end were
                     * already adjusted above to cover this range.
                     */
                    flush_cache_range(vma, start, end);
                    flush_tlb_range(vma, start, end);
                    mmu_notifier_invalidate_range(mm, start, end);

                    /*
                     * The ref count of the PMD page was dropped
                     * which is part of the way map counting
                     * is done for shared PMDs.
                     */
                    page_vma_mapped_walk_done(pvmw);
                    break;
                }
            }

            /* TTU_MIGRATION of a zone-device page: elided (no device memory in Kernel.Mm) */

            if ((flags & ttu_flags.TTU_IGNORE_ACCESS) == 0)
            {
                if (ptep_clear_flush_young_notify(vma, address,
                            pvmw.pte!) != 0)
                {
                    ret = false;
                    page_vma_mapped_walk_done(pvmw);
                    break;
                }
            }

            /* Nuke the page table entry. */
            flush_cache_page(vma, address, pte_pfn(ptep_get(pvmw.pte!)));
            if (should_defer_flush(mm, flags))
            {
                /*
                 * We clear the PTE but do not flush so potentially
                 * a remote CPU could still be writing to the page.
                 */
                pteval = ptep_get_and_clear(mm, address, pvmw.pte!);

                set_tlb_ubc_flush_pending(mm, pte_dirty(pteval));
            }
            else
            {
                pteval = ptep_clear_flush(vma, address, pvmw.pte!);
            }

            /* Move the dirty bit to the page. Now the pte is gone. */
            if (pte_dirty(pteval))
                set_page_dirty(page);

            /* Update high watermark before we lower rss */
            update_hiwater_rss(mm);

            /* PageHWPoison and the TTU_MIGRATION/TTU_SPLIT_FREEZE migration-entry branches: elided */
            if (pte_unused(pteval) && !userfaultfd_armed(vma))
            {
                /*
                 * The guest indicated that the page content is of no
                 * interest anymore. Simply discard the pte, vmscan
                 * will take care of the rest.
                 */
                dec_mm_counter(mm, mm_counter(page));
                /* We have to invalidate as we cleared the pte */
                mmu_notifier_invalidate_range(mm, address,
                                              address + PAGE_SIZE);
            }
            else if (PageAnon(page))
            {
                ulong entry = page_private(subpage);
                pte_t swp_pte;
                /*
                 * Store the swap location in the pte.
                 * See handle_pte_fault() ...
                 */
                if (unlikely(PageSwapBacked(page) != PageSwapCache(page)))
                {
                    WARN_ON(true);
                    ret = false;
                    /* We have to invalidate as we cleared the pte */
                    mmu_notifier_invalidate_range(mm, address,
                                                  address + PAGE_SIZE);
                    page_vma_mapped_walk_done(pvmw);
                    break;
                }

                /* MADV_FREE page check */
                if (!PageSwapBacked(page))
                {
                    if (!PageDirty(page))
                    {
                        /* Invalidate as we cleared the pte */
                        mmu_notifier_invalidate_range(mm,
                                address, address + PAGE_SIZE);
                        dec_mm_counter(mm, MM_ANONPAGES);
                        goto discard;
                    }

                    /*
                     * If the page was redirtied, it cannot be
                     * discarded. Remap the page to page table.
                     */
                    set_pte_at(mm, address, pvmw.pte!, pteval);
                    SetPageSwapBacked(page);
                    ret = false;
                    page_vma_mapped_walk_done(pvmw);
                    break;
                }

                if (swap_duplicate(entry) < 0)
                {
                    set_pte_at(mm, address, pvmw.pte!, pteval);
                    ret = false;
                    page_vma_mapped_walk_done(pvmw);
                    break;
                }
                if (arch_unmap_one(mm, vma, address, pteval) < 0)
                {
                    set_pte_at(mm, address, pvmw.pte!, pteval);
                    ret = false;
                    page_vma_mapped_walk_done(pvmw);
                    break;
                }
                /* mm->mmlist insertion under mmlist_lock: not modelled */
                dec_mm_counter(mm, MM_ANONPAGES);
                inc_mm_counter(mm, MM_SWAPENTS);
                swp_pte = swp_entry_to_pte(entry);
                set_pte_at(mm, address, pvmw.pte!, swp_pte);
                /* Invalidate as we cleared the pte */
                mmu_notifier_invalidate_range(mm, address,
                                              address + PAGE_SIZE);
            }
            else
            {
                /*
                 * We should not need to notify here as we reach this
                 * case only from freeze_page() itself only call from
                 * split_huge_page_to_list() so everything below must
                 * be true:
                 *   - page is not anonymous
                 *   - page is locked
                 *
                 * So as it is a locked file back page thus it can not
                 * be remove from the page cache and replace by a new
                 * page before mmu_notifier_invalidate_range_end so no
                 * concurrent thread might update its page table to
                 * point at new page while a device still is using this
                 * page.
                 */
                dec_mm_counter(mm, mm_counter_file(page));
            }
        discard:
            /*
             * No need to call mmu_notifier_invalidate_range() it has be
             * done above for all cases requiring it to happen under page
             * table lock before mmu_notifier_invalidate_range_end()
             */
            page_remove_rmap(subpage, PageHuge(page));
            put_page(page); // known false finding: MMU010 — the locked file-page branch drops its reference before _end on purpose (0f10851ea475: the page is locked, so it cannot be freed or replaced before _end); the rule cannot see the page lock
        }

        mmu_notifier_invalidate_range_end(vma.vm_mm, start, end);

        return ret;
    }
}
