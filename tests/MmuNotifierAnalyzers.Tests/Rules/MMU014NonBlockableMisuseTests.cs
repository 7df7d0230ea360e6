using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;
using MmuNotifierAnalyzers.Rules;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.NonBlockableMisuseAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU014NonBlockableMisuseTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    private static DiagnosticResult Sleep() =>
        Verify.Diagnostic(NonBlockableMisuseAnalyzer.SleepRule).WithOptions(DiagnosticOptions.IgnoreAdditionalLocations);

    // ------------------------------------------------------------------ (a) a refused non-blocking start

    [Fact]
    public async Task Fires_on_the_end_after_a_refused_nonblock_start()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static bool reap(vm_area_struct vma, mm_struct mm)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, vma.vm_start, vma.vm_end);
        if (mmu_notifier_invalidate_range_start_nonblock(range) != 0)
        {
            {|#0:mmu_notifier_invalidate_range_end(range)|};
            return false;
        }

        mmu_notifier_invalidate_range_end(range);
        return true;
    }
}
", Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_end' runs on a path where 'mmu_notifier_invalidate_range_start_nonblock(range)' at line 10 returned non-zero: "
            + "on -EAGAIN the range was never started (every notifier already had its end), so do not call the end on that path"));
    }

    [Fact]
    public async Task Fires_on_unmap_and_end_when_the_result_is_ignored()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void unmap_page_range(vm_area_struct vma, ulong start, ulong end) { }

    static void reap(vm_area_struct vma, mm_struct mm, pmd_ptr pmd, ulong address)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, vma.vm_start, vma.vm_end);
        mmu_notifier_invalidate_range_start_nonblock(range);
        var pte = pte_offset_map_lock(mm, pmd, address, out var ptl);
        [|ptep_get_and_clear(mm, address, pte)|];
        pte_unmap_unlock(pte, ptl);
        [|mmu_notifier_invalidate_range_end(range)|];
    }
}
");
    }

    [Fact]
    public async Task Silent_when_the_refused_path_skips_the_range_as_the_oom_reaper_does()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static bool reap(mm_struct mm, pmd_ptr pmd)
    {
        bool ret = true;
        foreach (var vma in mm.Vmas)
        {
            var range = new mmu_notifier_range();
            mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, vma.vm_start, vma.vm_end);
            if (mmu_notifier_invalidate_range_start_nonblock(range) != 0)
            {
                ret = false;
                continue;
            }

            var pte = pte_offset_map_lock(mm, pmd, vma.vm_start, out var ptl);
            ptep_get_and_clear(mm, vma.vm_start, pte);
            pte_unmap_unlock(pte, ptl);
            mmu_notifier_invalidate_range_end(range);
        }

        return ret;
    }
}
");
    }

    [Fact]
    public async Task Silent_when_the_result_is_kept_in_a_local_and_tested_later()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static int reap(mmu_notifier_range range)
    {
        int ret = mmu_notifier_invalidate_range_start_nonblock(range);
        if (ret == 0)
        {
            mmu_notifier_invalidate_range_end(range);
        }

        return ret;
    }
}
");
    }

    [Fact]
    public async Task Reports_the_end_after_refusal_once_and_not_as_MMU002()
    {
        // The end on the refused path is MMU014's, not an unmatched end (MMU002): one diagnostic per defect.
        await MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.UnbalancedRangeAnalyzer>.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void reap(mmu_notifier_range range)
    {
        if (mmu_notifier_invalidate_range_start_nonblock(range) != 0)
        {
            mmu_notifier_invalidate_range_end(range);
            return;
        }

        mmu_notifier_invalidate_range_end(range);
    }
}
");
    }

    [Fact]
    public async Task Fires_after_goto_and_switch_on_the_refusal()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void reap(mmu_notifier_range range, int mode)
    {
        int err = mmu_notifier_invalidate_range_start_nonblock(range);
        switch (err)
        {
            case 0:
                break;
            default:
                goto out_end;
        }

        return;
    out_end:
        [|mmu_notifier_invalidate_range_end(range)|];
    }
}
");
    }

    // ------------------------------------------------------------------ (b) sleeping in a non-blockable-capable callback

    private const string Driver = @"
