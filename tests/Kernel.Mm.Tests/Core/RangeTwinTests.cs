using System;
using System.Linq;
using Kernel.Mm;
using MmuNotifierAnalyzers;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

/// <summary>
/// The runtime twins of MMU007 (range length in pages, not bytes) and MMU008 (huge-page range start
/// not aligned): each fires on seed 003's shape with its id and a stack, stays silent on the fixed
/// form, and never turns a range a kernel could pass into an <see cref="ArgumentException"/>.
/// </summary>
public class RangeTwinTests
{
    private const ulong A = TestMm.Base;
    private const ulong H = 0x140000000UL;           // 2 MiB aligned, for THP and hugetlb
    private const ulong Sub = H + (5 * PAGE_SIZE);   // a subpage's address, as the rmap walk gives it

    private static CollectingViolationSink Run(Action body)
    {
        var sink = new CollectingViolationSink();
        using (MmRuntime.UseSink(sink))
        {
            body();
        }

        return sink;
    }

    /// <summary>A THP at <see cref="H"/>, split to ptes (seed 003's "pmd virtual split") unless
    /// <paramref name="pmdMapped"/>.</summary>
    private static (mm_struct mm, vm_area_struct vma, page head) Thp(bool pmdMapped)
    {
        var (mm, vma) = TestMm.Anon(H, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        handle_mm_fault(vma, H, FAULT_FLAG_WRITE);
        var head = pmd_page(pmdp_get(mm_find_pmd(mm, H)!));
        Assert.Equal(HPAGE_PMD_ORDER, compound_order(head));
        if (!pmdMapped)
        {
            split_huge_pmd(vma, mm_find_pmd(mm, H)!, H);
            Assert.Same(head, compound_head(TestMm.PageAt(mm, Sub)));
        }

        return (mm, vma, head);
    }

    // ---- MMU007 ---------------------------------------------------------------------------------

    [Fact]
    [TwinOf(RuleIdentifiers.RangeLengthInPages)]
    public void MMU007_seed003_end_in_pages_is_reported_and_the_page_rounded_range_is_invalidated()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, A, FAULT_FLAG_WRITE);
        var page = TestMm.PageAt(mm, A);
        var rec = RecordingNotifier.Create(withInvalidateRange: true);
        rec.RegisterOn(mm);

