using System.Collections.Generic;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

public class RmapTests
{
    private const ulong A = TestMm.Base;

    [Fact]
    public void Rmap_walk_finds_every_mapping_of_an_anonymous_page_across_fork()
    {
        var (parent, pvma) = TestMm.Anon();
        handle_mm_fault(pvma, A + (3 * PAGE_SIZE), FAULT_FLAG_WRITE);
        var page = TestMm.PageAt(parent, A + (3 * PAGE_SIZE));
        var child = dup_mm(parent);

        var found = new List<(mm_struct, ulong)>();
        rmap_walk(page, (p, vma, address) =>
        {
            var pte = page_check_address(p, vma.vm_mm, address, out var ptl, 1);
            if (pte is not null)
            {
                found.Add((vma.vm_mm, address));
                pte_unmap_unlock(pte, ptl);
            }

            return true;
        });
        Assert.Equal(2, found.Count);
        Assert.Contains((parent, A + (3 * PAGE_SIZE)), found);
        Assert.Contains((child, A + (3 * PAGE_SIZE)), found);
        Assert.Same(pvma.anon_vma, page_anon_vma(page));
        Assert.Equal(A + (3 * PAGE_SIZE), vma_address(page, pvma));

        // A walk stops when the callback says so.
        int visits = 0;
        rmap_walk(page, (_, _, _) => ++visits < 1);
        Assert.Equal(1, visits);
        mmput(child);
        mmput(parent);
    }

    /// <summary>try_to_unmap_one as 4.13+ has it: start/end outside the PT lock, the PTE cleared and
    /// invalidate_range'd under it, the page released after.</summary>
    private static bool try_to_unmap_one(page page, vm_area_struct vma, ulong address)
    {
        var mm = vma.vm_mm;
        ulong mmun_start = address & PAGE_MASK;
        ulong mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        var pte = page_check_address(page, mm, address, out var ptl, 0);
        if (pte is not null)
        {
            flush_cache_page(vma, address, page_to_pfn(page));
            var pteval = ptep_clear_flush(vma, address, pte);
            mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
            if (pte_dirty(pteval))
            {
                set_page_dirty(page);
            }

            page_remove_rmap(page);
            put_page(page);
            pte_unmap_unlock(pte, ptl);
        }

        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return true;
    }

    [Fact]
    public void A_correct_try_to_unmap_over_the_rmap_unmaps_everywhere_and_frees_silently()
    {
        var (parent, pvma) = TestMm.Anon();
        handle_mm_fault(pvma, A, FAULT_FLAG_WRITE);
        var page = TestMm.PageAt(parent, A);
        var child = dup_mm(parent);
        var mn = RecordingNotifier.Create();
        mmu_notifier_register(mn, child);

        var sink = new CollectingViolationSink();
        HashSet<page> freed;
        using (MmRuntime.UseSink(sink))
        {
            get_page(page);   // hold it across the walk, as the kernel's caller does
            rmap_walk(page, try_to_unmap_one);
            Assert.Equal(0, page_mapcount(page));
            freed = TestMm.Freed(() => put_page(page));
        }

        Assert.Empty(sink.Violations);
        Assert.Contains(page, freed);
        Assert.True(pte_none(TestMm.PteOf(parent, A)));
        Assert.True(pte_none(TestMm.PteOf(child, A)));
        Assert.Equal(new[] { "start 10000000-10001000", "end 10000000-10001000" }, mn.Snapshot());
        mmu_notifier_unregister(mn, child);
        mmput(child);
        mmput(parent);
    }
}
