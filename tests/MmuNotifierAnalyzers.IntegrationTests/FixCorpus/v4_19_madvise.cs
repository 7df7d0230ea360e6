using System;
using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V4_19;

/// <summary>
/// mm/madvise.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments at 0c8fdfc73a8e),
/// madvise_free_single_vma: MADV_FREE (v4.5, 854e9ed09ded) clears the dirty and young bits of
/// the range's anonymous pages under start/end on the clamped <c>[start, end)</c>. Correct form.
/// </summary>
public static class madvise
{
    private const int EINVAL = 22;

    /* vma_is_anonymous(): no vm_ops; every Kernel.Mm vma is anonymous. */
    private static bool vma_is_anonymous(vm_area_struct vma) => true;

    /* lru_add_drain(): per-cpu LRU batches; not modelled. */
    private static void lru_add_drain()
    {
    }

    /* madvise_free_page_range(): walk_page_range with madvise_free_pte_range, pages queued on the gather. */
    private static void madvise_free_page_range(mmu_gather tlb, vm_area_struct vma, ulong addr, ulong end)
    {
    }

    public static int madvise_free_single_vma(vm_area_struct vma,
                                              ulong start_addr, ulong end_addr)
    {
        ulong start, end;
        mm_struct mm = vma.vm_mm;
        mmu_gather tlb = new();

        /* MADV_FREE works for only anon vma at the moment */
        if (!vma_is_anonymous(vma))
            return -EINVAL;

        start = Math.Max(vma.vm_start, start_addr);
        if (start >= vma.vm_end)
            return -EINVAL;
        end = Math.Min(vma.vm_end, end_addr);
        if (end <= vma.vm_start)
            return -EINVAL;

        lru_add_drain();
        tlb_gather_mmu(tlb, mm, false);
        update_hiwater_rss(mm);

        mmu_notifier_invalidate_range_start(mm, start, end);
        madvise_free_page_range(tlb, vma, start, end);
        mmu_notifier_invalidate_range_end(mm, start, end);
        tlb_finish_mmu(tlb, start, end);

        return 0;
    }
}
