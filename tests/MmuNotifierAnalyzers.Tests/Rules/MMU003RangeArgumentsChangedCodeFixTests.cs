using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;
using MmuNotifierAnalyzers.CodeFixes;
using MmuNotifierAnalyzers.Tests.Verifiers;
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
    public async Task Names_already_taken_get_the_next_number()
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
        var fixedSource = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong mmun_start, ulong mmun_end)
    {
        ulong mmun_start2 = mmun_start;
        ulong mmun_end2 = mmun_end;
        mmu_notifier_invalidate_range_start(mm, mmun_start2, mmun_end2);
        mmun_start += PAGE_SIZE;
        mmu_notifier_invalidate_range_end(mm, mmun_start2, mmun_end2);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, NumberOfIncrementalIterations = 1, NumberOfFixAllIterations = 1 }.RunAsync();
    }

    private const string TwoSequentialRanges = @"
static class T
{
    static void f(mm_struct mm, ulong addr, ulong end)
    {
        mmu_notifier_invalidate_range_start(mm, addr, end);
        addr += PAGE_SIZE;
        [|mmu_notifier_invalidate_range_end(mm, addr, end)|];

        /* second pass */
        mmu_notifier_invalidate_range_start(mm, addr, end);
        end -= PAGE_SIZE;
        [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
    }
}
";

    private const string TwoSequentialRangesFixed = @"
static class T
{
    static void f(mm_struct mm, ulong addr, ulong end)
    {
        ulong mmun_start = addr;
        ulong mmun_end = end;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        addr += PAGE_SIZE;
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);

        /* second pass */
        ulong mmun_start2 = addr;
        ulong mmun_end2 = end;
        mmu_notifier_invalidate_range_start(mm, mmun_start2, mmun_end2);
        end -= PAGE_SIZE;
        mmu_notifier_invalidate_range_end(mm, mmun_start2, mmun_end2);
    }
}
";

    private const string NestedRangesOnTwoMms = @"
static class T
{
    static void f(mm_struct mm, mm_struct other, ulong addr, ulong end)
    {
        mmu_notifier_invalidate_range_start(mm, addr, end);
        mmu_notifier_invalidate_range_start(other, addr, end);
        addr += PAGE_SIZE;
        [|mmu_notifier_invalidate_range_end(other, addr, end)|];
        [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
    }
}
";

    // The inner range's end comes first, so its range is captured first and keeps the plain names.
    private const string NestedRangesOnTwoMmsFixed = @"
static class T
{
    static void f(mm_struct mm, mm_struct other, ulong addr, ulong end)
    {
        ulong mmun_start2 = addr;
        ulong mmun_end2 = end;
        mmu_notifier_invalidate_range_start(mm, mmun_start2, mmun_end2);
        ulong mmun_start = addr;
        ulong mmun_end = end;
        mmu_notifier_invalidate_range_start(other, mmun_start, mmun_end);
        addr += PAGE_SIZE;
        mmu_notifier_invalidate_range_end(other, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start2, mmun_end2);
    }
}
";

    public static TheoryData<string, string> TwoRangesInOneMethod => new()
    {
        { TwoSequentialRanges, TwoSequentialRangesFixed },
        { NestedRangesOnTwoMms, NestedRangesOnTwoMmsFixed },
    };

    /// <summary>
    /// One by one, and Fix All in document, project and solution scope (the harness runs all
    /// four and compares each with the same fixed code): the second range of a method gets
    /// mmun_start2 / mmun_end2, and Fix All needs a single pass.
    /// </summary>
    [Theory]
    [MemberData(nameof(TwoRangesInOneMethod))]
    public async Task Two_ranges_in_one_method_get_their_own_locals_one_by_one_and_in_fix_all(string source, string fixedSource)
    {
        await new Verify.Test { TestCode = Usings + source, FixedCode = Usings + fixedSource, NumberOfIncrementalIterations = 2, NumberOfFixAllIterations = 1, CodeActionEquivalenceKey = RangeArgumentsChangedCodeFix.EquivalenceKey }.RunAsync();
    }

    /// <summary>Fix All in project and solution scope over two documents: one pass fixes both, as four fixes one by one do.</summary>
    [Theory]
    [MemberData(nameof(TwoRangesInOneMethod))]
    public async Task Fix_all_in_project_and_solution_fixes_every_document_in_one_pass(string source, string fixedSource)
    {
        var test = new Verify.Test
        {
            NumberOfIncrementalIterations = 4,
            NumberOfFixAllIterations = 1,
            CodeActionEquivalenceKey = RangeArgumentsChangedCodeFix.EquivalenceKey,
            CodeFixTestBehaviors = CodeFixTestBehaviors.SkipFixAllInDocumentCheck,
        };
        test.TestState.Sources.Add(("A.cs", Usings + source));
        test.TestState.Sources.Add(("B.cs", Usings + source.Replace("class T", "class U", System.StringComparison.Ordinal)));
        test.FixedState.Sources.Add(("A.cs", Usings + fixedSource));
        test.FixedState.Sources.Add(("B.cs", Usings + fixedSource.Replace("class T", "class U", System.StringComparison.Ordinal)));
        await test.RunAsync();
    }