sealed class drv : mmu_notifier
{
    public readonly mutex lk = new(""drv"");
}
";

    [Fact]
    public async Task Fires_on_a_range_start_callback_that_sleeps_unguarded()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static int drv_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        var d = (drv)mn;
        {|#0:mutex_lock(d.lk)|};
        mutex_unlock(d.lk);
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_invalidate_range_start };
}
", Sleep().WithLocation(0).WithMessage(
            "invalidate_range_start_range callback 'drv_invalidate_range_start' calls 'mutex_lock', which may sleep: mutex_lock; on this path 'range' is not proven blockable "
            + "(the OOM reaper invalidates with a non-blockable range): return -EAGAIN when !mmu_notifier_range_blockable(range) before it"));
    }

    [Fact]
    public async Task Silent_after_an_early_eagain_return()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static int drv_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        var d = (drv)mn;
        if (!mmu_notifier_range_blockable(range))
            return -EAGAIN;
        mutex_lock(d.lk);
        mutex_unlock(d.lk);
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_invalidate_range_start };
}
");
    }

    [Fact]
    public async Task Silent_with_mutex_trylock_when_not_blockable()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static int drv_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        var d = (drv)mn;
        bool blockable = mmu_notifier_range_blockable(range);
        if (blockable)
            mutex_lock(d.lk);
        else if (!mutex_trylock(d.lk))
            return -EAGAIN;
        mutex_unlock(d.lk);
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_invalidate_range_start };
}
");
    }

    [Fact]
    public async Task Fires_on_an_interval_notifier_lambda_that_sleeps_in_a_loop()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static readonly mutex lk = new(""lk"");

    static readonly mmu_interval_notifier_ops ops = new()
    {
        invalidate = (sub, range, cur_seq) =>
        {
            for (ulong a = range.start; a < range.end; a += PAGE_SIZE)
            {
                [|msleep(1)|];
            }

            mmu_interval_set_seq(sub, cur_seq);
            return true;
        },
    };
}
");
    }

    [Fact]
    public async Task Fires_through_a_local_function_and_names_the_chain()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static void flush_dev(drv d) => mutex_lock(d.lk);

    static void register(drv d, mm_struct mm)
    {
        int drv_start(mmu_notifier mn, mmu_notifier_range range)
        {
            try
            {
                {|#0:flush_dev((drv)mn)|};
            }
            finally
            {
                mutex_unlock(((drv)mn).lk);
            }

            return 0;
        }

        invalidate_range_start_range_fn f = drv_start;
    }
}
", Sleep().WithLocation(0).WithMessage(
            "invalidate_range_start_range_fn callback 'drv_start' calls 'flush_dev', which may sleep: flush_dev → mutex_lock; on this path 'range' is not proven blockable "
            + "(the OOM reaper invalidates with a non-blockable range): return -EAGAIN when !mmu_notifier_range_blockable(range) before it"));
    }

    [Fact]
    public async Task Fires_on_the_end_range_callback_without_a_fix()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static void drv_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range) => [|mutex_lock(((drv)mn).lk)|];

    static readonly mmu_notifier_ops ops = new() { invalidate_range_end_range = drv_invalidate_range_end };
}
");
    }

    [Fact]
    public async Task Silent_on_the_legacy_start_form_which_is_always_blockable()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static void drv_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) => mutex_lock(((drv)mn).lk);

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start = drv_invalidate_range_start };
}
");
    }

    [Fact]
    public async Task Silent_on_a_method_of_the_same_shape_that_is_no_callback()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static int drv_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        mutex_lock(((drv)mn).lk);
        return 0;
    }

    static int caller(mmu_notifier mn, mmu_notifier_range range) => drv_invalidate_range_start(mn, range);
}
");
    }

    [Fact]
    public async Task Fires_only_on_the_unguarded_branch()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static bool drv_invalidate(mmu_interval_notifier sub, mmu_notifier_range range, ulong cur_seq)
    {
        if (mmu_notifier_range_blockable(range))
        {
            msleep(1);
        }
        else
        {
            [|msleep(2)|];
        }

        mmu_interval_set_seq(sub, cur_seq);
        return true;
    }

    static readonly mmu_interval_notifier_ops ops = new() { invalidate = drv_invalidate };
}
");
    }

    [Fact]
    public async Task Silent_when_a_helper_told_blockable_sleeps_only_when_it_is()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static int unmap_if_in_range(drv d, ulong start, ulong end, bool blockable)
    {
        if (!blockable)
            return -EAGAIN;
        msleep(1);
        return 0;
    }

    static int drv_start(mmu_notifier mn, mmu_notifier_range range)
    {
        var d = (drv)mn;
        if (mmu_notifier_range_blockable(range))
            mutex_lock(d.lk);
        else if (!mutex_trylock(d.lk))
            return -EAGAIN;
        int ret = unmap_if_in_range(d, range.start, range.end, mmu_notifier_range_blockable(range));
        mutex_unlock(d.lk);
        return ret;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_start };
}
");
    }

    [Fact]
    public async Task Fires_when_a_helper_told_blockable_still_sleeps_unconditionally()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static readonly rw_semaphore sem = new();

    static int read_lock(drv d, bool blockable)
    {
        if (blockable)
            mutex_lock(d.lk);
        else if (!mutex_trylock(d.lk))
            return -EAGAIN;
        down_read(sem);
        mutex_unlock(d.lk);
        return 0;
    }

    static int drv_start(mmu_notifier mn, mmu_notifier_range range)
    {
        bool blockable = mmu_notifier_range_blockable(range);
        if ({|#0:read_lock((drv)mn, blockable)|} != 0)
            return -EAGAIN;
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_start };
}
", Sleep().WithLocation(0).WithMessage(
            "invalidate_range_start_range callback 'drv_start' calls 'read_lock', which may sleep: read_lock → down_read; on this path 'range' is not proven blockable "
            + "(the OOM reaper invalidates with a non-blockable range): return -EAGAIN when !mmu_notifier_range_blockable(range) before it"));
    }

    [Fact]
    public async Task MMU004_leaves_the_range_form_and_interval_callbacks_to_MMU014()
    {
        // One diagnostic per defect: these callbacks are not atomic, they must not sleep only when asked.
        await MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<SleepInAtomicCallbackAnalyzer>.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static int drv_start(mmu_notifier mn, mmu_notifier_range range)
    {
        mutex_lock(((drv)mn).lk);
        return 0;
    }

    static void drv_end(mmu_notifier mn, mmu_notifier_range range) => mutex_unlock(((drv)mn).lk);

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_start, invalidate_range_end_range = drv_end };

    static readonly mmu_interval_notifier_ops iops = new() { invalidate = (sub, range, seq) => { msleep(1); return true; } };
}
");
    }

    [Fact]
    public async Task Annotations_count_never_sleeps_silences_and_may_sleep_reports()
    {
        await Verify.VerifyAnalyzerAsync("using MmuNotifierAnalyzers.Annotations;\n" + Usings + Driver + @"
static class T
{
    [MaySleep]
    static void wait_for_device(drv d) { }

    static int drv_start(mmu_notifier mn, mmu_notifier_range range)
    {
        [|wait_for_device((drv)mn)|];
        return 0;
    }

    [NeverSleeps]
    static int drv_start_atomic_safe(mmu_notifier mn, mmu_notifier_range range)
    {
        wait_for_device((drv)mn);
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_start };
    static readonly mmu_notifier_ops ops2 = new() { invalidate_range_start_range = drv_start_atomic_safe };
}
");
    }

    [Fact]
    public async Task Name_alikes_outside_the_api_neither_guard_nor_refuse()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class Other
{
    public static bool mmu_notifier_range_blockable(mmu_notifier_range range) => true;
    public static int mmu_notifier_invalidate_range_start_nonblock(mmu_notifier_range range) => 0;
}

static class T
{
    static int drv_start(mmu_notifier mn, mmu_notifier_range range)
    {
        if (!Other.mmu_notifier_range_blockable(range))
            return -EAGAIN;
        [|mutex_lock(((drv)mn).lk)|];
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_start };

    static void reap(mmu_notifier_range range)
    {
        if (Other.mmu_notifier_invalidate_range_start_nonblock(range) != 0)
            return;
        mmu_notifier_invalidate_range_end(range);
    }
}
");
    }

    [Fact]
    public async Task Silent_after_a_throw_on_the_non_blockable_path()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Driver + @"
static class T
{
    static int drv_start(mmu_notifier mn, mmu_notifier_range range)
    {
        if (!mmu_notifier_range_blockable(range))
            throw new System.InvalidOperationException(""not blockable"");
        mutex_lock(((drv)mn).lk);
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_start };
}
");
    }
}
