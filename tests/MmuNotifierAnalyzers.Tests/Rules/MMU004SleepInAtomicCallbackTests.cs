using System.IO;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Testing;
using MmuNotifierAnalyzers.Rules;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.SleepInAtomicCallbackAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU004SleepInAtomicCallbackTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    private static DiagnosticResult Expect(int marker, string role, string callback, string callee, string chain) =>
        Verify.Diagnostic().WithLocation(marker).WithArguments(role, callback, callee, chain);

    [Fact]
    public async Task Direct_sleeping_call_in_invalidate_range_fires()
    {
        var source = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:mutex_lock(dev_lock)|};
        mutex_unlock(dev_lock);
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(source, Expect(0, "invalidate_range", "my_inv", "mutex_lock", "mutex_lock"));
    }

    [Fact]
    public async Task Message_reads_like_the_brief()
    {
        var source = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    static void flush_dev_tlb(ulong start)
    {
        mutex_lock(dev_lock);
        mutex_unlock(dev_lock);
    }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:flush_dev_tlb(start)|};
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Verify.Diagnostic().WithLocation(0).WithMessage("invalidate_range callback 'my_inv' calls 'flush_dev_tlb', which may sleep: flush_dev_tlb → mutex_lock"));
    }

    [Fact]
    public async Task Three_level_chain_is_named_in_full()
    {
        var source = Usings + @"
static class Driver
{
    static void level3() { msleep(1); }
    static void level2() { level3(); }
    static void level1() { level2(); }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:level1()|};
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(source, Expect(0, "invalidate_range", "my_inv", "level1", "level1 → level2 → level3 → msleep"));
    }

    [Fact]
    public async Task Recursion_terminates_and_finds_the_sleep()
    {
        var source = Usings + @"
static class Driver
{
    static readonly rw_semaphore sem = new rw_semaphore();

    // Mutual recursion that never sleeps: no finding, and the analysis terminates.
    static int ping(int n) => n <= 0 ? 0 : pong(n - 1);
    static int pong(int n) => n <= 0 ? 1 : ping(n - 1);

    // Recursion through a cycle that sleeps at its far end.
    static void walk_a(int depth) { if (depth > 0) walk_b(depth - 1); }
    static void walk_b(int depth) { if (depth > 0) walk_a(depth - 1); else down_read(sem); }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        ping(3);
        {|#0:walk_a(4)|};
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(source, Expect(0, "invalidate_range", "my_inv", "walk_a", "walk_a → walk_b → down_read"));
    }

    [Fact]
    public async Task NeverSleeps_cuts_the_chain()
    {
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class Driver
{
    static readonly mutex dev_lock = new mutex();
    static bool can_block;

    // Guarded by a check the analyzer cannot see: the author vouches for it.
    [NeverSleeps]
    static void maybe_flush()
    {
        if (can_block)
        {
            mutex_lock(dev_lock);
            mutex_unlock(dev_lock);
        }
    }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) => maybe_flush();

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Callback_marked_NeverSleeps_is_not_reported_inside()
    {
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class Driver
{
    static readonly mutex dev_lock = new mutex();

    [NeverSleeps]
    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        mutex_lock(dev_lock);
        mutex_unlock(dev_lock);
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task User_MaySleep_annotation_fires()
    {
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class Driver
{
    [MaySleep]
    static void dev_wait_idle() { }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:dev_wait_idle()|};
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(source, Expect(0, "invalidate_range", "my_inv", "dev_wait_idle", "dev_wait_idle"));
    }

    [Fact]
    public async Task Configured_list_adds_and_negation_removes()
    {
        var test = new Verify.Test
        {
            TestCode = Usings + @"
using MmuNotifierAnalyzers.Annotations;

namespace Driver;

static class Dev
{
    static readonly mutex dev_lock = new mutex();

    // From a binary the analyzer cannot see into: listed as sleeping.
    public static void fw_call(int cmd) { }

    // Sleeps only on a path the driver never takes in atomic context: listed as never sleeping.
    public static void flush_dev_tlb(ulong start) { mutex_lock(dev_lock); mutex_unlock(dev_lock); }

    // The list's '!' wins over the attribute too.
    [MaySleep]
    public static void stats_bump() { }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:fw_call(1)|};
        flush_dev_tlb(start);
        stats_bump();
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
",
        };
        test.TestState.AdditionalFiles.Add(("MmuNotifier.Sleep.txt", @"# may-sleep list for the driver
M:Driver.Dev.fw_call(System.Int32)
!M:Driver.Dev.flush_dev_tlb(System.UInt64)
!M:Driver.Dev.stats_*
"));
        test.ExpectedDiagnostics.Add(Expect(0, "invalidate_range", "my_inv", "fw_call", "fw_call (may sleep, per MmuNotifier.Sleep.txt)"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Configured_type_and_overload_group()
    {
        var test = new Verify.Test
        {
            TestCode = Usings + @"
namespace Driver;

static class Firmware
{
    public static void reset() { }
}

static class Dev
{
    public static void poll(int n) { }
    public static void poll(long n) { }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:Firmware.reset()|};
        {|#1:poll(1)|};
        {|#2:poll(2L)|};
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
",
        };
        test.TestState.AdditionalFiles.Add(("Driver.MmuNotifier.Sleep.txt", "T:Driver.Firmware\nM:Driver.Dev.poll   # every overload\n"));
        test.ExpectedDiagnostics.Add(Expect(0, "invalidate_range", "my_inv", "reset", "reset (may sleep, per MmuNotifier.Sleep.txt)"));
        test.ExpectedDiagnostics.Add(Expect(1, "invalidate_range", "my_inv", "poll", "poll (may sleep, per MmuNotifier.Sleep.txt)"));
        test.ExpectedDiagnostics.Add(Expect(2, "invalidate_range", "my_inv", "poll", "poll (may sleep, per MmuNotifier.Sleep.txt)"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Kmalloc_sleeps_with_GFP_KERNEL_not_with_GFP_ATOMIC()
    {
        var source = Usings + @"
static class Driver
{
    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        var a = kmalloc(64, GFP_ATOMIC);
        var b = kmalloc(64, GFP_NOWAIT);
        var c = {|#0:kmalloc(64, GFP_KERNEL)|};
        var d = {|#1:kzalloc(64, GFP_KERNEL | __GFP_ZERO)|};
        kfree(a); kfree(b); kfree(c); kfree(d);
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Expect(0, "invalidate_range", "my_inv", "kmalloc", "kmalloc (GFP_KERNEL allows direct reclaim)"),
            Expect(1, "invalidate_range", "my_inv", "kzalloc", "kzalloc (GFP_KERNEL | __GFP_ZERO allows direct reclaim)"));
    }

    [Fact]
    public async Task Flags_handed_down_to_alloc_helpers_decide_at_the_call()
    {
        var source = Usings + @"
static class Driver
{
    static gfp_t pool_gfp = GFP_KERNEL;

    // The kernel idiom: helpers take the caller's gfp flags.
    static object? dev_alloc_entry(gfp_t gfp) => kmalloc(64, gfp);
    static object? dev_alloc_zeroed(gfp_t gfp) => dev_alloc_entry(gfp | __GFP_ZERO);
    static page? dev_alloc_page(vm_area_struct vma, ulong address, gfp_t gfp) => alloc_page_vma(gfp, vma, address);

    static void my_change_pte(mmu_notifier mn, mm_struct mm, ulong address, pte_t pte)
    {
        dev_alloc_entry(GFP_ATOMIC);
        dev_alloc_zeroed(GFP_NOWAIT);
        dev_alloc_entry(GFP_KERNEL & ~__GFP_DIRECT_RECLAIM);
        {|#0:dev_alloc_entry(GFP_KERNEL)|};
        {|#1:dev_alloc_zeroed(GFP_KERNEL)|};
        {|#2:dev_alloc_entry(pool_gfp)|};
    }

    static int my_test_young(mmu_notifier mn, mm_struct mm, ulong address)
    {
        var vma = find_vma(mm, address)!;
        dev_alloc_page(vma, address, GFP_NOWAIT);
        return {|#3:dev_alloc_page(vma, address, GFP_HIGHUSER_MOVABLE)|} is null ? 0 : 1;
    }

    public static readonly mmu_notifier_ops ops = new() { change_pte = my_change_pte, test_young = my_test_young };
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Expect(0, "change_pte", "my_change_pte", "dev_alloc_entry", "dev_alloc_entry → kmalloc (GFP_KERNEL allows direct reclaim)"),
            Expect(1, "change_pte", "my_change_pte", "dev_alloc_zeroed", "dev_alloc_zeroed → dev_alloc_entry → kmalloc (GFP_KERNEL allows direct reclaim)"),
            Expect(2, "change_pte", "my_change_pte", "dev_alloc_entry", "dev_alloc_entry → kmalloc (may sleep unless the flags forbid reclaim)"),
            Expect(3, "test_young", "my_test_young", "dev_alloc_page", "dev_alloc_page → alloc_page_vma (GFP_HIGHUSER_MOVABLE allows direct reclaim)"));
    }

    [Fact]
    public async Task Blocking_dotnet_apis_fire_by_symbol()
    {
        var source = Usings + @"
using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

static class Driver
{
    static readonly object gate = new object();
    static readonly SemaphoreSlim sem = new SemaphoreSlim(1);
    static readonly Mutex os_mutex = new Mutex();
    static Task<int> pending = Task.FromResult(1);

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:Thread.Sleep(1)|};
        {|#1:lock (gate)|} { }
        {|#2:Monitor.Enter(gate)|};
        Monitor.Exit(gate);
        {|#3:pending.Wait()|};
        var r = {|#4:pending.Result|};
        {|#5:pending.GetAwaiter().GetResult()|};
        {|#6:sem.Wait()|};
        {|#7:os_mutex.WaitOne()|};
        {|#8:File.ReadAllText(""x"")|};
        {|#9:Console.WriteLine(r)|};
        Thread.SpinWait(10);
        var ms = new MemoryStream();
        ms.Read(new byte[1], 0, 1);
        Stream s = ms;
        {|#10:s.Read(new byte[1], 0, 1)|};
        Monitor.TryEnter(gate);
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Expect(0, "invalidate_range", "my_inv", "Thread.Sleep", "Thread.Sleep (blocks the thread)"),
            Expect(1, "invalidate_range", "my_inv", "lock", "lock (Monitor.Enter blocks)"),
            Expect(2, "invalidate_range", "my_inv", "Monitor.Enter", "Monitor.Enter (blocks the thread)"),
            Expect(3, "invalidate_range", "my_inv", "Task.Wait", "Task.Wait (blocks the thread)"),
            Expect(4, "invalidate_range", "my_inv", "Task.Result", "Task.Result (blocks the thread)"),
            Expect(5, "invalidate_range", "my_inv", "TaskAwaiter.GetResult", "TaskAwaiter.GetResult (blocks the thread)"),
            Expect(6, "invalidate_range", "my_inv", "SemaphoreSlim.Wait", "SemaphoreSlim.Wait (blocks the thread)"),
            Expect(7, "invalidate_range", "my_inv", "WaitHandle.WaitOne", "WaitHandle.WaitOne (blocks the thread)"),
            Expect(8, "invalidate_range", "my_inv", "File.ReadAllText", "File.ReadAllText (synchronous I/O)"),
            Expect(9, "invalidate_range", "my_inv", "Console.WriteLine", "Console.WriteLine (synchronous I/O)"),
            Expect(10, "invalidate_range", "my_inv", "Stream.Read", "Stream.Read (synchronous I/O)"));
    }

    [Fact]
    public async Task Await_in_an_async_callback_fires_but_calling_an_async_method_does_not()
    {
        var source = Usings + @"
using System.Threading.Tasks;

static class Driver
{
    static async Task refill() { await Task.Yield(); }

    public static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range = async (mn, mm, start, end) =>
        {
            _ = refill();
            {|#0:await Task.Delay(1)|};
        },
    };
}
";
        await Verify.VerifyAnalyzerAsync(source, Expect(0, "invalidate_range", "lambda", "await", "await (suspends until the task completes)"));
    }

    [Fact]
    public async Task Name_alike_methods_outside_the_api_do_not_fire()
    {
        var source = Usings + @"
static class Thread
{
    public static void Sleep(int ms) { }
}

static class Fake
{
    public static void mutex_lock(object m) { }
    public static object kmalloc(nuint size, gfp_t flags) => new object();
}

static class Driver
{
    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        Thread.Sleep(1);
        Fake.mutex_lock(new object());
        Fake.kmalloc(64, GFP_KERNEL);
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Lambda_callbacks_fire_and_nested_lambdas_do_not()
    {
        var source = Usings + @"
using System;

static class Driver
{
    static readonly mutex dev_lock = new mutex();
    static Action? deferred;

    public static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range = (mn, mm, start, end) =>
        {
            {|#0:mutex_lock(dev_lock)|};
            mutex_unlock(dev_lock);
            // Runs later, from a work queue: not in the callback's atomic context.
            deferred = () => mutex_lock(dev_lock);
        },
        test_young = (mn, mm, address) => {|#1:might_sleep_and_count()|},
    };

    static int might_sleep_and_count() { might_sleep(); return 0; }
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Expect(0, "invalidate_range", "lambda", "mutex_lock", "mutex_lock"),
            Expect(1, "test_young", "lambda", "might_sleep_and_count", "might_sleep_and_count → might_sleep"));
    }

    [Fact]
    public async Task Callback_whose_ops_table_is_in_another_file_fires()
    {
        var test = new Verify.Test();
        test.TestState.Sources.Add(("/0/callbacks.cs", Usings + @"
static partial class Driver
{
    static readonly completion done = new completion();

    static int my_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:wait_for_completion(done)|};
        return 0;
    }
}
"));
        test.TestState.Sources.Add(("/0/ops.cs", Usings + @"
static partial class Driver
{
    public static readonly mmu_notifier_ops ops = new() { clear_flush_young = my_clear_flush_young };
}
"));
        test.ExpectedDiagnostics.Add(Expect(0, "clear_flush_young", "my_clear_flush_young", "wait_for_completion", "wait_for_completion"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Sleepable_callbacks_do_not_fire()
    {
        var source = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    static void my_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { mutex_lock(dev_lock); }
    static void my_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { mutex_unlock(dev_lock); }
    static void my_release(mmu_notifier mn, mm_struct mm) { synchronize_srcu(new srcu_struct()); }

    public static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range_start = my_start,
        invalidate_range_end = my_end,
        release = my_release,
    };
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task AtomicContext_methods_overrides_and_delegate_types_fire()
    {
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

[AtomicContext]
delegate void irq_handler_fn(int irq);

abstract class Device
{
    [AtomicContext]
    public abstract void on_interrupt();
}

sealed class Gpu : Device
{
    static readonly mutex dev_lock = new mutex();

    public override void on_interrupt()
    {
        {|#0:mutex_lock(dev_lock)|};
    }

    [AtomicContext]
    static void poll_fence()
    {
        {|#1:msleep(1)|};
    }

    static void irq(int line)
    {
        {|#2:cond_resched()|};
    }

    public static readonly irq_handler_fn handler = irq;
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Expect(0, "[AtomicContext]", "on_interrupt", "mutex_lock", "mutex_lock"),
            Expect(1, "[AtomicContext]", "poll_fence", "msleep", "msleep"),
            Expect(2, "irq_handler", "irq", "cond_resched", "cond_resched"));
    }

    [Fact]
    public async Task Local_functions_are_followed_and_delegate_calls_are_not()
    {
        var source = Usings + @"
using System;
using MmuNotifierAnalyzers.Annotations;

[MaySleep]
delegate void blocking_fn();

static class Driver
{
    static readonly mutex dev_lock = new mutex();
    static Action hook = () => { };
    static blocking_fn wait_hook = () => { };

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:take()|};
        hook();
        {|#1:wait_hook()|};

        void take() => mutex_lock(dev_lock);
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Expect(0, "invalidate_range", "my_inv", "take", "take → mutex_lock"),
            Expect(1, "invalidate_range", "my_inv", "blocking_fn", "blocking_fn"));
    }

    [Fact]
    public async Task Properties_and_constructors_are_calls_too()
    {
        var source = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    sealed class Fence
    {
        public Fence() { mutex_lock(dev_lock); }
        public int Seq { get { msleep(1); return 0; } }
    }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        var f = {|#0:new Fence()|};
        var s = {|#1:f.Seq|};
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Expect(0, "invalidate_range", "my_inv", "new Fence", "new Fence → mutex_lock"),
            Expect(1, "invalidate_range", "my_inv", "Seq", "Seq → msleep"));
    }

    [Fact]
    public async Task Shortest_chain_is_reported()
    {
        var source = Usings + @"
static class Driver
{
    static void deep3() { schedule(); }
    static void deep2() { deep3(); }
    static void deep1() { deep2(); }
    static void work() { deep1(); near(); }
    static void near() { cond_resched(); }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:work()|};
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
";
        await Verify.VerifyAnalyzerAsync(source, Expect(0, "invalidate_range", "my_inv", "work", "work → near → cond_resched"));
    }

    [Fact]
    public async Task No_kernel_reference_registers_nothing()
    {
        var test = new Verify.Test
        {
            TestCode = @"
using System.Threading;
static class C { static void f() { Thread.Sleep(1); } }
",
        };
        test.TestState.AdditionalReferences.Clear(); // neither Kernel.Mm nor the annotations
        await test.RunAsync();
    }

    /// <summary>
    /// An override of a library's [AtomicContext] method names nothing else a rule looks for: the
    /// rules register nothing in a compilation that names nothing they know, so the method's own
    /// name must count as such a mention.
    /// </summary>
    [Fact]
    public async Task An_override_of_a_referenced_atomic_method_fires_when_nothing_else_is_named()
    {
        var library = CSharpCompilation.Create(
            "Vendor.Devices",
            new[] { CSharpSyntaxTree.ParseText("using MmuNotifierAnalyzers.Annotations;\npublic abstract class Device { [AtomicContext] public abstract void on_interrupt(); }") },
            TestReferences.Framework.Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        using var image = new MemoryStream();
        var emitted = library.Emit(image);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));

        var test = new Verify.Test
        {
            TestCode = @"
sealed class Gpu : Device
{
    public override void on_interrupt()
    {
        {|#0:Kernel.Mm.Linux.msleep(1)|};
    }
}
",
            ExpectedDiagnostics = { Expect(0, "[AtomicContext]", "on_interrupt", "msleep", "msleep") },
        };
        test.TestState.AdditionalReferences.Add(MetadataReference.CreateFromImage(image.ToArray()));
        await test.RunAsync();
    }
}
