using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace Seeds.Before.Seed000;

/// <summary>
/// mm/filemap_xip.c from seed 004 (v3.6) until filemap_xip was replaced by DAX (v4.0): the PTE is
/// cleared under the PT lock and <c>mmu_notifier_invalidate_page</c> runs after the unlock but
/// "_before_ freeing the page" (the 2017 race form: the window between the two is unprotected).
/// </summary>
public static class filemap_xip
{
    /*
     * __xip_unmap is invoked from xip_unmap and
     * xip_write
     *
     * This function walks all vmas of the address_space and unmaps the
     * __xip_sparse_page when found at pgoff.
     */
    public static void __xip_unmap(address_space mapping, ulong pgoff)
    {
        mm_struct mm;
        ulong address;
        pte_ptr? pte;
        pte_t pteval;
        spinlock_t ptl;
        page? page;
        uint count;
        bool locked = false;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */

        count = read_seqcount_begin(xip_sparse_seq);

        page = __xip_sparse_page;
        if (page == null)
            return;

    retry:
        mutex_lock(mapping.i_mmap_mutex);
        foreach (vm_area_struct vma in vma_prio_tree_foreach(mapping, pgoff, pgoff))
        {
            mm = vma.vm_mm;
            address = vma.vm_start +
                ((pgoff - vma.vm_pgoff) << PAGE_SHIFT);
            BUG_ON(address < vma.vm_start || address >= vma.vm_end);
            mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
            mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
            pte = page_check_address(page, mm, address, out ptl, 1);
            if (pte != null)
            {
                /* Nuke the page table entry. */
                flush_cache_page(vma, address, pte_pfn(ptep_get(pte)));
                pteval = ptep_clear_flush(vma, address, pte);
                mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
                page_remove_rmap(page);
                dec_mm_counter(mm, MM_FILEPAGES);
                BUG_ON(pte_dirty(pteval));
                pte_unmap_unlock(pte, ptl);
                page_cache_release(page);
            }

            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        }
        mutex_unlock(mapping.i_mmap_mutex);

        if (locked)
        {
            mutex_unlock(xip_sparse_mutex);
        }
        else if (read_seqcount_retry(xip_sparse_seq, count))
        {
            mutex_lock(xip_sparse_mutex);
            locked = true;
            goto retry;
        }
    }
}
