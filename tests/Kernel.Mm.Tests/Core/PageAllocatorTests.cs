using System;
using System.Collections.Generic;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

[Collection(SerialCollection.Name)]
public class PageAllocatorTests
{
    [Fact]
    public void Freed_page_goes_back_to_the_free_list_and_is_handed_out_again()
    {
        var p = alloc_page(GFP_KERNEL)!;
        Assert.Equal(1, page_count(p));
        Assert.False(p.IsFree);
        ulong pfn = page_to_pfn(p);
        Assert.Same(p, pfn_to_page(pfn));

        get_page(p);
        Assert.Equal(2, page_count(p));
        put_page(p);
        Assert.False(p.IsFree);
        Assert.Contains(p, TestMm.Freed(() => put_page(p)));

        // Other tests allocate in parallel, so the freed pfn may go to them: the page must come
        // back to some allocation, with fresh state, within a bounded number of tries.
        var taken = new List<page>();
        try
        {
            page? again = null;
            for (int i = 0; i < 100_000 && again is null; i++)
            {
                var q = alloc_page(GFP_KERNEL)!;
                taken.Add(q);
                if (page_to_pfn(q) == pfn)
                {
                    again = q;
                }
            }

            Assert.NotNull(again);
            Assert.Equal(1, page_count(again!));
            Assert.Equal(0, page_mapcount(again!));
        }
        finally
        {
            foreach (var q in taken)
            {
                put_page(q);
            }
        }
    }

    [Fact]
    public void Double_free_names_the_function_and_the_pfn()
    {
        var p = alloc_page(GFP_KERNEL)!;
        put_page(p);
        var e = Assert.Throws<InvalidOperationException>(() => put_page(p));
        Assert.Contains("put_page", e.Message);
        Assert.Contains($"0x{page_to_pfn(p):x}", e.Message);
        var e2 = Assert.Throws<InvalidOperationException>(() => page_cache_release(p));
        Assert.StartsWith("page_cache_release", e2.Message);
        var e3 = Assert.Throws<InvalidOperationException>(() => get_page(p));
        Assert.StartsWith("get_page", e3.Message);
    }

    [Fact]
    public void Compound_page_has_head_tails_order_and_refcount_on_the_head()
    {
        var head = alloc_pages(GFP_TRANSHUGE, HPAGE_PMD_ORDER)!;
        Assert.True(PageHead(head));
        Assert.True(PageTransHuge(head));
        Assert.True(PageCompound(head));
        Assert.Equal(HPAGE_PMD_ORDER, compound_order(head));
        Assert.Equal(0UL, page_to_pfn(head) % HPAGE_PMD_NR);

        var tail = pfn_to_page(page_to_pfn(head) + 7);
        Assert.True(PageTail(tail));
        Assert.True(PageCompound(tail));
        Assert.Same(head, compound_head(tail));
        Assert.Equal(0, compound_order(tail));

        get_page(tail);                 // a reference on a tail is a reference on the head
        Assert.Equal(2, page_count(head));
        put_page(tail);
        Assert.Equal(1, page_count(head));

        Assert.Contains(head, TestMm.Freed(() => __free_pages(head, HPAGE_PMD_ORDER)));
    }

    [Fact]
    public void Free_pages_with_the_wrong_order_is_rejected()
    {
        var head = alloc_pages(GFP_KERNEL, 2)!;
        var e = Assert.Throws<ArgumentException>(() => __free_pages(head, 0));
        Assert.Contains("__free_pages", e.Message);
        Assert.Contains($"0x{page_to_pfn(head):x}", e.Message);
        __free_pages(head, 2);
    }

    [Fact]
    public void Freeing_a_mapped_page_is_refused()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, TestMm.Base, FAULT_FLAG_WRITE);
        var p = TestMm.PageAt(mm, TestMm.Base);
        var e = Assert.Throws<InvalidOperationException>(() => put_page(p));
        Assert.Contains("still mapped", e.Message);
        Assert.Equal(1, page_count(p)); // the refused put left the page as it was
        mmput(mm);
    }

    [Fact]
    public void Allocation_failure_injection_returns_null_and_faults_report_oom()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, TestMm.Base, 0); // page tables exist now
        using (fail_page_allocations_after(0))
        {
            Assert.Null(alloc_page(GFP_KERNEL));
            vm_fault_t r = handle_mm_fault(vma, TestMm.Base + PAGE_SIZE, FAULT_FLAG_WRITE);
            Assert.Equal((int)VM_FAULT_OOM, (int)r);
        }

        Assert.True(pte_present(TestMm.PteOf(mm, TestMm.Base)));
        Assert.True(pte_none(TestMm.PteOf(mm, TestMm.Base + PAGE_SIZE)));
        mmput(mm);
    }

    [Fact]
    public void PageFreeing_fires_before_reuse()
    {
        var p = alloc_page(GFP_KERNEL)!;
        bool seenWhileNotFree = false;
        Action<page> handler = q =>
        {
            if (ReferenceEquals(q, p))
            {
                seenWhileNotFree = !q.IsFree;
            }
        };
        MmRuntime.PageFreeing += handler;
        try
        {
            put_page(p);
        }
        finally
        {
            MmRuntime.PageFreeing -= handler;
        }

        Assert.True(seenWhileNotFree);
    }

    [Fact]
    public void Pfn_outside_memory_is_a_clear_error()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => pfn_to_page(3));
        Assert.Contains("pfn_to_page", e.Message);
        Assert.Contains("0x3", e.Message);
    }

    [Fact]
    public void Mmput_returns_every_page_and_page_table()
    {
        var (mm, vma) = TestMm.Anon(size: 64 * PAGE_SIZE);
        var pages = new List<page>();
        for (ulong a = TestMm.Base; a < TestMm.Base + (64 * PAGE_SIZE); a += PAGE_SIZE)
        {
            handle_mm_fault(vma, a, FAULT_FLAG_WRITE);
            pages.Add(TestMm.PageAt(mm, a));
        }

        var freed = TestMm.Freed(() => mmput(mm));
        Assert.All(pages, p => Assert.Contains(p, freed));
        Assert.Empty(mm.Vmas);
    }
}
