using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.ChangePteOutsideRangeAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU009ChangePteOutsideRangeTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Fires_on_set_pte_at_notify_under_the_lock_with_no_range()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, pmd_ptr pmd, ulong address, pte_t entry)
    {
        var pte = pte_offset_map_lock(mm, pmd, address, out var ptl);
        {|#0:set_pte_at_notify(mm, address, pte, entry)|};
        pte_unmap_unlock(pte, ptl);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("set_pte_at_notify", "the page at 'address'", "no invalidate_range_start is open here"));
    }

    [Fact]
    public async Task Fires_on_change_pte()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address, pte_t entry) => [|mmu_notifier_change_pte(mm, address, entry)|];
}
");
    }

    [Fact]
    public async Task Silent_inside_the_page_range_seed_002_opens()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, pmd_ptr pmd, ulong address, pte_t entry)
    {
        ulong mmun_start = address & PAGE_MASK;
        ulong mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        var pte = pte_offset_map_lock(mm, pmd, address, out var ptl);
        set_pte_at_notify(mm, address, pte, entry);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task Silent_with_the_mmun_called_flag()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, pmd_ptr pmd, ulong address, pte_t entry, bool copy)
    {
        ulong mmun_start = 0, mmun_end = 0;
        bool mmun_called = false;
        if (copy)
        {
            mmun_start = address & PAGE_MASK;
            mmun_end = mmun_start + PAGE_SIZE;
            mmun_called = true;
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        }

        var pte = pte_offset_map_lock(mm, pmd, address, out var ptl);
        if (mmun_called)
            set_pte_at_notify(mm, address, pte, entry);
        pte_unmap_unlock(pte, ptl);
        if (mmun_called)
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task Fires_when_the_range_is_another_page()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address, pte_t entry)
    {
        mmu_notifier_invalidate_range_start(mm, address + PAGE_SIZE, address + 2 * PAGE_SIZE);
        [|mmu_notifier_change_pte(mm, address, entry)|];
        mmu_notifier_invalidate_range_end(mm, address + PAGE_SIZE, address + 2 * PAGE_SIZE);
    }
}
");
    }
}
