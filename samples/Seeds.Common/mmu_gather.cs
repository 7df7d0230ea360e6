using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace Seeds.Common;

/// <summary>
/// include/asm-generic/tlb.h (2012): <c>struct mmu_gather</c>, the batch of pages an unmap frees
/// only after the TLB flush. Kernel.Mm has none; this one keeps the kernel's contract: pages
/// handed to <c>__tlb_remove_page</c> stay referenced until <c>tlb_flush_mmu</c>.
/// </summary>
public sealed class mmu_gather
{
    /// <summary>MAX_GATHER_BATCH * MAX_GATHER_BATCH_COUNT on x86-64 (510 pages a batch, at most
    /// 10000 pages gathered): when it is full the unmap must flush before it goes on.</summary>
    public const int MAX_GATHER_PAGES = 10000;

    public mm_struct mm = null!;
    public bool fullmm;
    public ulong start;
    public ulong end;
    internal readonly List<page> pages = new();
    internal int max = MAX_GATHER_PAGES;

    /// <summary>How many pages wait for the flush.</summary>
    public int PendingPages => pages.Count;

    /// <summary>Tests shrink the batch to see force_flush paths.</summary>
    public int Max
    {
        get => max;
        set => max = value;
    }
}

public static partial class kernel
{
    public static void tlb_gather_mmu(mmu_gather tlb, mm_struct mm, bool fullmm)
    {
        tlb.mm = mm;
        tlb.fullmm = fullmm;
        tlb.start = ulong.MaxValue;
        tlb.end = 0;
        tlb.pages.Clear();
    }

    public static void tlb_start_vma(mmu_gather tlb, vm_area_struct vma)
    {
        if (!tlb.fullmm)
            flush_cache_range(vma, vma.vm_start, vma.vm_end);
    }

    public static void tlb_end_vma(mmu_gather tlb, vm_area_struct vma)
    {
        if (!tlb.fullmm && tlb.end != 0)
            flush_tlb_range(vma, tlb.start, tlb.end);
    }

    /// <summary>tlb_remove_tlb_entry(): remember the range to flush.</summary>
    public static void tlb_remove_tlb_entry(mmu_gather tlb, pte_ptr ptep, ulong address)
    {
        if (address < tlb.start)
            tlb.start = address;
        if (address + PAGE_SIZE > tlb.end)
            tlb.end = address + PAGE_SIZE;
    }

    /// <summary>
    /// __tlb_remove_page(): queue the page's reference for release after the flush. Returns
    /// false when the batch is full: the caller must <c>tlb_flush_mmu</c> before going on.
    /// </summary>
    public static bool __tlb_remove_page(mmu_gather tlb, page page)
    {
        tlb.pages.Add(page);
        return tlb.pages.Count < tlb.max;
    }

    /// <summary>tlb_flush_mmu(): flush the TLB, then drop the gathered references.</summary>
    public static void tlb_flush_mmu(mmu_gather tlb)
    {
        if (tlb.end != 0)
        {
            // flush_tlb_mm(): every CPU TLB entry of the mm (Kernel.Mm counts it per mm).
            foreach (vm_area_struct vma in tlb.mm.Vmas)
            {
                if (vma.vm_end > tlb.start && vma.vm_start < tlb.end)
                    flush_tlb_range(vma, tlb.start > vma.vm_start ? tlb.start : vma.vm_start,
                                    tlb.end < vma.vm_end ? tlb.end : vma.vm_end);
            }
        }

        foreach (page page in tlb.pages)
            put_page(page);
        tlb.pages.Clear();
    }

    public static void tlb_finish_mmu(mmu_gather tlb, ulong start, ulong end)
    {
        tlb_flush_mmu(tlb);
    }
}
