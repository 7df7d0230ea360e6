using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.PageReleasedBeforeInvalidationAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU010PageReleasedBeforeInvalidationTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Fires_on_a_release_before_invalidate_range()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte)
    {
        ptep_clear_flush(vma, address, pte);
        {|#0:put_page(page)|};
        mmu_notifier_invalidate_range(vma.vm_mm, address, address + PAGE_SIZE);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("put_page", "ptep_clear_flush", "8", "mmu_notifier_invalidate_range", "10"));
    }

    [Fact]
    public async Task Fires_on_a_release_before_the_legacy_invalidate_page()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte, spinlock_t ptl)
    {
        ptep_clear_flush(vma, address, pte);
        pte_unmap_unlock(pte, ptl);
        [|page_cache_release(page)|];
        mmu_notifier_invalidate_page(vma.vm_mm, address);
    }
}
");
    }

    [Fact]
    public async Task Fires_in_a_walk_bracketed_by_start_and_end_try_to_unmap_cluster()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, ulong address, ulong end, pmd_ptr pmd)
    {
        ulong mmun_start = address, mmun_end = end;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        for (; address < end; address += PAGE_SIZE)
        {
            var pte = pte_offset_map(pmd, address);
            if (!pte_present(ptep_get(pte)))
                continue;
            var page = vm_normal_page(vma, address, ptep_get(pte));
            ptep_clear_flush(vma, address, pte);
            [|page_cache_release(page!)|];
        }
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task An_invalidation_that_misses_the_entry_leaves_it_for_the_one_that_covers_it()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte)
    {
        ptep_clear_flush(vma, address, pte);
        [|put_page(page)|];
        mmu_notifier_invalidate_range(vma.vm_mm, address + PAGE_SIZE, address + 2 * PAGE_SIZE);
        mmu_notifier_invalidate_range(vma.vm_mm, address, address + PAGE_SIZE);
    }
}
");
    }

    [Fact]
    public async Task Silent_when_the_release_follows_the_invalidation()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte)
    {
        ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_range(vma.vm_mm, address & PAGE_MASK, (address & PAGE_MASK) + PAGE_SIZE);
        put_page(page);
    }
}
");
    }

    [Fact]
    public async Task Silent_when_the_clear_notifies_itself()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte, ulong s, ulong e)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, s, e);
        ptep_clear_flush_notify(vma, address, pte);
        put_page(page);
        mmu_notifier_invalidate_range_end(vma.vm_mm, s, e);
    }
}
");
    }

    [Fact]
    public async Task Silent_after_set_pte_at_notify_on_the_entry_ksm_replace_page()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, page page, ulong addr, pte_ptr ptep, pte_t newpte, ulong s, ulong e)
    {
        mmu_notifier_invalidate_range_start(mm, s, e);
        ptep_clear_flush(vma, addr, ptep);
        set_pte_at_notify(mm, addr, ptep, newpte);
        put_page(page);
        mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
");
    }

    [Fact]
    public async Task Silent_when_no_invalidation_follows()
    {
        // Nothing to be late for: an entry no notifier hears about at all is not this rule's.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte)
    {
        ptep_clear_flush(vma, address, pte);
        put_page(page);
    }
}
");
    }

    [Fact]
    public async Task Silent_when_the_invalidation_provably_misses_the_entry()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, page page, ulong address, pte_ptr pte)
    {
        ptep_clear_flush(vma, address, pte);
        put_page(page);
        mmu_notifier_invalidate_range(vma.vm_mm, address + PAGE_SIZE, address + 2 * PAGE_SIZE);
    }
}
");
    }
}
