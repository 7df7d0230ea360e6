using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using MmuNotifierAnalyzers.Rules;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.SleepInAtomicCallbackAnalyzer, MmuNotifierAnalyzers.CodeFixes.SleepInAtomicCallbackCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU004SleepInAtomicCallbackCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Invalidate_range_becomes_invalidate_range_start_keeping_comments()
    {
        var source = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        [|mutex_lock(dev_lock)|];
        [|msleep(1)|];
        mutex_unlock(dev_lock);
    }

    static void my_release(mmu_notifier mn, mm_struct mm) { }

    public static readonly mmu_notifier_ops ops = new()
    {
        release = my_release,
        /* flushes the device TLB */ invalidate_range /* was atomic */ = my_inv, // keep me
    };
}
";
        var fixedSource = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        mutex_lock(dev_lock);
        msleep(1);
        mutex_unlock(dev_lock);
    }

    static void my_release(mmu_notifier mn, mm_struct mm) { }

    public static readonly mmu_notifier_ops ops = new()
    {
        release = my_release,
        /* flushes the device TLB */ invalidate_range_start /* was atomic */ = my_inv, // keep me
        invalidate_range_end = my_inv,
    };
}
";
        var test = new Verify.Test
        {
            TestCode = source,
            FixedCode = fixedSource,
            NumberOfIncrementalIterations = 1,
            CodeActionEquivalenceKey = SleepInAtomicCallbackCodeFix.EquivalenceKey,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task The_ops_table_in_another_file_is_the_one_renamed()
    {
        var test = new Verify.Test { CodeActionEquivalenceKey = SleepInAtomicCallbackCodeFix.EquivalenceKey };
        test.TestState.Sources.Add(("/0/callbacks.cs", Usings + @"
static partial class Driver
{
    static readonly rw_semaphore sem = new rw_semaphore();

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        [|down_write(sem)|];
        up_write(sem);
    }
}
"));
        test.TestState.Sources.Add(("/0/ops.cs", Usings + @"
static partial class Driver
{
    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
"));
        test.FixedState.Sources.Add(("/0/callbacks.cs", Usings + @"
static partial class Driver
{
    static readonly rw_semaphore sem = new rw_semaphore();

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        down_write(sem);
        up_write(sem);
    }
}
"));
        test.FixedState.Sources.Add(("/0/ops.cs", Usings + @"
static partial class Driver
{
    public static readonly mmu_notifier_ops ops = new() { invalidate_range_start = my_inv, invalidate_range_end = my_inv };
}
"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Fix_all_renames_every_table_once()
    {
        var source = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    static void gpu_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { [|mutex_lock(dev_lock)|]; mutex_unlock(dev_lock); }
    static void nic_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { [|cond_resched()|]; }

    public static readonly mmu_notifier_ops gpu_ops = new() { invalidate_range = gpu_inv };
    public static readonly mmu_notifier_ops nic_ops = new() { invalidate_range = nic_inv };
    public static readonly mmu_notifier_ops shared_ops = new()
    {
        invalidate_range = (mn, mm, start, end) => [|schedule()|],
    };
}
";
        var fixedSource = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    static void gpu_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { mutex_lock(dev_lock); mutex_unlock(dev_lock); }
    static void nic_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { cond_resched(); }

    public static readonly mmu_notifier_ops gpu_ops = new() { invalidate_range_start = gpu_inv, invalidate_range_end = gpu_inv };
    public static readonly mmu_notifier_ops nic_ops = new() { invalidate_range_start = nic_inv, invalidate_range_end = nic_inv };
    public static readonly mmu_notifier_ops shared_ops = new()
    {
        invalidate_range_start = (mn, mm, start, end) => schedule(),
        invalidate_range_end = (mn, mm, start, end) => schedule(),
    };
}
";
        var test = new Verify.Test
        {
            TestCode = source,
            FixedCode = fixedSource,
            NumberOfIncrementalIterations = 3,
            NumberOfFixAllIterations = 1,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task One_callback_in_two_tables_is_renamed_in_both()
    {
        var source = Usings + @"
static class Driver
{
    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { [|might_sleep()|]; }

    public static readonly mmu_notifier_ops a = new() { invalidate_range = my_inv };
    public static readonly mmu_notifier_ops b = new() { invalidate_range = my_inv };
}
";
        var fixedSource = Usings + @"
static class Driver
{
    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { might_sleep(); }

    public static readonly mmu_notifier_ops a = new() { invalidate_range_start = my_inv, invalidate_range_end = my_inv };
    public static readonly mmu_notifier_ops b = new() { invalidate_range_start = my_inv, invalidate_range_end = my_inv };
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, NumberOfIncrementalIterations = 1 }.RunAsync();
    }

    [Fact]
    public async Task No_fix_without_a_sleepable_twin_or_when_start_is_taken()
    {
        // change_pte has no sleepable twin; the second table already sets invalidate_range_start
        // (renaming would set it twice); [AtomicContext] methods are not in an ops table.
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class Driver
{
    static void my_change_pte(mmu_notifier mn, mm_struct mm, ulong address, pte_t pte) { [|msleep(1)|]; }
    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { [|msleep(1)|]; }
    static void my_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }

    [AtomicContext]
    static void my_poll() { [|msleep(1)|]; }

    public static readonly mmu_notifier_ops a = new() { change_pte = my_change_pte };
    public static readonly mmu_notifier_ops b = new() { invalidate_range_start = my_start, invalidate_range = my_inv };
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = source, NumberOfIncrementalIterations = 0 };
        await test.RunAsync();
    }
}
