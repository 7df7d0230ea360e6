using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.SleepUnderSpinlockAnalyzer, MmuNotifierAnalyzers.CodeFixes.SleepUnderSpinlockCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU005SleepUnderSpinlockCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Start_is_hoisted_above_the_lock_and_end_sunk_below_the_unlock()
    {
        var source = Usings + @"
static class T
{
    static void split(mm_struct mm, ulong address)
    {
        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        spin_lock(mm.page_table_lock);
        // tell the secondary MMUs
        [|mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end)|];
        cond_resched_lock_free();
        [|mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end)|]; // done
        spin_unlock(mm.page_table_lock);
    }

    static void cond_resched_lock_free() { }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void split(mm_struct mm, ulong address)
    {
        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        // tell the secondary MMUs
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        cond_resched_lock_free();
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end); // done
    }

    static void cond_resched_lock_free() { }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = fixedSource, BatchFixedCode = fixedSource };
        await test.RunAsync();
    }

    [Fact]
    public async Task No_hoist_when_the_arguments_are_computed_under_the_lock()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        ulong mmun_start;
        spin_lock(mm.page_table_lock);
        mmun_start = address & PAGE_MASK;
        [|mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_start + PAGE_SIZE)|];
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_start + PAGE_SIZE);
    }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = source, CodeActionEquivalenceKey = SleepUnderSpinlockCodeFix.MoveKey };
        await test.RunAsync();
    }
    [Fact]
    public async Task A_range_inside_an_if_moves_out_as_a_unit()
    {
        var source = Usings + @"
static class T
{
    static void cow(mm_struct mm, vm_area_struct vma, ulong address, pte_ptr ptep, pte_t pte)
    {
        ulong size = PAGE_SIZE;

        /*
         * Retake the lock
         */
        spin_lock(mm.page_table_lock);
        ptep = pte_offset_map(mm_find_pmd(mm, address)!, address);
        if (pte_same(ptep_get(ptep), pte))
        {
            /* Break COW */
            [|mmu_notifier_invalidate_range_start(mm,
                address & PAGE_MASK,
                (address & PAGE_MASK) + size)|];
            ptep_clear_flush(vma, address, ptep);
            [|mmu_notifier_invalidate_range_end(mm,
                address & PAGE_MASK,
                (address & PAGE_MASK) + size)|];
        }
        spin_unlock(mm.page_table_lock);
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void cow(mm_struct mm, vm_area_struct vma, ulong address, pte_ptr ptep, pte_t pte)
    {
        ulong size = PAGE_SIZE;

        mmu_notifier_invalidate_range_start(mm,
            address & PAGE_MASK,
            (address & PAGE_MASK) + size);
        /*
         * Retake the lock
         */
        spin_lock(mm.page_table_lock);
        ptep = pte_offset_map(mm_find_pmd(mm, address)!, address);
        if (pte_same(ptep_get(ptep), pte))
        {
            /* Break COW */
            ptep_clear_flush(vma, address, ptep);
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm,
            address & PAGE_MASK,
            (address & PAGE_MASK) + size);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }
}
