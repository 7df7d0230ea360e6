using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.RangeArgumentsChangedAnalyzer, MmuNotifierAnalyzers.CodeFixes.RangeArgumentsChangedCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU003RangeArgumentsChangedCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Mremap_gets_the_mmun_convention()
    {
        var source = Usings + @"
static class T
{
    static ulong move_page_tables(vm_area_struct vma, ulong old_addr, ulong len)
    {
        ulong old_end = old_addr + len;
        // announce the move
        mmu_notifier_invalidate_range_start(vma.vm_mm, old_addr, old_end);
        for (; old_addr < old_end; old_addr += PAGE_SIZE)
        {
            cond_resched();
        }

        [|mmu_notifier_invalidate_range_end(vma.vm_mm, old_end - len, old_end)|]; // done
        return len + old_addr - old_end;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static ulong move_page_tables(vm_area_struct vma, ulong old_addr, ulong len)
    {
        ulong old_end = old_addr + len;
        // announce the move
        ulong mmun_start = old_addr;
        ulong mmun_end = old_end;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        for (; old_addr < old_end; old_addr += PAGE_SIZE)
        {
            cond_resched();
        }

        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end); // done
        return len + old_addr - old_end;
    }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = fixedSource, CodeActionEquivalenceKey = RangeArgumentsChangedCodeFix.EquivalenceKey };
        await test.RunAsync();
    }

    [Fact]
    public async Task Every_end_of_the_range_gets_the_locals_and_fix_all_agrees()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong addr, ulong end, bool x)
    {
        mmu_notifier_invalidate_range_start(mm, addr, end);
        addr += PAGE_SIZE;
        if (x)
        {
            [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
            return;
        }

        [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong addr, ulong end, bool x)
    {
        ulong mmun_start = addr;
        ulong mmun_end = end;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        addr += PAGE_SIZE;
        if (x)
        {
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
            return;
        }

        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = fixedSource, NumberOfIncrementalIterations = 1, NumberOfFixAllIterations = 1, CodeActionEquivalenceKey = RangeArgumentsChangedCodeFix.EquivalenceKey };
        await test.RunAsync();
    }

    [Fact]
    public async Task No_fix_when_mmun_names_are_taken()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong mmun_start, ulong mmun_end)
    {
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmun_start += PAGE_SIZE;
        [|mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end)|];
    }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = source };
        await test.RunAsync();
    }
}
