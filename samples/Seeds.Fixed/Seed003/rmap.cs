using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static Seeds.Common.page_vma_mapped;

namespace Seeds.Before.Seed003;

/// <summary>
/// mm/rmap.c after aac2fea94f7a ("rmap: do not call mmu_notifier_invalidate_page() under ptl"),
/// the minus side of seed 003 (f8dafe8687d4, its revert, v4.13-rc). One
/// <c>mmu_notifier_invalidate_range</c> after the walk replaces the per-PTE invalidate_page, and
/// Andrea Arcangeli's three bugs are all here: (1) invalidate_range alone is a no-op for
/// start/end notifiers such as KVM — there is no start/end around the walk; (2)
/// <c>address + (1UL &lt;&lt; compound_order(page))</c> counts pages, not bytes; (3) the address is
/// not aligned to the compound page.
/// </summary>
public static class rmap
{
    /*
     * arg: page_mkclean's int *cleaned, a ref here.
     */
    public static bool page_mkclean_one(page page, vm_area_struct vma,
                                        ulong address, ref int cleaned)
    {
        var pvmw = new page_vma_mapped_walk_t
        {
            page = page,
            vma = vma,
            address = address,
            flags = PVMW_SYNC,
        };
        bool invalidation_needed = false;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = (address & ~((PAGE_SIZE << compound_order(page)) - 1)) + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        while (page_vma_mapped_walk(pvmw))
        {
            int ret = 0;
            if (pvmw.pte != null)
            {
                pte_t entry;
                pte_ptr pte = pvmw.pte;

                if (!pte_dirty(ptep_get(pte)) && !pte_write(ptep_get(pte)))
                    continue;

                flush_cache_page(vma, pvmw.address, pte_pfn(ptep_get(pte)));
                entry = ptep_clear_flush(vma, pvmw.address, pte);
                entry = pte_wrprotect(entry);
                entry = pte_mkclean(entry);
                set_pte_at(vma.vm_mm, pvmw.address, pte, entry);
                ret = 1;
            }
            else
            {
                /* CONFIG_TRANSPARENT_HUGE_PAGECACHE */
                pmd_ptr pmd = pvmw.pmd!;
                pmd_t entry;

                if (!pmd_dirty(pmdp_get(pmd)) && !pmd_write(pmdp_get(pmd)))
                    continue;

                flush_cache_page(vma, pvmw.address, page_to_pfn(page));
                entry = pmdp_huge_clear_flush(vma, pvmw.address, pmd);
                entry = pmd_wrprotect(entry);
                entry = pmd_mkclean(entry);
                set_pmd_at(vma.vm_mm, pvmw.address, pmd, entry);
                ret = 1;
            }

            if (ret != 0)
            {
                cleaned++;
                invalidation_needed = true;
            }
        }

        if (invalidation_needed)
        {
            ulong haddr = address & ~((PAGE_SIZE << compound_order(page)) - 1);
            mmu_notifier_invalidate_range(vma.vm_mm, haddr,
                    haddr + (PAGE_SIZE << compound_order(page)));
        }

        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return true;
    }

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
        bool ret = true, invalidation_needed = false;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */

        /* munlock has nothing to gain from examining un-locked vmas */
        if ((flags & ttu_flags.TTU_MUNLOCK) != 0 && (vma.vm_flags & VM_LOCKED) == 0)
            return true;
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = (address & ~((PAGE_SIZE << compound_order(page)) - 1)) + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        while (page_vma_mapped_walk(pvmw))
        {
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

            if ((flags & ttu_flags.TTU_IGNORE_ACCESS) == 0)
            {
                if (ptep_clear_flush_young_notify(vma, pvmw.address,
                            pvmw.pte!) != 0)
                {
                    ret = false;
                    page_vma_mapped_walk_done(pvmw);
                    break;
                }
            }

            /* Nuke the page table entry. */
            flush_cache_page(vma, pvmw.address, pte_pfn(ptep_get(pvmw.pte!)));
            /* should_defer_flush(): no batched TLB flush in Kernel.Mm, always flush now */
            pteval = ptep_clear_flush_notify(vma, pvmw.address, pvmw.pte!);

            /* Move the dirty bit to the page. Now the pte is gone. */
            if (pte_dirty(pteval))
                set_page_dirty(page);

            /* Update high watermark before we lower rss */
            update_hiwater_rss(mm);

            /*
             * Kernel.Mm has no swap, hwpoison or migration entries: every page takes the
             * "freeable page" path (MADV_FREE for anon, clean file page otherwise).
             */
            dec_mm_counter(mm, mm_counter(page));

            /* discard: */
            page_remove_rmap(subpage, PageHuge(page));
            put_page(page);
            invalidation_needed = true;
        }

        if (invalidation_needed)
        {
            ulong haddr = address & ~((PAGE_SIZE << compound_order(page)) - 1);
            mmu_notifier_invalidate_range(mm, haddr,
                    haddr + (PAGE_SIZE << compound_order(page)));
        }
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return ret;
    }
}
