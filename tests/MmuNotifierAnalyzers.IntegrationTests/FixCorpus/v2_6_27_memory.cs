using System;
using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V2_6_27;

/// <summary>
/// mm/memory.c, Linux v2.6.27, as cddb8a5c14aa ("mmu-notifiers: core", v2.6.27) wrote the
/// notifier calls into it: unmap_vmas and apply_to_page_range. Correct forms for the rules here:
/// start/end on the parameters <c>start_addr</c>/<c>end_addr</c>, which the loops never assign
/// (they move <c>start</c>), and apply_to_page_range captures <c>start = addr</c> before its loop
/// moves <c>addr</c>. (unmap_vmas' caller unmap_mapping_range held <c>i_mmap_lock</c>, a
/// spinlock, around it until 3d48ae45e72 made it a mutex in v2.6.39: a caller's lock, which no
/// rule here follows into a callee.)
/// Ported from that release's mainline source; no stored copy of the file at that version was
/// read for it (the index holds none), so the C may differ in comments and layout.
/// </summary>
public static class memory
{
    private const long ZAP_BLOCK_SIZE = (long)(8 * PAGE_SIZE);

    /* vma->vm_next: the next vma of the mm by address. */
    private static vm_area_struct? vm_next(vm_area_struct vma) => find_vma(vma.vm_mm, vma.vm_end);

    /* is_pfn_mapping()/untrack_pfn_vma(): PAT tracking of PFN mappings; none in Kernel.Mm. */
    private static bool is_pfn_mapping(vm_area_struct vma) => false;

    private static void untrack_pfn_vma(vm_area_struct vma, ulong pfn, ulong size)
    {
    }

    /* unmap_hugepage_range(): hugetlb unmap of [start, end); its own start/end inside. */
    private static void unmap_hugepage_range(vm_area_struct vma, ulong start, ulong end, page? ref_page)
    {
    }

    /* unmap_page_range(): zaps PTEs until zap_work runs out; returns where it stopped. */
    private static ulong unmap_page_range(mmu_gather tlb, vm_area_struct vma, ulong addr, ulong end, ref long zap_work, object? details)
    {
        zap_work -= (long)((end - addr) >> PAGE_SHIFT);
        return end;
    }

    /* need_resched()/spin_needbreak(): no preemption requests in Kernel.Mm. */
    private static bool need_resched() => false;

    private static bool spin_needbreak(spinlock_t @lock) => false;

    /* apply_to_pud_range(): the lower levels; calls fn on each PTE of [addr, end). */
    private static int apply_to_pud_range(mm_struct mm, ulong addr, ulong end, Func<pte_ptr, ulong, object?, int> fn, object? data) => 0;

    public sealed class zap_details
    {
        public spinlock_t? i_mmap_lock;
    }

    public static ulong unmap_vmas(ref mmu_gather? tlbp,
                                   vm_area_struct? vma, ulong start_addr,
                                   ulong end_addr, ref ulong nr_accounted,
                                   zap_details? details)
    {
        long zap_work = ZAP_BLOCK_SIZE;
        ulong tlb_start = 0;    /* For tlb_finish_mmu */
        int tlb_start_valid = 0;
        ulong start = start_addr;
        spinlock_t? i_mmap_lock = details != null ? details.i_mmap_lock : null;
        bool fullmm = tlbp!.fullmm;
        mm_struct mm = vma!.vm_mm;

        mmu_notifier_invalidate_range_start(mm, start_addr, end_addr);
        for (; vma != null && vma.vm_start < end_addr; vma = vm_next(vma))
        {
            ulong end;

            start = Math.Max(vma.vm_start, start_addr);
            if (start >= vma.vm_end)
                continue;
            end = Math.Min(vma.vm_end, end_addr);
            if (end <= vma.vm_start)
                continue;

            if ((vma.vm_flags & VM_ACCOUNT) != 0)
                nr_accounted += (end - start) >> PAGE_SHIFT;

            if (unlikely(is_pfn_mapping(vma)))
                untrack_pfn_vma(vma, 0, 0);

            while (start != end)
            {
                if (tlb_start_valid == 0)
                {
                    tlb_start = start;
                    tlb_start_valid = 1;
                }

                if (unlikely(is_vm_hugetlb_page(vma)))
                {
                    unmap_hugepage_range(vma, start, end, null);
                    zap_work -= (long)((end - start) / (ulong)pages_per_huge_page(hstate_vma(vma)));
                    start = end;
                }
                else
                    start = unmap_page_range(tlbp!, vma, start, end, ref zap_work, details);

                if (zap_work > 0)
                {
                    BUG_ON(start != end);
                    break;
                }

                tlb_finish_mmu(tlbp!, tlb_start, start);

                if (need_resched() ||
                    (i_mmap_lock != null && spin_needbreak(i_mmap_lock)))
                {
                    if (i_mmap_lock != null)
                    {
                        tlbp = null;
                        goto @out;
                    }
                    cond_resched();
                }

                tlbp = new mmu_gather();
                tlb_gather_mmu(tlbp, vma.vm_mm, fullmm);
                tlb_start_valid = 0;
                zap_work = ZAP_BLOCK_SIZE;
            }
        }
    @out:
        mmu_notifier_invalidate_range_end(mm, start_addr, end_addr);
        return start;   /* which is now the end (or restart) address */
    }

    /*
     * Scan a region of virtual memory, filling in page tables as necessary
     * and calling a provided function on each leaf page table.
     */
    public static int apply_to_page_range(mm_struct mm, ulong addr,
                                          ulong size, Func<pte_ptr, ulong, object?, int> fn, object? data)
    {
        ulong next;
        ulong start = addr, end = addr + size;
        int err;

        BUG_ON(addr >= end);
        mmu_notifier_invalidate_range_start(mm, start, end);
        do
        {
            next = pmd_addr_end(addr, end);
            err = apply_to_pud_range(mm, addr, next, fn, data);
            if (err != 0)
                break;
        } while ((addr = next) != end);
        mmu_notifier_invalidate_range_end(mm, start, end);
        return err;
    }
}
