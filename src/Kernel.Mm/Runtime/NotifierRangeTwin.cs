using System;
using static Kernel.Mm.Linux;

namespace Kernel.Mm;

/// <summary>
/// The runtime twins of MMU007 (range length counted in pages, not bytes) and MMU008 (huge-page
/// range start not aligned), and what the runtime does with a range that is not page aligned.
/// The notifier entry points (<c>mmu_notifier_invalidate_range</c>, <c>_start</c>, <c>_end</c>,
/// <c>mmu_notifier_range_init</c>, the <c>*_clear_flush_notify</c> helpers) hand their range here
/// and go on with the range this returns.
/// </summary>
/// <remarks>
/// <para><b>Rejected</b> (an <see cref="ArgumentException"/>): only a range no kernel caller can
/// pass, <c>end &lt; start</c>.</para>
/// <para><b>MMU007</b> fires when <c>0 &lt; end - start &lt; PAGE_SIZE</c>. A byte range that
/// covers anything covers at least one page, so a shorter non-empty length is a count of pages:
/// every <c>1 &lt;&lt; compound_order(page)</c>, <c>compound_nr(page)</c> and
/// <c>HPAGE_PMD_NR</c> the model can produce is at most <c>1 &lt;&lt; (MAX_ORDER - 1)</c> = 1024,
/// below <c>PAGE_SIZE</c> (seed 003's <c>address + (1UL &lt;&lt; compound_order(page))</c> is 1 for
/// a small page, 512 for a THP). A length of a whole number of pages never fires, nor does one of
/// a page or more that is not (an unaligned byte range: rounded, below, not reported).</para>
/// <para><b>MMU008</b> fires when all of these hold: the length designates one compound page of
/// some order <c>o</c> (1 ≤ o &lt; MAX_ORDER) — it is <c>PAGE_SIZE &lt;&lt; o</c> (the page's size in
/// bytes) or <c>1 &lt;&lt; o</c> (its size in pages, MMU007's length); <c>start</c> is not aligned to
/// <c>S = PAGE_SIZE &lt;&lt; o</c>; and the page the mm maps at <c>start</c> (huge pmd, hugetlb entry
/// or pte; or, when the entry was already cleared, the page of a cleared entry at that address
/// whose invalidation is still pending, the MMU010 bookkeeping) belongs to a compound page of
/// exactly order <c>o</c> whose head is mapped at an <c>S</c>-aligned address. That head address
/// is then <c>start &amp; ~(S - 1)</c>, the start the range should have had. A compound page
/// mapped at an address not aligned to its size (so that masking would be wrong) is not reported.
/// The runtime cannot see intent: a byte range of exactly one huge page's size that starts inside
/// a naturally aligned huge page is taken as meant to cover that page.</para>
/// <para><b>Then the call goes on</b> with the range rounded out to whole pages
/// (<c>start &amp; PAGE_MASK</c>, <c>end</c> rounded up; an empty range stays empty), what the
/// kernel's notifiers effectively do with a byte range (KVM turns it into the gfns it touches),
/// so the secondary MMUs are still told about the pages it touches.</para>
/// <para>A bad range is reported once, where it is built or first used: at
/// <c>mmu_notifier_range_init</c>, or at a start or end only when the range's values changed since
/// they were checked (an end with the values of a start open on the mm is not reported again:
/// the start was).</para>
/// </remarks>
internal static class NotifierRangeTwin
{
    /// <summary>
    /// Checks [<paramref name="start"/>, <paramref name="end"/>) passed to
    /// <paramref name="function"/>: throws when end is before start, reports MMU007 / MMU008 when
    /// <paramref name="report"/>, and returns the range rounded out to whole pages.
    /// </summary>
    internal static (ulong start, ulong end) Check(mm_struct mm, ulong start, ulong end, string function, bool report)
    {
        var rounded = Round(start, end, function);
        if (report)
        {
            ReportLength(mm, start, end, rounded, function);
            ReportAlignment(mm, start, end, function);
        }

        return rounded;
    }

    /// <summary>
    /// <see cref="Check(mm_struct, ulong, ulong, string, bool)"/> for a 4.20 <see cref="mmu_notifier_range"/>: reports only when the range's
    /// values are not the ones it was last checked with, then remembers them.
    /// </summary>
    internal static (ulong start, ulong end) Check(mmu_notifier_range range, string function)
    {
        bool seen = range.checked_values is { } c && c.start == range.start && c.end == range.end;
        var rounded = Check(range.mm, range.start, range.end, function, report: !seen);
        range.checked_values = (range.start, range.end);
        return rounded;
    }

    private static (ulong start, ulong end) Round(ulong start, ulong end, string function)
    {
        if (end < start)
        {
            throw new ArgumentException($"{function}: end 0x{end:x} is before start 0x{start:x}: not a range", nameof(end));
        }

        ulong rstart = start & PAGE_MASK;
        if (end == start)
        {
            return (rstart, rstart);
        }

        ulong rend = end > (ulong.MaxValue & PAGE_MASK)
            ? ulong.MaxValue & PAGE_MASK        // "to the end" (-1UL, clear_refs): the last page is above TASK_SIZE anyway
            : (end + ~PAGE_MASK) & PAGE_MASK;
        return (rstart, rend);
    }

