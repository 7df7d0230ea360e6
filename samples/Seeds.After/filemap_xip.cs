using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace Seeds.After;

/// <summary>
/// mm/filemap_xip.c converted the way the 2017 series converted its successor (dax: "update to
/// new mmu_notifier semantic"): filemap_xip itself was replaced by DAX in v4.0 with seed 004's
/// invalidate_page still in it. Start before the PT lock, the notifying clear under it, end after
/// the unlock, and the page released only after the end ("must invalidate _before_ freeing").
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
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

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
            mmun_start = address;
            mmun_end = address + PAGE_SIZE;
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
            pte = page_check_address(page, mm, address, out ptl, 1);
            if (pte != null)
            {
                /* Nuke the page table entry. */
                flush_cache_page(vma, address, pte_pfn(ptep_get(pte)));
                pteval = ptep_clear_flush_notify(vma, address, pte);
                page_remove_rmap(page);
                dec_mm_counter(mm, MM_FILEPAGES);
                BUG_ON(pte_dirty(pteval));
                pte_unmap_unlock(pte, ptl);
                mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
                /* must invalidate _before_ freeing the page */
                page_cache_release(page);
                continue;
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
