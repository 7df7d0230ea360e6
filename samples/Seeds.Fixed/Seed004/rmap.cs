using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static Seeds.Common.swap_results;

namespace Seeds.Before.Seed004;

/// <summary>
/// mm/rmap.c as it was before 2ec74c3ef2d8 ("mm: move all mmu notifier invocations to be done
/// outside the PT lock", seed 004, v3.6): the PTE is cleared with the 2012
/// <c>ptep_clear_flush_notify</c>, which called <c>mmu_notifier_invalidate_page</c> under the PT lock.
/// </summary>
public static partial class rmap
{
    /*
     * Subfunctions of page_mkclean: the caller (page_mkclean_file) walks every vma that maps
     * the page and calls this with the page's address in that vma.
     */
    public static int page_mkclean_one(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr? pte;
        spinlock_t ptl;
        int ret = 0;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        pte = page_check_address(page, mm, address, out ptl, 1);
        if (pte == null)
            goto @out;

        if (pte_dirty(ptep_get(pte)) || pte_write(ptep_get(pte)))
        {
            pte_t entry;

            flush_cache_page(vma, address, pte_pfn(ptep_get(pte)));
            entry = ptep_clear_flush(vma, address, pte);
            mmu_notifier_invalidate_range(vma.vm_mm, mmun_start, mmun_end);
            entry = pte_wrprotect(entry);
            entry = pte_mkclean(entry);
            set_pte_at(mm, address, pte, entry);
            ret = 1;
        }

        pte_unmap_unlock(pte, ptl);
    @out:
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return ret;
    }

    /*
     * Subfunctions of try_to_unmap: try_to_unmap_one called
     * repeatedly from try_to_unmap_ksm, try_to_unmap_anon or try_to_unmap_file.
     */
    public static int try_to_unmap_one(page page, vm_area_struct vma,
                                       ulong address, ttu_flags flags)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr? pte;
        pte_t pteval;
        spinlock_t ptl;
        int ret = SWAP_AGAIN;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        pte = page_check_address(page, mm, address, out ptl, 0);
        if (pte == null)
            goto @out;

        /*
         * If the page is mlock()d, we cannot swap it out.
         * If it's recently referenced (perhaps page_referenced
         * skipped over this mm) then we should reactivate it.
         */
        if ((flags & ttu_flags.TTU_IGNORE_MLOCK) == 0)
        {
            if ((vma.vm_flags & VM_LOCKED) != 0)
                goto out_mlock;

            if (TTU_ACTION(flags) == ttu_flags.TTU_MUNLOCK)
                goto out_unmap;
        }
        if ((flags & ttu_flags.TTU_IGNORE_ACCESS) == 0)
        {
            if (ptep_clear_flush_young_notify(vma, address, pte) != 0)
            {
                ret = SWAP_FAIL;
                goto out_unmap;
            }
        }

        /* Nuke the page table entry. */
        flush_cache_page(vma, address, page_to_pfn(page));
        pteval = ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_range(vma.vm_mm, mmun_start, mmun_end);

        /* Move the dirty bit to the physical page now the pte is gone. */
        if (pte_dirty(pteval))
            set_page_dirty(page);

        /* Update high watermark before we lower rss */
        update_hiwater_rss(mm);

        /*
         * Kernel.Mm has no swap, no hwpoison and no page cache: an anonymous page is dropped
         * from this mm as the file-page branch does (dec the counter, leave the pte none), so a
         * later fault maps a fresh page. The swap-entry / migration-entry branches are elided.
         */
        if (PageAnon(page))
            dec_mm_counter(mm, MM_ANONPAGES);
        else
            dec_mm_counter(mm, MM_FILEPAGES);

        page_remove_rmap(page);
        page_cache_release(page);

    out_unmap:
        pte_unmap_unlock(pte, ptl);
    @out:
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return ret;

    out_mlock:
        pte_unmap_unlock(pte, ptl);

        /*
         * We need mmap_sem locking, Otherwise VM_LOCKED check makes
         * unstable result and race. Plus, We can't wait here because
         * we now hold anon_vma->mutex or mapping->i_mmap_mutex.
         * if trylock failed, the page remain in evictable lru and later
         * vmscan could retry to move the page to unevictable lru if the
         * page is actually mlocked.
         */
        if (down_read_trylock(vma.vm_mm.mmap_sem))
        {
            if ((vma.vm_flags & VM_LOCKED) != 0)
            {
                mlock_vma_page(page);
                ret = SWAP_MLOCK;
            }
            up_read(vma.vm_mm.mmap_sem);
        }

        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return ret;
    }

    /*
     * objrmap doesn't work for nonlinear VMAs because the assumption that
     * offset-into-file correlates with offset-into-virtual-addresses does not hold.
     * Consequently, given a particular page and its ->index, we cannot locate the
     * ptes which are mapping that page without an exhaustive linear search.
     *
     * So what this code does is a mini "virtual scan" of each nonlinear VMA which
     * maps the file to which the target page belongs. The ->vm_private_data field
     * holds the current cursor into that scan. Successive searches will circulate
     * around the vma's virtual address space.
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
        ulong end;
        int ret = SWAP_AGAIN;
        bool locked_vma = false;

        address = (vma.vm_start + cursor) & CLUSTER_MASK;
        end = address + CLUSTER_SIZE;
        if (address < vma.vm_start)
            address = vma.vm_start;
        if (end > vma.vm_end)
            end = vma.vm_end;

        /* pgd_offset/pud_offset/pmd_offset in 2012: mm_find_pmd is the same walk */
        pmd = mm_find_pmd(mm, address);
        if (pmd == null)
            return ret;

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

        ulong mmun_start = address;
        ulong mmun_end = end;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
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
            pteval = ptep_clear_flush(vma, address, pte);
            mmu_notifier_invalidate_range(vma.vm_mm, address, address + PAGE_SIZE);

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
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        if (locked_vma)
            up_read(vma.vm_mm.mmap_sem);
        return ret;
    }
}