    private static void ReportLength(mm_struct mm, ulong start, ulong end, (ulong start, ulong end) rounded, string function)
    {
        ulong length = end - start;
        if (length == 0 || length >= PAGE_SIZE)
        {
            return;
        }

        MmRuntime.Report(
            RuleIdentifiers.RangeLengthInPages,
            $"{RuleIdentifiers.RangeLengthInPages}: {function}({mm}, 0x{start:x}, 0x{end:x}): end - start = {length} is less than PAGE_SIZE: "
            + $"a length in pages, not bytes ({length} pages are 0x{length << PAGE_SHIFT:x} bytes); "
            + "write end = start + (PAGE_SIZE << compound_order(page)) (start + HPAGE_PMD_SIZE for a PMD-sized THP), "
            + "not start + (1UL << compound_order(page)), compound_nr(page) or HPAGE_PMD_NR; "
            + $"the runtime goes on with [0x{rounded.start:x}, 0x{rounded.end:x}) (rounded out to whole pages)");
    }

    private static void ReportAlignment(mm_struct mm, ulong start, ulong end, string function)
    {
        ulong length = end - start;
        int order = DesignatedOrder(length);
        if (order < 1)
        {
            return;
        }

        ulong size = PAGE_SIZE << order;
        if ((start & (size - 1)) == 0)
        {
            return;
        }

        if (!CompoundAt(mm, start, out page? head, out ulong headAddress)
            || compound_order(head) != order
            || (headAddress & (size - 1)) != 0)
        {
            return;
        }

        string hugeMask = size == HPAGE_PMD_SIZE ? " (address & HPAGE_PMD_MASK for a THP, address & huge_page_mask(h) for hugetlb)" : string.Empty;
        MmRuntime.Report(
            RuleIdentifiers.HugeRangeNotAligned,
            $"{RuleIdentifiers.HugeRangeNotAligned}: {function}({mm}, 0x{start:x}, 0x{end:x}): the range is meant to cover the order-{order} compound page (pfn 0x{head.pfn:x}, 0x{size:x} bytes) "
            + $"mapped at 0x{headAddress:x}, but its start 0x{start:x} is not aligned to the huge page, so it misses the page's first 0x{start - headAddress:x} bytes; "
            + $"start at address & ~((PAGE_SIZE << compound_order(page)) - 1) = 0x{start & ~(size - 1):x}{hugeMask}");
    }

    /// <summary>The order of the compound page a range of <paramref name="length"/> designates: o when
    /// the length is PAGE_SIZE &lt;&lt; o (bytes) or 1 &lt;&lt; o (pages), 1 ≤ o &lt; MAX_ORDER; else -1.</summary>
    private static int DesignatedOrder(ulong length)
    {
        for (int o = 1; o < MAX_ORDER; o++)
        {
            if (length == (PAGE_SIZE << o) || length == (1UL << o))
            {
                return o;
            }
        }

        return -1;
    }

    /// <summary>
    /// The compound head of the page mapped at <paramref name="address"/> in <paramref name="mm"/>
    /// and the address its head is (or was) mapped at: from the page table read without locks (a huge
    /// pmd or hugetlb entry, else the pte), else from a cleared entry there whose invalidation is
    /// still pending.
    /// </summary>
    private static bool CompoundAt(mm_struct mm, ulong address, out page head, out ulong headAddress)
    {
        ulong addr = address & PAGE_MASK;
        if (addr < TASK_SIZE && MappedPfn(mm, addr) is ulong pfn && pfn_valid(pfn))
        {
            return Head(pfn, addr, out head, out headAddress);
        }

        lock (InvalidationTwin.Lock)
        {
            foreach (var r in mm.pending_clears)
            {
                if (r.address <= addr && addr < r.address + r.size)
                {
                    // the entry mapped r.pfn at r.address (a pte, or the first pfn of a huge entry)
                    ulong sub = r.pfn + ((addr - r.address) >> PAGE_SHIFT);
                    if (pfn_valid(sub))
                    {
                        return Head(sub, addr, out head, out headAddress);
                    }
                }
            }
        }

        head = null!;
        headAddress = 0;
        return false;
    }

    private static bool Head(ulong pfn, ulong addr, out page head, out ulong headAddress)
    {
        head = compound_head(pfn_to_page(pfn));
        ulong index = pfn - head.pfn;
        headAddress = addr - (index << PAGE_SHIFT);
        return !head.IsFree && index <= (addr >> PAGE_SHIFT);
    }

    /// <summary>The pfn the CPU page table maps at the page-aligned <paramref name="addr"/>, or null.</summary>
    private static ulong? MappedPfn(mm_struct mm, ulong addr)
    {
        pmd_ptr? pmd = mm_find_pmd(mm, addr);
        if (pmd is null)
        {
            return null;
        }

        pmd_t pmdval = pmdp_get(pmd);
        if (pmd_trans_huge(pmdval))
        {
            return pmd_pfn(pmdval) + ((addr & ~HPAGE_PMD_MASK) >> PAGE_SHIFT);
        }

        pte_t pte = ptep_get(pte_offset_map(pmd, addr));
        return pte_present(pte) && !pte_special(pte) ? pte_pfn(pte) : null;
    }
}
