using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V4_19;

/// <summary>
/// mm/memory.c, Linux v4.19: unmap_vmas, zap_page_range, zap_page_range_single and
/// copy_page_range. Correct forms: start/end on the caller's range around the walk (the
/// parameters are never reassigned), and copy_page_range's start/end both under
/// <c>if (is_cow)</c> on <c>mmun_start</c>/<c>mmun_end</c> captured before the loop moves
/// <c>addr</c> (2ec74c3ef2d8, v3.6, introduced the mmun_ convention here). No MMU002/003.
/// The pgd/p4d/pud levels collapse into Kernel.Mm's one PMD lookup; the PTE walks are stubbed.
/// Ported from that release's mainline source, not checked against the stored copy
/// (0x88888888/linux-4.19-comments), so the C may differ in comments and layout.
/// </summary>
public static class memory
{
    /* vma->vm_next: the next vma of the mm by address. */
    private static vm_area_struct? vm_next(vm_area_struct vma) => find_vma(vma.vm_mm, vma.vm_end);

    /* unmap_single_vma(): zap_pte_range over [start, end) of one vma, pages queued on the gather. */
    private static void unmap_single_vma(mmu_gather tlb, vm_area_struct vma, ulong start_addr, ulong end_addr, object? details)
    {
    }

    /* lru_add_drain(): per-cpu LRU batches; not modelled. */
    private static void lru_add_drain()
    {
    }

    /* track_pfn_copy(): PAT memtype tracking of a PFN mapping; nothing to track. */
    private static int track_pfn_copy(vm_area_struct vma) => 0;

    /* copy_p4d_range(): the lower levels of the copy; Kernel.Mm's copy_pte_range over the PMD's range. */
    private static int copy_p4d_range(mm_struct dst_mm, mm_struct src_mm, vm_area_struct vma, ulong addr, ulong end) =>
        copy_pte_range(dst_mm, src_mm, vma, addr, end);

    public static void unmap_vmas(mmu_gather tlb,
                                  vm_area_struct? vma, ulong start_addr,
                                  ulong end_addr)
    {
        mm_struct mm = vma!.vm_mm;

        mmu_notifier_invalidate_range_start(mm, start_addr, end_addr);
        for (; vma != null && vma.vm_start < end_addr; vma = vm_next(vma))
            unmap_single_vma(tlb, vma, start_addr, end_addr, null);
        mmu_notifier_invalidate_range_end(mm, start_addr, end_addr);
    }

    /**
     * zap_page_range - remove user pages in a given range
     * @vma: vm_area_struct holding the applicable pages
     * @start: starting address of pages to zap
     * @size: number of bytes to zap
     *
     * Caller must protect the VMA list
     */
    public static void zap_page_range(vm_area_struct? vma, ulong start,
                                      ulong size)
    {
        mm_struct mm = vma!.vm_mm;
        mmu_gather tlb = new();
        ulong end = start + size;

        lru_add_drain();
        tlb_gather_mmu(tlb, mm, false);
        update_hiwater_rss(mm);
        mmu_notifier_invalidate_range_start(mm, start, end);
        for (; vma != null && vma.vm_start < end; vma = vm_next(vma))
            unmap_single_vma(tlb, vma, start, end, null);
        mmu_notifier_invalidate_range_end(mm, start, end);
        tlb_finish_mmu(tlb, start, end);
    }

    /**
     * zap_page_range_single - remove user pages in a given range
     * @vma: vm_area_struct holding the applicable pages
     * @address: starting address of pages to zap
     * @size: number of bytes to zap
     * @details: details of shared cache invalidation
     *
     * The range must fit into one VMA.
     */
    public static void zap_page_range_single(vm_area_struct vma, ulong address,
                                             ulong size, object? details)
    {
        mm_struct mm = vma.vm_mm;
        mmu_gather tlb = new();
        ulong end = address + size;

        lru_add_drain();
        tlb_gather_mmu(tlb, mm, false);
        update_hiwater_rss(mm);
        mmu_notifier_invalidate_range_start(mm, address, end);
        unmap_single_vma(tlb, vma, address, end, details);
        mmu_notifier_invalidate_range_end(mm, address, end);
        tlb_finish_mmu(tlb, address, end);
    }

    public static int copy_page_range(mm_struct dst_mm, mm_struct src_mm,
                                      vm_area_struct vma)
    {
        ulong next;
        ulong addr = vma.vm_start;
        ulong end = vma.vm_end;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */
        bool is_cow;
        int ret;

        /*
         * Don't copy ptes where a page fault will fill them correctly.
         * Fork becomes much lighter when there are big shared or private
         * readonly mappings. The tradeoff is that copy_page_range is more
         * efficient than faulting.
         */
        if ((vma.vm_flags & (VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP)) == 0 &&
            vma.anon_vma == null)
            return 0;

        if (is_vm_hugetlb_page(vma))
            return copy_hugetlb_page_range(dst_mm, src_mm, vma);

        if (unlikely((vma.vm_flags & VM_PFNMAP) != 0))
        {
            /*
             * We do not free on error cases below as remove_vma
             * gets called on error from higher level routine
             */
            ret = track_pfn_copy(vma);
            if (ret != 0)
                return ret;
        }

        /*
         * We need to invalidate the secondary MMU mappings only when
         * there could be a permission downgrade on the ptes of the
         * parent mm. And a permission downgrade will only happen if
         * is_cow_mapping() returns true.
         */
        is_cow = is_cow_mapping(vma.vm_flags);
        mmun_start = addr;
        mmun_end = end;
        if (is_cow)
            mmu_notifier_invalidate_range_start(src_mm, mmun_start, mmun_end);

        ret = 0;
        do
        {
            next = pmd_addr_end(addr, end);
            if (pmd_none_or_clear_bad(src_mm, addr))
                continue;
            if (unlikely(copy_p4d_range(dst_mm, src_mm, vma, addr, next) != 0))
            {
                ret = -ENOMEM;
                break;
            }
        } while ((addr = next) != end);

        if (is_cow)
            mmu_notifier_invalidate_range_end(src_mm, mmun_start, mmun_end);
        return ret;
    }
}
