using System;
using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static Seeds.Common.page_vma_mapped;
using static Seeds.Common.swap_results;

namespace Seeds.After;

/// <summary>
/// mm/rmap.c as the kernel converged after every seed (the 2017 conversion, 369ea8242c0f "mm/rmap:
/// update to new mmu_notifier semantic v2", in the 004 mmun_ convention): invalidate_range_start
/// before the walk takes the PT lock, <c>mmu_notifier_invalidate_range</c> right after each PTE
/// update under the lock (for secondary TLBs that share the CPU page table), and
/// invalidate_range_end after the walk dropped the lock. The range covers the whole (compound)
/// page in bytes, aligned down to its size: <c>PAGE_SIZE &lt;&lt; compound_order(page)</c>.
/// </summary>
public static class rmap
{
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
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        /*
         * We have to assume the worse case ie pmd for invalidation. Note that
         * the page can not be free from this function.
         */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = Math.Min(vma.vm_end, mmun_start + (PAGE_SIZE << compound_order(page)));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);

        while (page_vma_mapped_walk(pvmw))
        {
            ulong cstart, cend;
            int ret = 0;

            cstart = address = pvmw.address;
            cend = cstart;
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
                cend = cstart + PAGE_SIZE;
                ret = 1;
            }
            else
            {
                /* CONFIG_TRANSPARENT_HUGE_PAGECACHE */
                pmd_ptr pmd = pvmw.pmd!;
                pmd_t entry;

                if (!pmd_dirty(pmdp_get(pmd)) && !pmd_write(pmdp_get(pmd)))
                    continue;

                flush_cache_page(vma, address, page_to_pfn(page));
                entry = pmdp_huge_clear_flush(vma, address, pmd);
                entry = pmd_wrprotect(entry);
                entry = pmd_mkclean(entry);
                set_pmd_at(vma.vm_mm, address, pmd, entry);
                cstart &= HPAGE_PMD_MASK;
                cend = cstart + HPAGE_PMD_SIZE;
                ret = 1;
            }

            if (ret != 0)
            {
                mmu_notifier_invalidate_range(vma.vm_mm, cstart, cend);
                cleaned++;
            }
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
        bool ret = true;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        /* munlock has nothing to gain from examining un-locked vmas */
        if ((flags & ttu_flags.TTU_MUNLOCK) != 0 && (vma.vm_flags & VM_LOCKED) == 0)
            return true;

        /*
         * We have to assume the worse case ie pmd for invalidation. Note that
         * the page can not be free in this function as call of try_to_unmap()
         * must hold a reference on the page.
         */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = Math.Min(vma.vm_end, mmun_start + (PAGE_SIZE << compound_order(page)));
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
            address = pvmw.address;

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
            /* should_defer_flush(): no batched TLB flush in Kernel.Mm, always flush now */
            pteval = ptep_clear_flush(vma, address, pvmw.pte!);
            /*
             * Secondary TLBs that share the CPU page table (invalidate_range users) must drop
             * the translation before the PT lock is released and before the page can go.
             */
            mmu_notifier_invalidate_range(mm, address, address + PAGE_SIZE);

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
        }

        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);

        return ret;
    }

    /*
     * try_to_unmap_cluster() in its last form (v3.18: nonlinear mappings, and with them this
     * function, were removed in v4.0): seed 004's bracket, the PTE cleared with the notifying
     * clear so each page is invalidated before its reference is dropped.
     */
    public static int try_to_unmap_cluster(ulong cursor, ref uint mapcount,
                                           vm_area_struct vma, page check_page)
    {
        mm_struct mm = vma.vm_mm;
        pmd_ptr? pmd;
        pte_ptr pte;
        pte_t pteval;
        spinlock_t ptl;
        page? page;
        ulong address;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */
        ulong end;
        int ret = SWAP_AGAIN;
        bool locked_vma = false;

        address = (vma.vm_start + cursor) & CLUSTER_MASK;
        end = address + CLUSTER_SIZE;
        if (address < vma.vm_start)
            address = vma.vm_start;
        if (end > vma.vm_end)
            end = vma.vm_end;

        pmd = mm_find_pmd(mm, address);
        if (pmd == null)
            return ret;

        mmun_start = address;
        mmun_end = end;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);

        /*
         * If we can acquire the mmap_sem for read, and vma is VM_LOCKED,
         * keep the sem while scanning the cluster for mlocking pages.
         */
        if (down_read_trylock(vma.vm_mm.mmap_sem))
        {
            locked_vma = (vma.vm_flags & VM_LOCKED) != 0;
            if (!locked_vma)
                up_read(vma.vm_mm.mmap_sem); /* don't need it */
        }

        pte = pte_offset_map_lock(mm, pmd, address, out ptl);

        /* Update high watermark before we lower rss */
        update_hiwater_rss(mm);

        for (; address < end; address += PAGE_SIZE)
        {
            pte = pte_offset_map(pmd, address); /* pte++ */
            if (!pte_present(ptep_get(pte)))
                continue;
            page = vm_normal_page(vma, address, ptep_get(pte));
            /* BUG_ON(!page || PageAnon(page)): Kernel.Mm has no page cache, the scan runs on anon pages */
            BUG_ON(page == null);

            if (locked_vma)
            {
                mlock_vma_page(page!);   /* no-op if already mlocked */
                if (page == check_page)
                    ret = SWAP_MLOCK;
                continue;   /* don't unmap */
            }

            if (ptep_clear_flush_young_notify(vma, address, pte) != 0)
                continue;

            /* Nuke the page table entry. */
            flush_cache_page(vma, address, pte_pfn(ptep_get(pte)));
            pteval = ptep_clear_flush_notify(vma, address, pte);

            /* If nonlinear, store the file page offset in the pte: never, the vma is linear here */

            /* Move the dirty bit to the physical page now the pte is gone. */
            if (pte_dirty(pteval))
                set_page_dirty(page!);

            page_remove_rmap(page!);
            page_cache_release(page!);
            dec_mm_counter(mm, MM_FILEPAGES);
            mapcount--;
        }
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        if (locked_vma)
            up_read(vma.vm_mm.mmap_sem);
        return ret;
    }
}
