using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.InvalidateRangeOutsideRangeAnalyzer, MmuNotifierAnalyzers.CodeFixes.NotificationBracketCodeFix>;
using VerifyPte = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.ChangePteOutsideRangeAnalyzer, MmuNotifierAnalyzers.CodeFixes.NotificationBracketCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>The MMU006/MMU009 fix: start before the lock (or the walk), end after it on every exit.</summary>
public class MMU006InvalidateRangeOutsideRangeCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Brackets_the_lock_around_a_clear_flush_notify()
    {
        var source = Usings + @"
static class T
{
    static int f(vm_area_struct vma, ulong address, pte_ptr pte, bool busy)
    {
        mm_struct mm = vma.vm_mm;
        spin_lock(mm.page_table_lock);
        if (busy)
        {
            spin_unlock(mm.page_table_lock);
            return -1;
        }

        [|ptep_clear_flush_notify(vma, address, pte)|];
        spin_unlock(mm.page_table_lock);
        return 0;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int f(vm_area_struct vma, ulong address, pte_ptr pte, bool busy)
    {
        mm_struct mm = vma.vm_mm;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        if (busy)
        {
            spin_unlock(mm.page_table_lock);
            mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
            return -1;
        }

        ptep_clear_flush_notify(vma, address, pte);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return 0;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, CodeActionEquivalenceKey = NotificationBracketCodeFix.BracketKey }.RunAsync();
    }

    [Fact]
    public async Task Brackets_the_walk_when_the_call_follows_it_seed_003()
    {
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, ulong address, page page, pte_ptr[] ptes)
    {
        bool invalidation_needed = false;

        foreach (var pte in ptes)
        {
            ptep_clear_flush(vma, address, pte);
            invalidation_needed = true;
        }

        if (invalidation_needed)
            [|mmu_notifier_invalidate_range(vma.vm_mm, address, address + (PAGE_SIZE << compound_order(page)))|];
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(vm_area_struct vma, ulong address, page page, pte_ptr[] ptes)
    {
        bool invalidation_needed = false;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address;
        mmun_end = address + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        foreach (var pte in ptes)
        {
            ptep_clear_flush(vma, address, pte);
            invalidation_needed = true;
        }

        if (invalidation_needed)
            mmu_notifier_invalidate_range(vma.vm_mm, address, address + (PAGE_SIZE << compound_order(page)));
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task A_range_read_through_a_local_declared_on_the_way_is_bracketed_with_its_initializer()
    {
        // Seed 003 after MMU008's fix: haddr is declared right before the call, after the walk.
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, ulong address, page page, pte_ptr[] ptes)
    {
        foreach (var pte in ptes)
            ptep_clear_flush(vma, address, pte);

        ulong haddr = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        [|mmu_notifier_invalidate_range(vma.vm_mm, haddr, haddr + (PAGE_SIZE << compound_order(page)))|];
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(vm_area_struct vma, ulong address, page page, pte_ptr[] ptes)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = (address & ~((PAGE_SIZE << compound_order(page)) - 1)) + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        foreach (var pte in ptes)
            ptep_clear_flush(vma, address, pte);

        ulong haddr = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmu_notifier_invalidate_range(vma.vm_mm, haddr, haddr + (PAGE_SIZE << compound_order(page)));
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task Offers_nothing_when_a_range_is_open_on_some_paths_only()
    {
        // A second start over the range some paths opened would be MMU002's reopened start.
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e, bool cow)
    {
        if (cow)
            mmu_notifier_invalidate_range_start(mm, s, e);
        [|mmu_notifier_invalidate_range(mm, s, e)|];
        if (cow)
            mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task Offers_nothing_when_the_range_changes_before_the_call()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address, pte_ptr pte)
    {
        spin_lock(mm.page_table_lock);
        address += PAGE_SIZE;
        [|mmu_notifier_invalidate_range(mm, address, address + PAGE_SIZE)|];
        spin_unlock(mm.page_table_lock);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task Set_pte_at_notify_behind_a_shared_unlock_label_gets_the_mmun_called_flag_seed_002()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, pmd_ptr pmd, ulong address, pte_t orig_pte, pte_t entry, bool reuse)
    {
        pte_ptr page_table = pte_offset_map_lock(mm, pmd, address, out var ptl);
        if (reuse)
            goto unlock;
        pte_unmap_unlock(page_table, ptl);

        page_table = pte_offset_map_lock(mm, pmd, address, out ptl);
        if (pte_same(ptep_get(page_table), orig_pte))
            [|set_pte_at_notify(mm, address, page_table, entry)|];
    unlock:
        pte_unmap_unlock(page_table, ptl);
        return 0;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int f(mm_struct mm, pmd_ptr pmd, ulong address, pte_t orig_pte, pte_t entry, bool reuse)
    {
        pte_ptr page_table = pte_offset_map_lock(mm, pmd, address, out var ptl);
        ulong mmun_start = 0; /* For mmu_notifiers */
        ulong mmun_end = 0;   /* For mmu_notifiers */
        bool mmun_called = false; /* For mmu_notifiers */
        if (reuse)
            goto unlock;
        pte_unmap_unlock(page_table, ptl);
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmun_called = true;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        page_table = pte_offset_map_lock(mm, pmd, address, out ptl);
        if (pte_same(ptep_get(page_table), orig_pte))
            set_pte_at_notify(mm, address, page_table, entry);
    unlock:
        pte_unmap_unlock(page_table, ptl);
        if (mmun_called)
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return 0;
    }
}
";
        await new VerifyPte.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task Fix_all_brackets_every_function_and_leaves_other_rules_alone()
    {
        var source = Usings + @"
static class T
{
    static void h(mm_struct mm, ulong a)
    {
        spin_lock(mm.page_table_lock);
        [|mmu_notifier_invalidate_range(mm, a, a + PAGE_SIZE)|];
        spin_unlock(mm.page_table_lock);
    }

    static void f(mm_struct mm, ulong a)
    {
        spin_lock(mm.page_table_lock);
        [|mmu_notifier_invalidate_range(mm, a, a + PAGE_SIZE)|];
        spin_unlock(mm.page_table_lock);
    }

    static void g(mm_struct mm, ulong address, pte_t entry)
    {
        spin_lock(mm.page_table_lock);
        mmu_notifier_change_pte(mm, address, entry);
        spin_unlock(mm.page_table_lock);
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void h(mm_struct mm, ulong a)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = a;
        mmun_end = a + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        mmu_notifier_invalidate_range(mm, a, a + PAGE_SIZE);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }

    static void f(mm_struct mm, ulong a)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = a;
        mmun_end = a + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        mmu_notifier_invalidate_range(mm, a, a + PAGE_SIZE);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }

    static void g(mm_struct mm, ulong address, pte_t entry)
    {
        spin_lock(mm.page_table_lock);
        mmu_notifier_change_pte(mm, address, entry);
        spin_unlock(mm.page_table_lock);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }
}