        var sink = Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
            mmu_notifier_invalidate_range(mm, A, A + (1UL << compound_order(page)));   // seed 003 bug 2
            mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        });
        var v = Assert.Single(sink.Violations);   // covered by the start/end once rounded: no MMU006
        Assert.Equal("MMU007", v.RuleId);
        Assert.StartsWith($"MMU007: mmu_notifier_invalidate_range({mm}, 0x10000000, 0x10000001): end - start = 1 is less than PAGE_SIZE", v.Message);
        Assert.Contains("pages, not bytes", v.Message);
        Assert.Contains("start + (PAGE_SIZE << compound_order(page))", v.Message);
        Assert.Contains("HPAGE_PMD_SIZE", v.Message);
        Assert.Contains("goes on with [0x10000000, 0x10001000)", v.Message);
        Assert.Contains(nameof(MMU007_seed003_end_in_pages_is_reported_and_the_page_rounded_range_is_invalidated), v.StackTrace);
        Assert.Contains("range 10000000-10001000", rec.Snapshot());

        // The fix: a length in bytes.
        Assert.Empty(Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
            mmu_notifier_invalidate_range(mm, A, A + (PAGE_SIZE << compound_order(page)));
            mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        }).Violations);

        rec.UnregisterFrom(mm);
        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.RangeLengthInPages)]
    public void MMU007_thp_length_in_pages_is_reported_not_thrown()
    {
        var (mm, _, head) = Thp(pmdMapped: true);

        // The default sink throws the report, not an ArgumentException.
        var e = Assert.Throws<MmViolationException>(() => mmu_notifier_invalidate_range(mm, H, H + (1UL << compound_order(head))));
        Assert.Equal("MMU007", e.Violation.RuleId);
        Assert.Contains("end - start = 512 is less than PAGE_SIZE", e.Message);
        Assert.Contains("512 pages are 0x200000 bytes", e.Message);
        Assert.Contains(nameof(MMU007_thp_length_in_pages_is_reported_not_thrown), e.Violation.StackTrace);

        var sink = Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, H, H + (ulong)HPAGE_PMD_NR);
            mmu_notifier_invalidate_range_end(mm, H, H + (ulong)HPAGE_PMD_NR);
        });
        // Reported once, at the start; the end with the same values is not reported again.
        var v = Assert.Single(sink.Violations);
        Assert.StartsWith($"MMU007: mmu_notifier_invalidate_range_start({mm}, 0x140000000, 0x140000200)", v.Message);
        Assert.Equal(0, mm.OpenInvalidations);

        Assert.Empty(Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, H, H + HPAGE_PMD_SIZE);
            mmu_notifier_invalidate_range(mm, H, H + (PAGE_SIZE << compound_order(head)));
            mmu_notifier_invalidate_range_end(mm, H, H + HPAGE_PMD_SIZE);
        }).Violations);
        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.RangeLengthInPages)]
    public void MMU007_range_form_is_reported_at_init_once_and_the_range_is_left_as_written()
    {
        var (mm, vma) = TestMm.Anon();
        var rec = RecordingNotifier.Create();
        mmu_notifier_register(rec, mm);
        var range = new mmu_notifier_range();
        var sink = Run(() =>
        {
            mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, A, A + (ulong)HPAGE_PMD_NR);
            mmu_notifier_invalidate_range_start(range);
            mmu_notifier_invalidate_range_end(range);
        });
        var v = Assert.Single(sink.Violations);
        Assert.Equal("MMU007", v.RuleId);
        Assert.StartsWith("MMU007: mmu_notifier_range_init(", v.Message);
        Assert.Equal((A, A + (ulong)HPAGE_PMD_NR), (range.start, range.end));
        Assert.Equal(new[] { "start 10000000-10001000", "end 10000000-10001000" }, rec.Snapshot());

        // Changed after init, before the start: checked again there (the end sees the same values: no MMU003).
        sink = Run(() =>
        {
            mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, A, A + PAGE_SIZE);
            range.end = A + 1;
            mmu_notifier_invalidate_range_start(range);
            mmu_notifier_invalidate_range_end(range);
        });
        Assert.Equal(new[] { "MMU007" }, sink.Violations.Select(x => x.RuleId).ToArray());
        Assert.StartsWith("MMU007: mmu_notifier_invalidate_range_start(", sink.Violations[0].Message);

        mmu_notifier_unregister(rec, mm);
        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.RangeLengthInPages)]
    public void MMU007_never_fires_on_byte_ranges()
    {
        var (mm, _, _) = Thp(pmdMapped: false);
        Assert.Empty(Run(() =>
        {
            foreach (ulong length in new[] { PAGE_SIZE, 2 * PAGE_SIZE, HPAGE_PMD_SIZE, 0UL })
            {
                mmu_notifier_invalidate_range_start(mm, H, H + length);
                mmu_notifier_invalidate_range(mm, H, H + length);
                mmu_notifier_invalidate_range_end(mm, H, H + length);
            }
        }).Violations);
        mmput(mm);
    }

    // ---- MMU008 ---------------------------------------------------------------------------------

    [Fact]
    [TwinOf(RuleIdentifiers.HugeRangeNotAligned)]
    public void MMU008_seed003_unaligned_start_over_a_pte_mapped_thp()
    {
        var (mm, _, head) = Thp(pmdMapped: false);
        ulong address = Sub;
        var sink = Run(() =>
        {
            // an enclosing start/end, so only the range's own defects are reported
            mmu_notifier_invalidate_range_start(mm, H, H + (2 * HPAGE_PMD_SIZE));
            mmu_notifier_invalidate_range(mm, address, address + (PAGE_SIZE << compound_order(head)));
            mmu_notifier_invalidate_range_end(mm, H, H + (2 * HPAGE_PMD_SIZE));
        });
        var v = Assert.Single(sink.Violations);
        Assert.Equal("MMU008", v.RuleId);
        Assert.StartsWith($"MMU008: mmu_notifier_invalidate_range({mm}, 0x140005000, 0x140205000): ", v.Message);
        Assert.Contains("order-9 compound page", v.Message);
        Assert.Contains("mapped at 0x140000000", v.Message);
        Assert.Contains("start at address & ~((PAGE_SIZE << compound_order(page)) - 1) = 0x140000000", v.Message);
        Assert.Contains("address & HPAGE_PMD_MASK", v.Message);
        Assert.Contains(nameof(MMU008_seed003_unaligned_start_over_a_pte_mapped_thp), v.StackTrace);

        // Seed 003's end exactly: both bugs, one report each.
        sink = Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, H, H + (2 * HPAGE_PMD_SIZE));
            mmu_notifier_invalidate_range(mm, address, address + (1UL << compound_order(head)));
            mmu_notifier_invalidate_range_end(mm, H, H + (2 * HPAGE_PMD_SIZE));
        });
        Assert.Equal(new[] { "MMU007", "MMU008" }, sink.Violations.Select(x => x.RuleId).ToArray());

        // The fixes: masked to the compound page.
        Assert.Empty(Run(() =>
        {
            ulong start = address & ~((PAGE_SIZE << compound_order(head)) - 1);
            mmu_notifier_invalidate_range_start(mm, start, start + (PAGE_SIZE << compound_order(head)));
            mmu_notifier_invalidate_range(mm, start, start + (PAGE_SIZE << compound_order(head)));
            mmu_notifier_invalidate_range_end(mm, start, start + (PAGE_SIZE << compound_order(head)));
            ulong haddr = address & HPAGE_PMD_MASK;
            mmu_notifier_invalidate_range_start(mm, haddr, haddr + HPAGE_PMD_SIZE);
            mmu_notifier_invalidate_range_end(mm, haddr, haddr + HPAGE_PMD_SIZE);
        }).Violations);
        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.HugeRangeNotAligned)]
    public void MMU008_after_the_huge_entry_was_cleared_and_in_the_range_form()
    {
        var (mm, vma, head) = Thp(pmdMapped: true);
        var pmd = mm_find_pmd(mm, H)!;
        var sink = Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, H, H + (2 * HPAGE_PMD_SIZE));
            spin_lock(mm.page_table_lock);
            pmdp_huge_clear_flush(vma, H, pmd);
            page_remove_rmap(head, compound: true);
            // the pmd is gone: the runtime finds the page through the clear it has not seen invalidated
            mmu_notifier_invalidate_range(mm, Sub, Sub + HPAGE_PMD_SIZE);
            spin_unlock(mm.page_table_lock);
            mmu_notifier_invalidate_range_end(mm, H, H + (2 * HPAGE_PMD_SIZE));
            put_page(head);
        });
        var v = Assert.Single(sink.Violations);
        Assert.Equal("MMU008", v.RuleId);
        Assert.Contains("= 0x140000000", v.Message);
        mmput(mm);

        (mm, vma, head) = Thp(pmdMapped: true);
        var range = new mmu_notifier_range();
        sink = Run(() =>
        {
            mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, Sub, Sub + HPAGE_PMD_SIZE);
            mmu_notifier_invalidate_range_start(range);
            mmu_notifier_invalidate_range_end(range);
        });
        Assert.StartsWith("MMU008: mmu_notifier_range_init(", Assert.Single(sink.Violations).Message);
        Assert.Empty(Run(() =>
        {
            mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, Sub & HPAGE_PMD_MASK, (Sub & HPAGE_PMD_MASK) + HPAGE_PMD_SIZE);
            mmu_notifier_invalidate_range_start(range);
            mmu_notifier_invalidate_range_end(range);
        }).Violations);
        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.HugeRangeNotAligned)]
    public void MMU008_hugetlb_names_huge_page_mask()
    {
        var (mm, vma) = TestMm.Anon(H, HPAGE_PMD_SIZE, VM_HUGETLB);
        handle_mm_fault(vma, H, FAULT_FLAG_WRITE);
        var h = hstate_vma(vma);
        var sink = Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, Sub, Sub + huge_page_size(h));
            mmu_notifier_invalidate_range_end(mm, Sub, Sub + huge_page_size(h));
        });
        var v = Assert.Single(sink.Violations);   // once, at the start
        Assert.Equal("MMU008", v.RuleId);
        Assert.Contains("huge_page_mask(h)", v.Message);
        Assert.Empty(Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, Sub & huge_page_mask(h), (Sub & huge_page_mask(h)) + huge_page_size(h));
            mmu_notifier_invalidate_range_end(mm, Sub & huge_page_mask(h), (Sub & huge_page_mask(h)) + huge_page_size(h));
        }).Violations);
        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.HugeRangeNotAligned)]
    public void MMU008_never_fires_without_a_compound_page_there()
    {
        // Small pages only: a 2 MiB byte range starting anywhere is just a range.
        var (mm, vma) = TestMm.Anon(A, 1024 * PAGE_SIZE);
        for (ulong a = A; a < A + (8 * PAGE_SIZE); a += PAGE_SIZE)
        {
            handle_mm_fault(vma, a, FAULT_FLAG_WRITE);
        }

        Assert.Empty(Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, A + PAGE_SIZE, A + PAGE_SIZE + HPAGE_PMD_SIZE);
            mmu_notifier_invalidate_range_end(mm, A + PAGE_SIZE, A + PAGE_SIZE + HPAGE_PMD_SIZE);
            mmu_notifier_invalidate_range_start(mm, A + (3 * PAGE_SIZE), A + (3 * PAGE_SIZE) + (2 * PAGE_SIZE));
            mmu_notifier_invalidate_range_end(mm, A + (3 * PAGE_SIZE), A + (3 * PAGE_SIZE) + (2 * PAGE_SIZE));
        }).Violations);
        mmput(mm);
    }
}
