using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace Seeds.Before.Seed002;

/// <summary>
/// mm/memory.c between seed 004 (2ec74c3ef2d8, v3.6) and seed 002 (7ea08aa84dc5): do_wp_page
/// installs the COW copy with <c>set_pte_at_notify</c> (change_pte) with no invalidate_range_start
/// / _end around it, and calls <c>mmu_notifier_invalidate_page</c> after dropping the PT lock.
/// </summary>
public static class memory
{
    /*
     * This routine handles present pages, when users try to write
     * to a shared page. It is done by copying the page to a new address
     * and decrementing the shared-page counter for the old page.
     *
     * Note that this routine assumes that the protection checks have been
     * done by the caller (the low-level page fault routine in most cases).
     * Thus we can safely just mark it writable once we've done any necessary
     * COW.
     *
     * We also mark the page dirty at this point even though the page will
     * change only once the write actually happens. This avoids a few races,
     * and potentially makes it more efficient.
     *
     * We enter with non-exclusive mmap_sem (to exclude vma changes,
     * but allow concurrent faults), with pte both mapped and locked.
     * We return with mmap_sem still held, but pte unmapped and unlocked.
     */
    [ReleasesLock("ptl")]
    public static vm_fault_t do_wp_page(mm_struct mm, vm_area_struct vma,
                                        ulong address, pte_ptr page_table, pmd_ptr pmd,
                                        spinlock_t ptl, pte_t orig_pte)
    {
        page? old_page, new_page = null;
        pte_t entry;
        vm_fault_t ret = 0;
        ulong mmun_start2; /* For mmu_notifiers */
        ulong mmun_end2;   /* For mmu_notifiers */
        ulong mmun_start = 0; /* For mmu_notifiers */
        ulong mmun_end = 0;   /* For mmu_notifiers */
        bool mmun_called = false; /* For mmu_notifiers */

        old_page = vm_normal_page(vma, address, orig_pte);
        if (old_page == null)
        {
            /*
             * VM_MIXEDMAP !pfn_valid() case
             *
             * We should not cow pages in a shared writeable mapping.
             * Just mark the pages writable as we can't do any dirty
             * accounting on raw pfn maps.
             */
            if ((vma.vm_flags & (VM_WRITE | VM_SHARED)) ==
                                (VM_WRITE | VM_SHARED))
                goto reuse;
            goto gotten;
        }

        /*
         * Take out anonymous pages first, anonymous shared vmas are
         * not dirty accountable.
         */
        if (PageAnon(old_page) && !PageKsm(old_page))
        {
            if (!trylock_page(old_page))
            {
                page_cache_get(old_page);
                pte_unmap_unlock(page_table, ptl);
                lock_page(old_page);
                page_table = pte_offset_map_lock(mm, pmd, address,
                                                 out ptl);
                if (!pte_same(ptep_get(page_table), orig_pte))
                {
                    unlock_page(old_page);
                    goto unlock;
                }
                page_cache_release(old_page);
            }
            if (reuse_swap_page(old_page))
            {
                /*
                 * The page is all ours.  Move it to our anon_vma so
                 * the rmap code will not search our parent or siblings.
                 * Protected against the rmap code by the page lock.
                 */
                page_move_anon_rmap(old_page, vma, address);
                unlock_page(old_page);
                goto reuse;
            }
            unlock_page(old_page);
        }
        /* else if shared writable: ->page_mkwrite and dirty accounting. Kernel.Mm has no file
           mappings, so that branch (and its dirty_page / unwritable_page exits) is elided. */

        /*
         * Ok, we need to copy. Oh, well..
         */
        page_cache_get(old_page);
    gotten:
        pte_unmap_unlock(page_table, ptl);

        if (unlikely(anon_vma_prepare(vma) != 0))
            goto oom;

        if (is_zero_pfn(pte_pfn(orig_pte)))
        {
            new_page = alloc_zeroed_user_highpage_movable(vma, address);
            if (new_page == null)
                goto oom;
        }
        else
        {
            new_page = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, address);
            if (new_page == null)
                goto oom;
            cow_user_page(new_page, old_page!, address, vma);
        }
        __SetPageUptodate(new_page);
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmun_called = true;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);

        /* mem_cgroup_newpage_charge(): no memory cgroups in Kernel.Mm */

        /*
         * Re-check the pte - we dropped the lock
         */
        page_table = pte_offset_map_lock(mm, pmd, address, out ptl);
        if (likely(pte_same(ptep_get(page_table), orig_pte)))
        {
            if (old_page != null)
            {
                if (!PageAnon(old_page))
                {
                    dec_mm_counter_fast(mm, MM_FILEPAGES);
                    inc_mm_counter_fast(mm, MM_ANONPAGES);
                }
            }
            else
                inc_mm_counter_fast(mm, MM_ANONPAGES);
            flush_cache_page(vma, address, pte_pfn(orig_pte));
            entry = mk_pte(new_page, vma.vm_page_prot);
            entry = maybe_mkwrite(pte_mkdirty(entry), vma);
            /*
             * Clear the pte entry and flush it first, before updating the
             * pte with the new entry. This will avoid a race condition
             * seen in the presence of one thread doing SMC and another
             * thread doing COW.
             */
            ptep_clear_flush(vma, address, page_table);
            page_add_new_anon_rmap(new_page, vma, address);
            /*
             * We call the notify macro here because, when using secondary
             * mmu page tables (such as kvm shadow page tables), we want the
             * new page to be mapped directly into the secondary page table.
             */
            set_pte_at_notify(mm, address, page_table, entry);
            update_mmu_cache(vma, address, page_table);
            if (old_page != null)
            {
                /*
                 * Only after switching the pte to the new page may
                 * we remove the mapcount here. Otherwise another
                 * process may come and find the rmap count decremented
                 * before the pte is switched to the new page, and
                 * "reuse" the old page writing into it while our pte
                 * here still points into it and can be read by other
                 * threads.
                 */
                page_remove_rmap(old_page);
            }

            /* Free the old page.. */
            new_page = old_page;
            ret |= VM_FAULT_WRITE;
        }
        /* else mem_cgroup_uncharge_page(new_page) */

    unlock:
        pte_unmap_unlock(page_table, ptl);
        if (mmun_called)
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        if (new_page != null)
        {
            if (new_page == old_page)
            {
                /* cow happened, notify before releasing old_page */
                mmun_start2 = address & PAGE_MASK;
                mmun_end2 = mmun_start2 + PAGE_SIZE;
                mmu_notifier_invalidate_range_start(mm, mmun_start2, mmun_end2);
                mmu_notifier_invalidate_range_end(mm, mmun_start2, mmun_end2);
            }
            page_cache_release(new_page);
        }
        if (old_page != null)
        {
            /*
             * Don't let another task, with possibly unlocked vma,
             * keep the mlocked page.
             */
            if ((ret & VM_FAULT_WRITE) != 0 && (vma.vm_flags & VM_LOCKED) != 0)
            {
                lock_page(old_page);    /* LRU manipulation */
                munlock_vma_page(old_page);
                unlock_page(old_page);
            }
            page_cache_release(old_page);
        }
        return ret;

    reuse:
        flush_cache_page(vma, address, pte_pfn(orig_pte));
        entry = pte_mkyoung(orig_pte);
        entry = maybe_mkwrite(pte_mkdirty(entry), vma);
        if (ptep_set_access_flags(vma, address, page_table, entry, 1) != 0)
            update_mmu_cache(vma, address, page_table);
        pte_unmap_unlock(page_table, ptl);
        if (mmun_called)
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        ret |= VM_FAULT_WRITE;
        return ret;

    oom:
        if (old_page != null)
            page_cache_release(old_page);
        return VM_FAULT_OOM;
    }
}
