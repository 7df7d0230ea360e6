using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static Seeds.Common.swap_results;

namespace Seeds.Before.Seed000;

/// <summary>
/// mm/rmap.c from seed 004 (v3.6, 2012) until the 2017 conversion (seeds 000/001): the PTE is
/// cleared under the PT lock and <c>mmu_notifier_invalidate_page</c> is called after
/// <c>pte_unmap_unlock</c>. Between the two, a secondary MMU still maps the page while the CPU
/// does not, and nothing stops it from faulting the address in again: the "2017 race"
/// (Jérôme Glisse: "a new page might have been setup for the virtual address before the call to
/// invalidate_page()").
/// </summary>
public static class rmap
{
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
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        pte = page_check_address(page, mm, address, out ptl, 1);
        if (pte == null)
            goto @out;

        if (pte_dirty(ptep_get(pte)) || pte_write(ptep_get(pte)))
        {
            pte_t entry;

            flush_cache_page(vma, address, pte_pfn(ptep_get(pte)));
            entry = ptep_clear_flush(vma, address, pte);
            entry = pte_wrprotect(entry);
            entry = pte_mkclean(entry);
            set_pte_at(mm, address, pte, entry);
            mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
            ret = 1;
        }

        pte_unmap_unlock(pte, ptl);
    @out:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return ret;
    }

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
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
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
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);

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
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
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

        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return ret;
    }
}
