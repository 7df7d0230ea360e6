using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.PageReleasedBeforeInvalidationAnalyzer, MmuNotifierAnalyzers.CodeFixes.PageReleasedBeforeInvalidationCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU010PageReleasedBeforeInvalidationCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task A_clear_inside_the_range_becomes_its_notifying_form_34ee645e83b6()
    {
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, page page, ulong haddr, pmd_ptr pmd)
    {
        ulong mmun_start = haddr, mmun_end = haddr + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        pmdp_clear_flush(vma, haddr, pmd);
        page_remove_rmap(page, true);
        [|put_page(page)|];
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, page page, ulong haddr, pmd_ptr pmd)
    {
        ulong mmun_start = haddr, mmun_end = haddr + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        pmdp_huge_clear_flush_notify(vma, haddr, pmd);
        page_remove_rmap(page, true);
        put_page(page);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, CodeActionEquivalenceKey = PageReleasedBeforeInvalidationCodeFix.NotifyingClearKey }.RunAsync();
    }

    [Fact]
    public async Task A_walk_with_no_range_is_bracketed_and_its_clear_notifies_seed_003()
    {
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, ulong address, page page, pte_ptr[] ptes)
    {
        foreach (var pte in ptes)
        {
            ptep_clear_flush(vma, address, pte);
            [|put_page(page)|];
        }

        mmu_notifier_invalidate_range(vma.vm_mm, address, address + (PAGE_SIZE << compound_order(page)));
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
        mmun_start = address;
        mmun_end = address + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        foreach (var pte in ptes)
        {
            ptep_clear_flush_notify(vma, address, pte);
            put_page(page);
        }

        mmu_notifier_invalidate_range(vma.vm_mm, address, address + (PAGE_SIZE << compound_order(page)));
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, CodeActionEquivalenceKey = PageReleasedBeforeInvalidationCodeFix.NotifyingClearKey }.RunAsync();
    }

    [Fact]
    public async Task Outside_a_range_the_release_moves_after_the_invalidation()
    {
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte, spinlock_t ptl)
    {
        ptep_clear_flush(vma, address, pte);
        pte_unmap_unlock(pte, ptl);
        /* drop the mapping's reference */
        [|page_cache_release(page)|];
        mmu_notifier_invalidate_page(vma.vm_mm, address);
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte, spinlock_t ptl)
    {
        ptep_clear_flush(vma, address, pte);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_page(vma.vm_mm, address);
        /* drop the mapping's reference */
        page_cache_release(page);
    }
}
";
        await new Verify.Test
        {
            TestCode = source,
            FixedCode = fixedSource,
            CodeActionEquivalenceKey = PageReleasedBeforeInvalidationCodeFix.MoveReleaseKey,
        }.RunAsync();
    }

    [Fact]
    public async Task Offers_nothing_when_a_jump_lies_between()
    {
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte, bool bail)
    {
        ptep_clear_flush(vma, address, pte);
        [|put_page(page)|];
        if (bail)
            return;
        mmu_notifier_invalidate_page(vma.vm_mm, address);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }
}
