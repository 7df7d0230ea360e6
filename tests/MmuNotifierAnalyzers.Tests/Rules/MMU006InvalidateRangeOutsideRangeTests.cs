using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.InvalidateRangeOutsideRangeAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU006InvalidateRangeOutsideRangeTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Fires_on_invalidate_range_with_no_start()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        {|#0:mmu_notifier_invalidate_range(mm, address, address + PAGE_SIZE)|};
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("mmu_notifier_invalidate_range", "['address', 'address + PAGE_SIZE')", "no invalidate_range_start is open here"));
    }

    [Fact]
    public async Task Fires_on_the_clear_flush_notify_wrappers()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, ulong address, pte_ptr pte, ulong haddr, pmd_ptr pmd)
    {
        [|ptep_clear_flush_notify(vma, address, pte)|];
        [|pmdp_huge_clear_flush_notify(vma, haddr, pmd)|];
    }
}
");
    }

    [Fact]
    public async Task Fires_when_the_range_is_open_on_some_paths_only()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e, bool cow)
    {
        if (cow)
            mmu_notifier_invalidate_range_start(mm, s, e);
        {|#0:mmu_notifier_invalidate_range(mm, s, e)|};
        if (cow)
            mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("mmu_notifier_invalidate_range", "['s', 'e')", "no invalidate_range_start is open here on some path"));
    }

    [Fact]
    public async Task Silent_on_correlated_branches_that_open_the_range_where_they_invalidate()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e, bool cow)
    {
        if (cow)
            mmu_notifier_invalidate_range_start(mm, s, e);
        if (cow)
            mmu_notifier_invalidate_range(mm, s, e);
        if (cow)
            mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
");
    }

    [Fact]
    public async Task Fires_when_the_open_range_provably_misses_the_call()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong haddr)
    {
        mmu_notifier_invalidate_range_start(mm, haddr, haddr + HPAGE_PMD_SIZE);
        {|#0:mmu_notifier_invalidate_range(mm, haddr + HPAGE_PMD_SIZE, haddr + HPAGE_PMD_SIZE + PAGE_SIZE)|};
        mmu_notifier_invalidate_range_end(mm, haddr, haddr + HPAGE_PMD_SIZE);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("mmu_notifier_invalidate_range", "['haddr + HPAGE_PMD_SIZE', 'haddr + HPAGE_PMD_SIZE + PAGE_SIZE')", "the range started at line 8 ['haddr', 'haddr + HPAGE_PMD_SIZE') does not cover it"));
    }

    [Fact]
    public async Task Silent_inside_a_covering_range_under_the_lock()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        mm_struct mm = vma.vm_mm;
        ulong haddr = address & HPAGE_PMD_MASK;
        mmu_notifier_invalidate_range_start(mm, haddr, haddr + HPAGE_PMD_SIZE);
        spin_lock(mm.page_table_lock);
        ptep_clear_flush_notify(vma, haddr, pte);
        mmu_notifier_invalidate_range(vma.vm_mm, address & PAGE_MASK, (address & PAGE_MASK) + PAGE_SIZE);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, haddr, haddr + HPAGE_PMD_SIZE);
    }
}
");
    }

    [Fact]
    public async Task Silent_when_coverage_cannot_be_decided()
    {
        // The walk's address is not provably inside [start, end): an open range counts.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static ulong next(ulong a) => a + PAGE_SIZE;

    static void f(mm_struct mm, ulong start, ulong end)
    {
        mmu_notifier_invalidate_range_start(mm, start, end);
        for (ulong a = start; a < end; a = next(a))
            mmu_notifier_invalidate_range(mm, a, a + PAGE_SIZE);
        mmu_notifier_invalidate_range_end(mm, start, end);
    }
}
");
    }

    [Fact]
    public async Task Fires_after_the_end()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e)
    {
        mmu_notifier_invalidate_range_start(mm, s, e);
        mmu_notifier_invalidate_range_end(mm, s, e);
        [|mmu_notifier_invalidate_range(mm, s, e)|];
    }
}
");
    }

    [Fact]
    public async Task Silent_inside_the_4_20_range_object()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, ulong s, ulong e)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, s, e);
        mmu_notifier_invalidate_range_start(range);
        mmu_notifier_invalidate_range(mm, s, e);
        mmu_notifier_invalidate_range_end(range);
    }
}
");
    }

    [Fact]
    public async Task Fires_outside_the_4_20_range_object_as_range_init_filled_it()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, ulong haddr)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, haddr, haddr + HPAGE_PMD_SIZE);
        mmu_notifier_invalidate_range_start(range);
        mmu_notifier_invalidate_range(mm, haddr, haddr + PAGE_SIZE);
        [|mmu_notifier_invalidate_range(mm, haddr + HPAGE_PMD_SIZE, haddr + HPAGE_PMD_SIZE + PAGE_SIZE)|];
        mmu_notifier_invalidate_range_end(range);
    }
}
");
    }

    [Fact]
    public async Task Silent_on_an_unrelated_method_of_the_same_name()
    {
        await Verify.VerifyAnalyzerAsync(@"
static class T
{
    static void mmu_notifier_invalidate_range(object mm, ulong s, ulong e) { }

    static void f(object mm) => mmu_notifier_invalidate_range(mm, 0, 4096);
}
");
    }

    [Fact]
    public async Task Silent_in_a_helper_every_caller_enters_inside_its_range()
    {
        // v4.0 __split_huge_zero_page_pmd: its only caller holds start/end around the call.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void split_zero(vm_area_struct vma, ulong haddr, pmd_ptr pmd) => pmdp_huge_clear_flush_notify(vma, haddr, pmd);

    static void split(vm_area_struct vma, ulong haddr, pmd_ptr pmd)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, haddr, haddr + HPAGE_PMD_SIZE);
        split_zero(vma, haddr, pmd);
        mmu_notifier_invalidate_range_end(vma.vm_mm, haddr, haddr + HPAGE_PMD_SIZE);
    }
}
");
    }

    [Fact]
    public async Task Fires_in_a_helper_when_one_caller_has_no_range_or_callers_cannot_all_be_seen()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void clear_one(vm_area_struct vma, ulong a, pte_ptr pte) => [|ptep_clear_flush_notify(vma, a, pte)|];

    static void clear_two(vm_area_struct vma, ulong a, pte_ptr pte) => [|ptep_clear_flush_notify(vma, a, pte)|];

    static System.Action<vm_area_struct, ulong, pte_ptr> callback = clear_two;

    static void inside(vm_area_struct vma, ulong a, pte_ptr pte)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, a, a + PAGE_SIZE);
        clear_one(vma, a, pte);
        clear_two(vma, a, pte);
        mmu_notifier_invalidate_range_end(vma.vm_mm, a, a + PAGE_SIZE);
    }

    static void outside(vm_area_struct vma, ulong a, pte_ptr pte) => clear_one(vma, a, pte);
}
");
    }
}