    /// <summary>The fixed code reports no MMU003, so running the fix again changes nothing.</summary>
    [Theory]
    [MemberData(nameof(TwoRangesInOneMethod))]
    public async Task Fixing_again_changes_nothing(string source, string fixedSource)
    {
        _ = source;
        await Verify.VerifyCodeFixAsync(Usings + fixedSource, Usings + fixedSource);
    }

    [Fact]
    public async Task Copy_page_range_conditional_start_gets_the_locals_before_the_if()
    {
        var source = Usings + @"
static class T
{
    static int copy_page_range(mm_struct dst_mm, mm_struct src_mm, vm_area_struct vma)
    {
        ulong next;
        ulong addr = vma.vm_start;
        ulong end = vma.vm_end;
        int ret;

        /*
         * We need to invalidate the secondary MMU mappings only when
         * there could be a permission downgrade on the ptes of the
         * parent mm.
         */
        if (is_cow_mapping(vma.vm_flags))
            mmu_notifier_invalidate_range_start(src_mm, addr, end);

        ret = 0;
        do
        {
            next = pmd_addr_end(addr, end);
        }
        while ((addr = next) != end);

        if (is_cow_mapping(vma.vm_flags))
            [|mmu_notifier_invalidate_range_end(src_mm,
                                              vma.vm_start, end)|];
        return ret;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int copy_page_range(mm_struct dst_mm, mm_struct src_mm, vm_area_struct vma)
    {
        ulong next;
        ulong addr = vma.vm_start;
        ulong end = vma.vm_end;
        int ret;

        /*
         * We need to invalidate the secondary MMU mappings only when
         * there could be a permission downgrade on the ptes of the
         * parent mm.
         */
        ulong mmun_start = addr;
        ulong mmun_end = end;
        if (is_cow_mapping(vma.vm_flags))
            mmu_notifier_invalidate_range_start(src_mm, mmun_start, mmun_end);

        ret = 0;
        do
        {
            next = pmd_addr_end(addr, end);
        }
        while ((addr = next) != end);

        if (is_cow_mapping(vma.vm_flags))
            mmu_notifier_invalidate_range_end(src_mm, mmun_start, mmun_end);
        return ret;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, NumberOfIncrementalIterations = 1, NumberOfFixAllIterations = 1, CodeActionEquivalenceKey = RangeArgumentsChangedCodeFix.EquivalenceKey }.RunAsync();
    }

    [Fact]
    public async Task Start_in_an_else_branch_or_a_braced_if_gets_the_locals_before_the_if()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, vm_area_struct vma, ulong addr, ulong end, bool cow)
    {
        if (!cow)
            cond_resched();
        else
            mmu_notifier_invalidate_range_start(mm, addr, end);
        addr += PAGE_SIZE;
        if (cow)
            [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
    }

    static void g(mm_struct mm, vm_area_struct vma, bool cow)
    {
        if (is_cow_mapping(vma.vm_flags))
        {
            /* the parent's ptes lose write access */
            mmu_notifier_invalidate_range_start(mm, vma.vm_start, vma.vm_end); // announce
        }

        vma.vm_start += PAGE_SIZE;
        if (is_cow_mapping(vma.vm_flags))
        {
            [|mmu_notifier_invalidate_range_end(mm, vma.vm_start, vma.vm_end)|];
        }
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(mm_struct mm, vm_area_struct vma, ulong addr, ulong end, bool cow)
    {
        ulong mmun_start = addr;
        ulong mmun_end = end;
        if (!cow)
            cond_resched();
        else
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        addr += PAGE_SIZE;
        if (cow)
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }

    static void g(mm_struct mm, vm_area_struct vma, bool cow)
    {
        ulong mmun_start = vma.vm_start;
        ulong mmun_end = vma.vm_end;
        if (is_cow_mapping(vma.vm_flags))
        {
            /* the parent's ptes lose write access */
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end); // announce
        }

        vma.vm_start += PAGE_SIZE;
        if (is_cow_mapping(vma.vm_flags))
        {
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        }
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, CodeActionEquivalenceKey = RangeArgumentsChangedCodeFix.EquivalenceKey }.RunAsync();
    }

    [Fact]
    public async Task Start_as_a_loop_body_gets_the_locals_before_the_loop()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong addr, ulong end, int n)
    {
        for (int i = 0; i < n; i++)
            mmu_notifier_invalidate_range_start(mm, addr, end);
        addr += PAGE_SIZE;
        for (int i = 0; i < n; i++)
            [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong addr, ulong end, int n)
    {
        ulong mmun_start = addr;
        ulong mmun_end = end;
        for (int i = 0; i < n; i++)
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        addr += PAGE_SIZE;
        for (int i = 0; i < n; i++)
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, NumberOfIncrementalIterations = 1, NumberOfFixAllIterations = 1, CodeActionEquivalenceKey = RangeArgumentsChangedCodeFix.EquivalenceKey }.RunAsync();
    }

