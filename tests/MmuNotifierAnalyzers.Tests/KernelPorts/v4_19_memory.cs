using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_19;

/// <summary>
/// mm/memory.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments at 0c8fdfc73a8e; 4.19 as for
/// that tree's hugetlb.c, and here by <c>vm_fault_t</c> returns (4.17+) with
/// <c>mmu_notifier_invalidate_range_only_end(mm, start, end)</c> (0f10851ea475, 4.19; 4.20 takes a
/// range struct). The owner's comments are left out). Correct form of wp_page_copy:
/// <c>ptep_clear_flush_notify</c> and <c>set_pte_at_notify</c> inside start/end, the old page
/// released after the notifying clear.
/// </summary>
public static class memory
{
    /* struct vm_fault: the fields wp_page_copy uses. */
    public sealed class vm_fault
    {
        public vm_area_struct vma = null!;
        public ulong address;
        public pmd_ptr pmd = null!;
        public pte_ptr pte = null!;
        public spinlock_t ptl = null!;
        public pte_t orig_pte;
        public page? page;
    }

    /*
     * mmu_notifier_invalidate_range_only_end(mm, start, end): _end without the invalidate_range
     * callback (the caller already called it); Kernel.Mm has only the 4.20 range form.
     */
    [ClosesInvalidationRange]
    private static void mmu_notifier_invalidate_range_only_end(mm_struct mm, ulong start, ulong end) =>
        mmu_notifier_invalidate_range_end(mm, start, end);

    /*
     * Handle the case of a page which we actually need to copy to a new page.
     *
     * Called with mmap_sem locked and the old page referenced, but
     * without the ptl held.
     *
     * High level logic flow:
     *
     * - Allocate a page, copy the content of the old page to the new one.
     * - Handle book keeping and accounting - cgroups, mmu-notifiers, etc.
     * - Take the PTL. If the pte changed, bail out and release the allocated page
     * - If the pte is still the way we remember it, update the page table and all
     *   relevant references. This includes dropping the reference the page-table
     *   held to the old page, as well as updating the rmap.
     * - In any case, unlock the PTL and drop the reference we took to the old page.
     */
    public static vm_fault_t wp_page_copy(vm_fault vmf)
    {
        vm_area_struct vma = vmf.vma;
        mm_struct mm = vma.vm_mm;
        page? old_page = vmf.page;
        page? new_page = null;
        pte_t entry;
        int page_copied = 0;
        ulong mmun_start = vmf.address & PAGE_MASK; /* const in the C */
        ulong mmun_end = mmun_start + PAGE_SIZE;    /* const in the C */

        if (unlikely(anon_vma_prepare(vma) != 0))
            goto oom;

        if (is_zero_pfn(pte_pfn(vmf.orig_pte)))
        {
            new_page = alloc_zeroed_user_highpage_movable(vma,
                                                          vmf.address);
            if (new_page == null)
                goto oom;
        }
        else
        {
            new_page = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma,
                                      vmf.address);
            if (new_page == null)
                goto oom;
            cow_user_page(new_page, old_page!, vmf.address, vma);
        }

        /* mem_cgroup_try_charge_delay(): no memory cgroups in Kernel.Mm (and so no oom_free_new exit) */

        __SetPageUptodate(new_page);

        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);

        /*
         * Re-check the pte - we dropped the lock
         */
        vmf.pte = pte_offset_map_lock(mm, vmf.pmd, vmf.address, out vmf.ptl);
        if (likely(pte_same(ptep_get(vmf.pte), vmf.orig_pte)))
        {
            if (old_page != null)
            {
                if (!PageAnon(old_page))
                {
                    dec_mm_counter_fast(mm,
                                        mm_counter_file(old_page));
                    inc_mm_counter_fast(mm, MM_ANONPAGES);
                }
            }
            else
            {
                inc_mm_counter_fast(mm, MM_ANONPAGES);
            }
            flush_cache_page(vma, vmf.address, pte_pfn(vmf.orig_pte));
            entry = mk_pte(new_page, vma.vm_page_prot);
            entry = maybe_mkwrite(pte_mkdirty(entry), vma);
            /*
             * Clear the pte entry and flush it first, before updating the
             * pte with the new entry. This will avoid a race condition
             * seen in the presence of one thread doing SMC and another
             * thread doing COW.
             */
            ptep_clear_flush_notify(vma, vmf.address, vmf.pte);
            page_add_new_anon_rmap(new_page, vma, vmf.address, false);
            /* mem_cgroup_commit_charge(), lru_cache_add_active_or_unevictable(): not modelled */
            /*
             * We call the notify macro here because, when using secondary
             * mmu page tables (such as kvm shadow page tables), we want the
             * new page to be mapped directly into the secondary page table.
             */
            set_pte_at_notify(mm, vmf.address, vmf.pte, entry);
            update_mmu_cache(vma, vmf.address, vmf.pte);
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
                page_remove_rmap(old_page, false);
            }

            /* Free the old page.. */
            new_page = old_page;
            page_copied = 1;
        }
        /* else mem_cgroup_cancel_charge(new_page, memcg, false) */

        if (new_page != null)
            put_page(new_page); // no finding: MMU010, ptep_clear_flush_notify already ran invalidate_range for this pte

        pte_unmap_unlock(vmf.pte, vmf.ptl);
        /*
         * No need to double call mmu_notifier->invalidate_range() callback as
         * the above ptep_clear_flush_notify() did already call it.
         */
        mmu_notifier_invalidate_range_only_end(mm, mmun_start, mmun_end); // no finding: MMU005, pte_unmap_unlock(vmf->pte, vmf->ptl) released the PT lock just above
        if (old_page != null)
        {
            /*
             * Don't let another task, with possibly unlocked vma,
             * keep the mlocked page.
             */
            if (page_copied != 0 && (vma.vm_flags & VM_LOCKED) != 0)
            {
                lock_page(old_page);    /* LRU manipulation */ // no finding: MMU005, the PT lock was released by pte_unmap_unlock above
                if (PageMlocked(old_page))
                    munlock_vma_page(old_page);
                unlock_page(old_page);
            }
            put_page(old_page);
        }
        return page_copied != 0 ? VM_FAULT_WRITE : 0;
    oom:
        if (old_page != null)
            put_page(old_page);
        return VM_FAULT_OOM;
    }
}
