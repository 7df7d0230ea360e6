using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;
using MmuNotifierAnalyzers.CodeFixes;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.NonBlockableMisuseAnalyzer, MmuNotifierAnalyzers.CodeFixes.NonBlockableMisuseCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU014NonBlockableMisuseCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    private const string Driver = @"
sealed class drv : mmu_notifier
{
    public readonly mutex lk = new(""drv"");
}
";

    [Fact]
    public async Task A_start_callback_refuses_with_eagain_at_its_top_93065ac753e4()
    {
        var source = Usings + Driver + @"
static class T
{
    static int drv_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        // serialise with the fault path
        [|mutex_lock(((drv)mn).lk)|];
        mutex_unlock(((drv)mn).lk);
        [|msleep(1)|];
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_invalidate_range_start };
}
";
        var fixedSource = Usings + Driver + @"
static class T
{
    static int drv_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        if (!mmu_notifier_range_blockable(range))
            return -EAGAIN;
        // serialise with the fault path
        mutex_lock(((drv)mn).lk);
        mutex_unlock(((drv)mn).lk);
        msleep(1);
        return 0;
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start_range = drv_invalidate_range_start };
}
";
        await Verify.VerifyCodeFixAsync(source, fixedSource);
    }

    [Fact]
    public async Task An_interval_invalidate_returns_false_before_the_sleeping_statement()
    {
        var source = Usings + @"
static class T
{
    static readonly mutex lk = new(""lk"");

    static bool drv_invalidate(mmu_interval_notifier sub, mmu_notifier_range range, ulong cur_seq)
    {
        ulong n = range.end - range.start;
        if (n != 0)
        {
            [|mutex_lock(lk)|];
        }

        mmu_interval_set_seq(sub, cur_seq);
        mutex_unlock(lk);
        return true;
    }

    static readonly mmu_interval_notifier_ops ops = new() { invalidate = drv_invalidate };
}
";
        var fixedSource = Usings + @"
static class T
{
    static readonly mutex lk = new(""lk"");

    static bool drv_invalidate(mmu_interval_notifier sub, mmu_notifier_range range, ulong cur_seq)
    {
        ulong n = range.end - range.start;
        if (!mmu_notifier_range_blockable(range))
            return false;
        if (n != 0)
        {
            mutex_lock(lk);
        }

        mmu_interval_set_seq(sub, cur_seq);
        mutex_unlock(lk);
        return true;
    }

    static readonly mmu_interval_notifier_ops ops = new() { invalidate = drv_invalidate };
}
";
        await Verify.VerifyCodeFixAsync(source, fixedSource);
    }

    [Fact]
    public async Task A_lambda_without_the_linux_statics_gets_qualified_names()
    {
        var source = @"using Kernel.Mm;

static class T
{
    static readonly mutex lk = new(""lk"");

    static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range_start_range = (mn, range) =>
        {
            [|Linux.mutex_lock(lk)|];
            Linux.mutex_unlock(lk);
            return 0;
        },
    };
}
";
        var fixedSource = @"using Kernel.Mm;

static class T
{
    static readonly mutex lk = new(""lk"");

    static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range_start_range = (mn, range) =>
        {
            if (!global::Kernel.Mm.Linux.mmu_notifier_range_blockable(range))
                return -global::Kernel.Mm.Linux.EAGAIN;
            Linux.mutex_lock(lk);
            Linux.mutex_unlock(lk);
            return 0;
        },
    };
}
";
        await Verify.VerifyCodeFixAsync(source, fixedSource);
    }

    [Fact]
    public async Task No_fix_for_an_end_callback_which_cannot_refuse()
    {
        var source = Usings + Driver + @"
static class T
{
    static void drv_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        [|mutex_lock(((drv)mn).lk)|];
        mutex_unlock(((drv)mn).lk);
    }

    static readonly mmu_notifier_ops ops = new() { invalidate_range_end_range = drv_invalidate_range_end };
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_fix_for_a_refused_start_followed_by_its_end()
    {
        var source = Usings + @"
static class T
{
    static void reap(mmu_notifier_range range)
    {
        if (mmu_notifier_invalidate_range_start_nonblock(range) != 0)
        {
            [|mmu_notifier_invalidate_range_end(range)|];
            return;
        }

        mmu_notifier_invalidate_range_end(range);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task The_end_after_an_if_on_the_start_moves_into_its_success_branch_oom_reaper()
    {
        // The -mm form of __oom_reap_task_mm (February 2021): the end after the refused start too.
        var source = Usings + @"
static class T
{
    static void unmap(mmu_notifier_range range) { }

    static bool reap(mmu_notifier_range range)
    {
        bool ret = true;
        if (mmu_notifier_invalidate_range_start_nonblock(range) == 0)
            unmap(range);
        else
            ret = false;
        // pairs with the start
        [|mmu_notifier_invalidate_range_end(range)|];   // after every start
        return ret;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void unmap(mmu_notifier_range range) { }

    static bool reap(mmu_notifier_range range)
    {
        bool ret = true;
        if (mmu_notifier_invalidate_range_start_nonblock(range) == 0)
        {
            unmap(range);
            // pairs with the start
            mmu_notifier_invalidate_range_end(range);   // after every start
        }
        else
            ret = false;
        return ret;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, CodeActionEquivalenceKey = NonBlockableMisuseCodeFix.EndOnSuccessKey }.RunAsync();
    }

    [Fact]
    public async Task The_end_after_a_refusing_if_becomes_its_else_or_joins_its_success_block()
    {
        var source = Usings + @"
static class T
{
    static void refused(mmu_notifier_range range)
    {
        if (mmu_notifier_invalidate_range_start_nonblock(range) != 0)
        {
            range.start = 0;
        }
        [|mmu_notifier_invalidate_range_end(range)|];
    }

    static void started(mmu_notifier_range range)
    {
        if (0 == (mmu_notifier_invalidate_range_start_nonblock(range)))
        {
            range.start = 0;
        }
        [|mmu_notifier_invalidate_range_end(range)|];
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void refused(mmu_notifier_range range)
    {
        if (mmu_notifier_invalidate_range_start_nonblock(range) != 0)
        {
            range.start = 0;
        }
        else
            mmu_notifier_invalidate_range_end(range);
    }

    static void started(mmu_notifier_range range)
    {
        if (0 == (mmu_notifier_invalidate_range_start_nonblock(range)))
        {
            range.start = 0;
            mmu_notifier_invalidate_range_end(range);
        }
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task No_fix_for_an_end_after_an_untested_start()
    {
        var source = Usings + @"
static class T
{
    static void reap(mmu_notifier_range range)
    {
        mmu_notifier_invalidate_range_start_nonblock(range);
        [|mmu_notifier_invalidate_range_end(range)|];
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }
}