    /// <summary>
    /// No fix where the locals cannot take the start's values before the if / loop: the condition
    /// assigns an argument (the locals would hold the value from before the assignment); the loop
    /// advances it (each start sees another value); an argument dereferences what the condition
    /// checked for null, or calls a method (it would now run when the start does not), or reads
    /// a local declared inside the branch (not in scope before the if); a field the start reads
    /// may be written by a call in the condition.
    /// </summary>
    [Fact]
    public async Task No_fix_for_a_field_written_on_a_range_object()
    {
        // The 4.20 form: the fix is to not write the range's fields between start and end, which
        // depends on what the write was for; capturing locals does not apply.
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, ulong s, ulong e)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, s, e);
        mmu_notifier_invalidate_range_start(range);
        [|range.end = e + PAGE_SIZE|];
        mmu_notifier_invalidate_range_end(range);
    }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = source };
        await test.RunAsync();
    }

    [Fact]
    public async Task No_fix_for_a_start_under_a_label()
    {
        // A goto to the label would run the start again with the new values: declaring the
        // locals before it would freeze the first ones.
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e, bool again)
    {
    retry:
        mmu_notifier_invalidate_range_start(mm, s, e);
        s += PAGE_SIZE;
        [|mmu_notifier_invalidate_range_end(mm, s, e)|];
        if (again)
            goto retry;
    }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = source };
        await test.RunAsync();
    }

    [Fact]
    public async Task An_end_split_over_lines_becomes_one_call()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong addr, ulong end)
    {
        mmu_notifier_invalidate_range_start(mm, addr, end);
        addr += PAGE_SIZE;
        [|mmu_notifier_invalidate_range_end(mm,
                                           addr,
                                           end)|];
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong addr, ulong end)
    {
        ulong mmun_start = addr;
        ulong mmun_end = end;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        addr += PAGE_SIZE;
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, CodeActionEquivalenceKey = RangeArgumentsChangedCodeFix.EquivalenceKey }.RunAsync();
    }

    [Fact]
    public async Task No_fix_for_a_start_in_a_switch_section_or_a_finally_block()
    {
        // The locals would have to go outside a case section, or outside the finally block that
        // holds the start while its end comes after the try: the fix does not follow the order of
        // evaluation there, and offers nothing.
        var source = Usings + @"
static class T
{
    static void in_a_case(mm_struct mm, ulong addr, ulong end, int mode)
    {
        switch (mode)
        {
            case 1:
                mmu_notifier_invalidate_range_start(mm, addr, end);
                addr += PAGE_SIZE;
                [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
                break;
        }
    }

    static void in_a_finally(mm_struct mm, ulong addr, ulong end)
    {
        try
        {
            cond_resched();
        }
        finally
        {
            mmu_notifier_invalidate_range_start(mm, addr, end);
        }

        addr += PAGE_SIZE;
        [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_fix_when_the_start_arguments_cannot_move_before_the_condition()
    {
        var source = Usings + @"
static class T
{
    static void assigned(mm_struct mm, vm_area_struct vma, ulong addr, ulong end)
    {
        if ((addr = vma.vm_start) != 0)
            mmu_notifier_invalidate_range_start(mm, addr, end);
        addr += PAGE_SIZE;
        if (addr != PAGE_SIZE)
            [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
    }

    static void advanced(mm_struct mm, ulong addr, ulong end)
    {
        for (int i = 0; i < 4; i++, addr += PAGE_SIZE)
            mmu_notifier_invalidate_range_start(mm, addr, end);
        for (int i = 0; i < 4; i++)
            [|mmu_notifier_invalidate_range_end(mm, addr, end)|];
    }

    static void null_checked(mm_struct mm, vm_area_struct? vma, bool cow)
    {
        if (vma != null)
            mmu_notifier_invalidate_range_start(mm, vma.vm_start, vma.vm_end);
        cond_resched();
        if (vma != null)
            [|mmu_notifier_invalidate_range_end(mm, vma.vm_start + 0, vma.vm_end)|];
    }

    static void called(mm_struct mm, vm_area_struct vma, bool cow)
    {
        if (cow)
            mmu_notifier_invalidate_range_start(mm, vma.vm_start, pmd_addr_end(vma.vm_start, vma.vm_end));
        if (cow)
            [|mmu_notifier_invalidate_range_end(mm, vma.vm_start, vma.vm_end)|];
    }

    static void declared_on_the_way(mm_struct mm, ulong addr, bool cow)
    {
        if (cow)
        {
            ulong end = addr + PAGE_SIZE;
            mmu_notifier_invalidate_range_start(mm, addr, end);
        }

        addr += PAGE_SIZE;
        if (cow)
            [|mmu_notifier_invalidate_range_end(mm, addr, addr + PAGE_SIZE)|];
    }

    static ulong touch(vm_area_struct vma) => vma.vm_start++;

    static void written_by_a_call(mm_struct mm, vm_area_struct vma)
    {
        if (touch(vma) != 0)
            mmu_notifier_invalidate_range_start(mm, vma.vm_start, vma.vm_end);
        if (vma.vm_start != 0)
            [|mmu_notifier_invalidate_range_end(mm, vma.vm_start + 0, vma.vm_end)|];
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }
}
