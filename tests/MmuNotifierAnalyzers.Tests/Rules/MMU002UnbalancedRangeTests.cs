using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.UnbalancedRangeAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU002UnbalancedRangeTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Early_return_leaves_the_range_open()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong address, bool fail)
    {
        ulong mmun_start = address & PAGE_MASK, mmun_end = mmun_start + PAGE_SIZE;
        {|#0:mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end)|};
        if (fail)
            return -1;
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return 0;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic("MMU002").WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_start' on 'mm' is not ended on every path: the path that returns at line 11 leaves the range open; call the matching _end on that path"));
    }

    [Fact]
    public async Task The_v3_10_mmun_end_greater_than_mmun_start_guard_is_correlated()
    {
        // do_wp_page (v3.10): both 0 until the start runs, then a & PAGE_MASK and that + PAGE_SIZE.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static int f(mm_struct mm, ulong address, bool copy)
    {
        ulong mmun_start = 0, mmun_end = 0;
        if (copy)
        {
            mmun_start = address & PAGE_MASK;
            mmun_end = mmun_start + PAGE_SIZE;
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        }

        if (mmun_end > mmun_start)
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task Balanced_straight_line_around_the_lock_is_clean()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong address)
    {
        ulong mmun_start = address & PAGE_MASK, mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return 0;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task If_else_both_ending_is_clean()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong s, ulong e, bool x)
    {
        mmu_notifier_invalidate_range_start(mm, s, e);
        if (x)
        {
            mmu_notifier_invalidate_range_end(mm, s, e);
            return 1;
        }
        else
        {
            mmu_notifier_invalidate_range_end(mm, s, e);
        }

        return 0;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Copy_page_range_correlated_is_cow_is_balanced()
    {
        // Seed 004, mm/memory.c after the change.
        var source = Usings + @"
static class T
{
    static bool is_cow_mapping(ulong flags) => (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;

    static int copy_page_range(mm_struct dst_mm, mm_struct src_mm, vm_area_struct vma)
    {
        ulong next;
        ulong addr = vma.vm_start;
        ulong end = vma.vm_end;
        ulong mmun_start;
        ulong mmun_end;
        bool is_cow;
        int ret;

        is_cow = is_cow_mapping(vma.vm_flags);
        mmun_start = addr;
        mmun_end = end;
        if (is_cow)
            mmu_notifier_invalidate_range_start(src_mm, mmun_start, mmun_end);

        ret = 0;
        do
        {
            next = addr + PAGE_SIZE;
            if (next > end)
                next = end;
        } while ((addr = next) != end);

        if (is_cow)
            mmu_notifier_invalidate_range_end(src_mm, mmun_start, mmun_end);
        return ret;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Repeated_predicate_on_unchanged_values_is_correlated()
    {
        // Before seed 004: is_cow_mapping(vma->vm_flags) tested twice; the flags do not change.
        var source = Usings + @"
static class T
{
    static bool is_cow_mapping(ulong flags) => (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;

    static void f(mm_struct src_mm, vm_area_struct vma, ulong addr, ulong end)
    {
        if (is_cow_mapping(vma.vm_flags))
            mmu_notifier_invalidate_range_start(src_mm, addr, end);
        if (is_cow_mapping(vma.vm_flags))
            mmu_notifier_invalidate_range_end(src_mm, addr, end);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Do_wp_page_mmun_called_flag_is_balanced()
    {
        // Seed 002: the range is ended under 'if (mmun_called)' after the shared unlock label.
        var source = Usings + @"
static class T
{
    static int do_wp_page(mm_struct mm, vm_area_struct vma, ulong address, pmd_ptr pmd, bool oom, bool same)
    {
        ulong mmun_start = 0;
        ulong mmun_end = 0;
        bool mmun_called = false;
        int ret = 0;
        var page_table = pte_offset_map_lock(mm, pmd, address, out var ptl);
        if (oom)
            goto unlock;
        pte_unmap_unlock(page_table, ptl);

        mmun_start = address & PAGE_MASK;
        mmun_end = (address & PAGE_MASK) + PAGE_SIZE;
        mmun_called = true;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);

        page_table = pte_offset_map_lock(mm, pmd, address, out ptl);
        if (!same)
            goto unlock;
        ret = 1;
    unlock:
        pte_unmap_unlock(page_table, ptl);
        if (mmun_called)
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return ret;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Hugetlb_cow_goto_out_skips_the_end()
    {
        // Seed 004, mm/huge_memory.c before 'goto out' became 'goto out_mn'.
        var source = Usings + @"
static class T
{
    static int do_huge_pmd_wp_page_fallback(mm_struct mm, ulong haddr, bool same)
    {
        int ret = 0;
        ulong mmun_start = haddr;
        ulong mmun_end = haddr + HPAGE_PMD_SIZE;
        {|#0:mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end)|};
        spin_lock(mm.page_table_lock);
        if (!same)
        {
            spin_unlock(mm.page_table_lock);
            goto @out;
        }
        else
        {
            ret |= 1;
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    @out:
        return ret;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic("MMU002").WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_start' on 'mm' is not ended on every path: the path that returns at line 25 (label 'out') leaves the range open; call the matching _end on that path"));
    }

    [Fact]
    public async Task Hugetlb_cow_goto_out_mn_is_balanced()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong haddr, bool same)
    {
        int ret = 0;
        ulong mmun_start = haddr;
        ulong mmun_end = haddr + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        if (!same)
        {
            spin_unlock(mm.page_table_lock);
            goto out_mn;
        }
        else
        {
            ret |= 1;
        }
        spin_unlock(mm.page_table_lock);
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return ret;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Try_finally_covers_return_and_throw()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong s, ulong e, int k)
    {
        mmu_notifier_invalidate_range_start(mm, s, e);
        try
        {
            if (k == 1)
                return 1;
            if (k == 2)
                throw new System.InvalidOperationException();
            return 0;
        }
        finally
        {
            mmu_notifier_invalidate_range_end(mm, s, e);
        }
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Throw_without_finally_leaves_the_range_open()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e, bool bad)
    {
        {|#0:mmu_notifier_invalidate_range_start(mm, s, e)|};
        if (bad)
            throw new System.ArgumentException(nameof(bad));
        mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic("MMU002").WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_start' on 'mm' is not ended on every path: the path that throws at line 10 leaves the range open; call the matching _end on that path"));
    }

    [Fact]
    public async Task Throw_caught_in_the_method_and_ended_in_the_handler_is_clean()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e, bool bad)
    {
        mmu_notifier_invalidate_range_start(mm, s, e);
        try
        {
            if (bad)
                throw new System.ArgumentException(nameof(bad));
        }
        catch (System.ArgumentException)
        {
        }
        mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Switch_case_that_returns_without_end_fires()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong s, ulong e, int k)
    {
        {|#0:mmu_notifier_invalidate_range_start(mm, s, e)|};
        switch (k)
        {
            case 0:
                mmu_notifier_invalidate_range_end(mm, s, e);
                return 0;
            case 1:
                return -1;
            default:
                break;
        }

        mmu_notifier_invalidate_range_end(mm, s, e);
        return 1;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic("MMU002").WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_start' on 'mm' is not ended on every path: the path that returns at line 15 leaves the range open; call the matching _end on that path"));
    }

    [Fact]
    public async Task Switch_where_every_case_ends_is_clean()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong s, ulong e, int k)
    {
        mmu_notifier_invalidate_range_start(mm, s, e);
        switch (k)
        {
            case 0:
                mmu_notifier_invalidate_range_end(mm, s, e);
                return 0;
            default:
                mmu_notifier_invalidate_range_end(mm, s, e);
                return 1;
        }
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Start_in_a_loop_is_reopened_and_the_end_may_run_without_start()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e, int n)
    {
        for (int i = 0; i < n; i++)
        {
            {|#0:mmu_notifier_invalidate_range_start(mm, s, e)|};
        }

        {|#1:mmu_notifier_invalidate_range_end(mm, s, e)|};
    }
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Verify.Diagnostic("MMU002").WithLocation(0).WithMessage(
                "'mmu_notifier_invalidate_range_start' on 'mm' starts a range while the one started at line 10 is still open (a loop, or an _end missing before it)"),
            Verify.Diagnostic("MMU002").WithLocation(1).WithMessage(
                "'mmu_notifier_invalidate_range_end' on 'mm' is reached on some path with no invalidate_range_start open on that mm"));
    }

    [Fact]
    public async Task Balanced_inside_the_loop_body_is_clean()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong start, ulong end)
    {
        for (ulong address = start; address < end; address += PAGE_SIZE)
        {
            ulong mmun_start = address, mmun_end = address + PAGE_SIZE;
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
            if (address == 0)
            {
                mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
                continue;
            }

            cond_resched();
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        }
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task End_with_no_start_fires()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e)
    {
        [|mmu_notifier_invalidate_range_end(mm, s, e)|];
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Lambda_and_local_function_are_their_own_methods()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e)
    {
        mmu_notifier_invalidate_range_start(mm, s, e);
        System.Action balanced = () =>
        {
            mmu_notifier_invalidate_range_start(mm, s, e);
            mmu_notifier_invalidate_range_end(mm, s, e);
        };
        System.Action leaky = () => [|mmu_notifier_invalidate_range_start(mm, s, e)|];
        void closes_nothing_it_did_not_open() => [|mmu_notifier_invalidate_range_end(mm, s, e)|];
        balanced();
        leaky();
        closes_nothing_it_did_not_open();
        mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Annotated_user_helpers_count_as_start_and_end()
    {
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class Helpers
{
    [OpensInvalidationRange(Mm = ""vma_mm"", Start = ""from"", End = ""to"")]
    public static void begin_flush(mm_struct vma_mm, ulong from, ulong to) =>
        mmu_notifier_invalidate_range_start(vma_mm, from, to);

    [ClosesInvalidationRange(Mm = ""vma_mm"", Start = ""from"", End = ""to"")]
    public static void end_flush(mm_struct vma_mm, ulong from, ulong to) =>
        mmu_notifier_invalidate_range_end(vma_mm, from, to);
}

static class T
{
    static void good(mm_struct mm, ulong s, ulong e)
    {
        Helpers.begin_flush(mm, s, e);
        Helpers.end_flush(mm, s, e);
    }

    static void mixed(mm_struct mm, ulong s, ulong e)
    {
        Helpers.begin_flush(mm, s, e);
        mmu_notifier_invalidate_range_end(mm, s, e);
    }

    static void bad(mm_struct mm, ulong s, ulong e, bool x)
    {
        {|#0:Helpers.begin_flush(mm, s, e)|};
        if (x)
            return;
        Helpers.end_flush(mm, s, e);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic("MMU002").WithLocation(0).WithMessage(
            "'begin_flush' on 'mm' is not ended on every path: the path that returns leaves the range open; call the matching _end on that path"));
    }

    [Fact]
    public async Task Range_object_form_is_tracked_by_the_range()
    {
        var source = Usings + @"
static class T
{
    static void good(vm_area_struct vma, mm_struct mm, ulong s, ulong e)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, s, e);
        mmu_notifier_invalidate_range_start(range);
        mmu_notifier_invalidate_range_end(range);
    }

    static void bad(vm_area_struct vma, mm_struct mm, ulong s, ulong e, bool x)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, s, e);
        [|mmu_notifier_invalidate_range_start(range)|];
        if (x)
            return;
        mmu_notifier_invalidate_range_end(range);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Nonblock_start_opens_only_when_it_returned_zero()
    {
        // The oom reaper's pattern (4.19+): a failed _nonblock start has nothing to end.
        var source = Usings + @"
static class T
{
    static bool reap(vm_area_struct vma, mm_struct mm, ulong s, ulong e)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, s, e);
        if (mmu_notifier_invalidate_range_start_nonblock(range) != 0)
            return false;
        cond_resched();
        mmu_notifier_invalidate_range_end(range);
        return true;
    }

    static bool reap_ret(vm_area_struct vma, mm_struct mm, ulong s, ulong e)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, s, e);
        int ret = mmu_notifier_invalidate_range_start_nonblock(range);
        if (ret == 0)
            mmu_notifier_invalidate_range_end(range);
        return ret == 0;
    }

    static void ends_a_failed_start(vm_area_struct vma, mm_struct mm, ulong s, ulong e)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, s, e);
        if (mmu_notifier_invalidate_range_start_nonblock(range) != 0)
        {
            // An end after a refused start is MMU014's finding, not an unmatched end.
            mmu_notifier_invalidate_range_end(range);
            return;
        }

        mmu_notifier_invalidate_range_end(range);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
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
    static void f(mm_struct mm, ulong s, ulong e, bool x)
    {
        Other.mmu_notifier_invalidate_range_start(mm, s, e);
        if (x)
            return;
        Other.mmu_notifier_invalidate_range_end(mm, s, e);
        Other.mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Two_mms_are_tracked_separately()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct src_mm, mm_struct dst_mm, ulong s, ulong e, bool x)
    {
        mmu_notifier_invalidate_range_start(src_mm, s, e);
        {|#0:mmu_notifier_invalidate_range_start(dst_mm, s, e)|};
        if (x)
        {
            mmu_notifier_invalidate_range_end(src_mm, s, e);
            return;
        }

        mmu_notifier_invalidate_range_end(dst_mm, s, e);
        mmu_notifier_invalidate_range_end(src_mm, s, e);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic("MMU002").WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_start' on 'dst_mm' is not ended on every path: the path that returns leaves the range open; call the matching _end on that path"));
    }

    [Fact]
    public async Task Half_typed_code_does_not_throw()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong s)
    {
        mmu_notifier_invalidate_range_start(mm, s, );
        mmu_notifier_invalidate_range_end(mm
        if (
    }
}
";
        var test = new Verify.Test { TestCode = source, CompilerDiagnostics = CompilerDiagnostics.None };
        await test.RunAsync();
    }
}
