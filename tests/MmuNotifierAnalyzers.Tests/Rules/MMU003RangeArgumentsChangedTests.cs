using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.RangeArgumentsChangedAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU003RangeArgumentsChangedTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Mremap_before_seed_004_ends_a_moved_range()
    {
        var source = Usings + @"
static class T
{
    static ulong move_page_tables(vm_area_struct vma, ulong old_addr, ulong new_addr, ulong len)
    {
        ulong extent, old_end;
        old_end = old_addr + len;
        flush_cache_range(vma, old_addr, old_end);
        mmu_notifier_invalidate_range_start(vma.vm_mm, old_addr, old_end);
        for (; old_addr < old_end; old_addr += extent, new_addr += extent)
        {
            cond_resched();
            extent = PAGE_SIZE;
        }

        {|#0:mmu_notifier_invalidate_range_end(vma.vm_mm, old_end - len, old_end)|};
        return len + old_addr - old_end;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_end' may not end the range that 'mmu_notifier_invalidate_range_start' started at line 11: 'old_addr', passed to the start, is assigned at line 12; its start 'old_end - len' is not provably the start's 'old_addr'; capture the range once in mmun_start/mmun_end and pass them to both"));
    }

    [Fact]
    public async Task Mremap_after_seed_004_is_clean()
    {
        var source = Usings + @"
static class T
{
    static ulong move_page_tables(vm_area_struct vma, ulong old_addr, ulong new_addr, ulong len)
    {
        ulong extent, old_end;
        ulong mmun_start;
        ulong mmun_end;
        old_end = old_addr + len;
        mmun_start = old_addr;
        mmun_end = old_end;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        for (; old_addr < old_end; old_addr += extent, new_addr += extent)
        {
            extent = PAGE_SIZE;
        }

        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return len + old_addr - old_end;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Copy_page_range_before_seed_004_ends_on_vm_start()
    {
        var source = Usings + @"
static class T
{
    static bool is_cow_mapping(ulong flags) => (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;

    static void copy_page_range(mm_struct src_mm, vm_area_struct vma)
    {
        ulong addr = vma.vm_start;
        ulong end = vma.vm_end;
        if (is_cow_mapping(vma.vm_flags))
            mmu_notifier_invalidate_range_start(src_mm, addr, end);
        do
        {
            addr += PAGE_SIZE;
        } while (addr != end);
        if (is_cow_mapping(vma.vm_flags))
            {|#0:mmu_notifier_invalidate_range_end(src_mm, vma.vm_start, end)|};
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_end' may not end the range that 'mmu_notifier_invalidate_range_start' started at line 13: 'addr', passed to the start, is assigned at line 16; capture the range once in mmun_start/mmun_end and pass them to both"));
    }

    [Fact]
    public async Task Same_expression_over_unchanged_values_is_clean()
    {
        // "calls close enough that anyone can see the values aren't changing" (seed 004).
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        mmu_notifier_invalidate_range_start(mm, address & HPAGE_PMD_MASK, (address & HPAGE_PMD_MASK) + HPAGE_PMD_SIZE);
        spin_lock(mm.page_table_lock);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, address & HPAGE_PMD_MASK, (address & HPAGE_PMD_MASK) + HPAGE_PMD_SIZE);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Hugetlb_cow_before_seed_004_recomputes_the_range_from_calls()
    {
        var source = Usings + @"
static class T
{
    static void hugetlb_cow(mm_struct mm, vm_area_struct vma, ulong address)
    {
        var h = hstate_vma(vma);
        mmu_notifier_invalidate_range_start(mm, address & huge_page_mask(h), (address & huge_page_mask(h)) + huge_page_size(h));
        {|#0:mmu_notifier_invalidate_range_end(mm, address & huge_page_mask(h), (address & huge_page_mask(h)) + huge_page_size(h))|};
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_end' may not end the range that 'mmu_notifier_invalidate_range_start' started at line 9: its start 'address & huge_page_mask(h)' is computed again and not provably to the same value (a call's result, or a field written since the start); its end '(address & huge_page_mask(h)) + huge_page_size(h)' is computed again and not provably to the same value (a call's result, or a field written since the start); capture the range once in mmun_start/mmun_end and pass them to both"));
    }

    [Fact]
    public async Task Argument_written_on_one_path_only_fires()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong mmun_start, ulong mmun_end, bool grow)
    {
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        if (grow)
            mmun_end += PAGE_SIZE;
        {|#0:mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end)|};
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_end' may not end the range that 'mmu_notifier_invalidate_range_start' started at line 8: 'mmun_end', passed to the start, is assigned at line 10; capture the range once in mmun_start/mmun_end and pass them to both"));
    }

    [Fact]
    public async Task Write_after_the_end_is_clean()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        for (int i = 0; i < 4; i++)
        {
            mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE);
            mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE);
            address += PAGE_SIZE;
        }
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Field_written_between_start_and_end_is_not_provably_the_same()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, vm_area_struct vma, ulong new_start)
    {
        mmu_notifier_invalidate_range_start(mm, vma.vm_start, vma.vm_end);
        vma.vm_start = new_start;
        {|#0:mmu_notifier_invalidate_range_end(mm, vma.vm_start, vma.vm_end)|};
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_end' may not end the range that 'mmu_notifier_invalidate_range_start' started at line 8: its start 'vma.vm_start' is computed again and not provably to the same value (a call's result, or a field written since the start); capture the range once in mmun_start/mmun_end and pass them to both"));
    }

    [Fact]
    public async Task Different_mm_fires()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, vm_area_struct vma, ulong s, ulong e)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, s, e);
        {|#0:mmu_notifier_invalidate_range_end(mm, s, e)|};
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_end' may not end the range that 'mmu_notifier_invalidate_range_start' started at line 8: its mm 'mm' is not provably the start's 'vma.vm_mm'; capture the range once in mmun_start/mmun_end and pass them to both"));
    }

    [Fact]
    public async Task Mm_read_through_a_local_is_the_same()
    {
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, ulong s, ulong e)
    {
        var mm = vma.vm_mm;
        mmu_notifier_invalidate_range_start(vma.vm_mm, s, e);
        mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Range_object_field_written_while_open_fires_at_the_write()
    {
        var source = Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, ulong s, ulong e)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, s, e);
        range.start = s + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(range);
        {|#0:range.end = e + PAGE_SIZE|};
        mmu_notifier_invalidate_range_end(range);
        range.end = e;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'range.end = e + PAGE_SIZE' writes 'end' of the range 'range' opened at line 11 before its _end: the end will not invalidate what the start announced"));
    }

    [Fact]
    public async Task Annotated_helper_arguments_are_compared_by_parameter_name()
    {
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class Helpers
{
    [OpensInvalidationRange(Mm = ""m"", Start = ""lo"", End = ""hi"")]
    public static void begin(ulong hi, mm_struct m, ulong lo) => mmu_notifier_invalidate_range_start(m, lo, hi);

    [ClosesInvalidationRange(Mm = ""m"", Start = ""lo"", End = ""hi"")]
    public static void finish(mm_struct m, ulong lo, ulong hi) => mmu_notifier_invalidate_range_end(m, lo, hi);
}

static class T
{
    static void good(mm_struct mm, ulong s, ulong e)
    {
        Helpers.begin(e, mm, s);
        Helpers.finish(mm, s, e);
    }

    static void bad(mm_struct mm, ulong s, ulong e)
    {
        Helpers.begin(e, mm, s);
        {|#0:Helpers.finish(mm, e, s)|};
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'finish' may not end the range that 'begin' started at line 25: its start 'e' is not provably the start's 's'; its end 's' is not provably the start's 'e'; capture the range once in mmun_start/mmun_end and pass them to both"));
    }

    [Fact]
    public async Task Name_alike_methods_outside_the_api_are_ignored()
    {
        var source = Usings + @"
static class Other
{
    public static void mmu_notifier_invalidate_range_start(mm_struct mm, ulong s, ulong e) { }
    public static void mmu_notifier_invalidate_range_end(mm_struct mm, ulong s, ulong e) { }
}

static class T
{
    static void f(mm_struct mm, ulong s, ulong e)
    {
        Other.mmu_notifier_invalidate_range_start(mm, s, e);
        s += 1;
        Other.mmu_notifier_invalidate_range_end(mm, s, e + 1);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }
}
