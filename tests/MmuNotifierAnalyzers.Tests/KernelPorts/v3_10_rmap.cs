using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static Seeds.Common.swap_results;

namespace KernelPorts.V3_10;

/// <summary>
/// mm/rmap.c, Linux v3.10.9 (read from AndreiLux/ref-3.10, Makefile VERSION 3 PATCHLEVEL 10
/// SUBLEVEL 9; that vendor tree's CONFIG_ZOOM_KILLER counters are left out).
/// <c>page_mkclean_one</c> and <c>try_to_unmap_one</c> notify with <c>invalidate_page</c> after the
/// PT lock is dropped (removed in 4.13 by 369ea8242c0f "mm/rmap: update to new mmu_notifier
/// semantic v2"); <c>try_to_unmap_one</c> drops the page (<c>page_cache_release</c>) before that
/// notification. <c>try_to_unmap_cluster</c> is the buggy form of 34ee645e83b6 ("mmu_notifier: call
/// mmu_notifier_invalidate_range() from VMM", v3.19): a plain <c>ptep_clear_flush</c>, the page
/// released under the PT lock, and only <c>invalidate_range_end</c> after the loop; 3.19 made the
/// clear <c>ptep_clear_flush_notify</c>.
/// </summary>
public static class rmap
{
    /* pgoff_to_pte(): a nonlinear file pte; Kernel.Mm has no file ptes, the slot stays none. */
    private static pte_t pgoff_to_pte(ulong pgoff) => __pte(0);

    /* page->index: Kernel.Mm pages carry no file index; the linear index stands for it. */
    private static ulong page_index(page page, vm_area_struct vma, ulong address) => linear_page_index(vma, address);

    public static int page_mkclean_one(page page, vm_area_struct vma,
                                       ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr? pte;
        spinlock_t ptl;
        int ret = 0;

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
            ret = 1;
        }

        pte_unmap_unlock(pte, ptl);

        if (ret != 0)
            mmu_notifier_invalidate_page(mm, address); // expect: MMU001
    @out:
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

        /* Move the dirty bit to the physical page now the pte is gone. */
        if (pte_dirty(pteval))
            set_page_dirty(page);

        /* Update high watermark before we lower rss */
        update_hiwater_rss(mm);

        /*
         * Kernel.Mm has no swap, hwpoison or migration entries: the hwpoison, swap-cache and
         * migration branches are elided; the page leaves this mm as a clean file page does.
         */
        if (PageAnon(page))
            dec_mm_counter(mm, MM_ANONPAGES);
        else
            dec_mm_counter(mm, MM_FILEPAGES);

        page_remove_rmap(page);
        page_cache_release(page); // expect: MMU010

    out_unmap:
        pte_unmap_unlock(pte, ptl);
        if (ret != SWAP_FAIL)
            mmu_notifier_invalidate_page(mm, address); // expect: MMU001
    @out:
        return ret;

    out_mlock:
        pte_unmap_unlock(pte, ptl);

        /*
         * We need mmap_sem locking, Otherwise VM_LOCKED check makes
         * unstable result and race. Plus, We can't wait here because
         * we now hold anon_vma->rwsem or mapping->i_mmap_mutex.
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
        return ret;
    }

    /*
     * A mini "virtual scan" of a nonlinear vma: unmap (or mlock) the ptes of one
     * CLUSTER_SIZE cluster at the vma's cursor.
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
            pteval = ptep_clear_flush(vma, address, pte);

            /* If nonlinear, store the file page offset in the pte. */
            if (page_index(page!, vma, address) != linear_page_index(vma, address))
                set_pte_at(mm, address, pte, pgoff_to_pte(page_index(page!, vma, address)));

            /* Move the dirty bit to the physical page now the pte is gone. */
            if (pte_dirty(pteval))
                set_page_dirty(page!);

            page_remove_rmap(page!);
            page_cache_release(page!); // expect: MMU010
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
