using System.IO;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using MmuNotifierAnalyzers.Tests.Meta;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.SleepUnderSpinlockAnalyzer, MmuNotifierAnalyzers.CodeFixes.AtomicAllocationCodeFix>;
using VerifyAtomic = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.SleepInAtomicCallbackAnalyzer, MmuNotifierAnalyzers.CodeFixes.AtomicAllocationCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>
/// MMU005 / MMU004 on an allocation: GFP_KERNEL → GFP_ATOMIC, or (under a lock the method takes)
/// the allocation moved before the lock. The real functions are ported from the named kernels
/// (buggy form before the fixing commit); the framework checks each fix one by one and in Fix All
/// (document, project, solution), that the result compiles and that it leaves no new finding.
/// </summary>
public sealed class AtomicAllocationCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing MmuNotifierAnalyzers.Annotations;\nusing static Kernel.Mm.Linux;\n\n";

    private static readonly string Ports = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "tests", "MmuNotifierAnalyzers.Tests", "KernelPorts", "alloc_under_spinlock.cs"));

    private static readonly Regex Allocation = new(@"((?:k[mz]alloc|dma_alloc_coherent)\([^;]*GFP_KERNEL\))(.*// expect: MMU005)", RegexOptions.CultureInvariant);

    /// <summary>
    /// KernelPorts/alloc_under_spinlock.cs: serial8250_em485_init (v4.5, fixed by b18a183eaac2),
    /// hclge_add_fd_entry_by_arfs (v5.3, fixed by "net: hns3: change GFP flag during lock period")
    /// UML's parse_chan (v2.6.13, fixed by "uml: use GFP_ATOMIC for allocations under
    /// spinlocks"): each fix was GFP_KERNEL → GFP_ATOMIC on the one allocation, and so is ours;
    /// efc_els_io_alloc_size (v5.17-rc1, after efac162a4e4d): two dma_alloc_coherent calls, a helper
    /// that hands its flags down, get GFP_ATOMIC as the first posted fix did (the applied one
    /// shrank the lock instead).
    /// </summary>
    [Fact]
    public async Task RealAllocationsUnderALockGetGfpAtomicAsTheirFixesDid()
    {
        Assert.Equal(5, Allocation.Matches(Ports).Count);
        await new Verify.Test
        {
            TestCode = Allocation.Replace(Ports, "[|$1|]$2"),
            FixedCode = Allocation.Replace(Ports, m => m.Groups[1].Value.Replace("GFP_KERNEL", "GFP_ATOMIC") + m.Groups[2].Value),
            CodeActionEquivalenceKey = AtomicAllocationCodeFix.AtomicKey,
        }.RunAsync();
    }

    /// <summary>None of them can move before the lock: two run with the caller's lock held
    /// ([MustHoldLock]: no acquisition here), hclge's and efc's come after exits that unlock and
    /// return (they would leak on those paths). Without a key each gets GFP_ATOMIC, its only fix.</summary>
    [Fact]
    public async Task RealAllocationsUnderALockDoNotMove()
    {
        var marked = Allocation.Replace(Ports, "[|$1|]$2");
        await new Verify.Test { TestCode = marked, FixedCode = marked, CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey }.RunAsync();
        await new Verify.Test
        {
            TestCode = marked,
            FixedCode = Allocation.Replace(Ports, m => m.Groups[1].Value.Replace("GFP_KERNEL", "GFP_ATOMIC") + m.Groups[2].Value),
        }.RunAsync();
    }

    [Fact]
    public async Task AllocationWhoseInputsAreReadyMovesBeforeTheLock()
    {
        await new Verify.Test
        {
            TestCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; public nuint size = 64; }

static class Drv
{
    static int fill(dev d)
    {
        nuint size = d.size;
        spin_lock(d.@lock);
        d.buf = null;
        // room for the next record
        object? p = [|kzalloc(size, GFP_KERNEL | __GFP_NOWARN)|];
        d.buf = p;
        spin_unlock(d.@lock);
        return p == null ? -ENOMEM : 0;
    }
}
",
            FixedCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; public nuint size = 64; }

static class Drv
{
    static int fill(dev d)
    {
        nuint size = d.size;
        // room for the next record
        object? p = kzalloc(size, GFP_KERNEL | __GFP_NOWARN);
        spin_lock(d.@lock);
        d.buf = null;
        d.buf = p;
        spin_unlock(d.@lock);
        return p == null ? -ENOMEM : 0;
    }
}
",
            CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey,
        }.RunAsync();
    }

    [Fact]
    public async Task TwoAllocationsUnderOneLockMoveInOneFixAllPass()
    {
        await new Verify.Test
        {
            TestCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? a; public object? b; }

static class Drv
{
    static void fill(dev d)
    {
        spin_lock(d.@lock);
        object? a = [|kmalloc(32, GFP_KERNEL)|];
        object? b = [|kmalloc(64, GFP_KERNEL)|];
        d.a = a;
        d.b = b;
        spin_unlock(d.@lock);
    }
}
",
            FixedCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? a; public object? b; }

static class Drv
{
    static void fill(dev d)
    {
        object? a = kmalloc(32, GFP_KERNEL);
        object? b = kmalloc(64, GFP_KERNEL);
        spin_lock(d.@lock);
        d.a = a;
        d.b = b;
        spin_unlock(d.@lock);
    }
}
",
            CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey,
        }.RunAsync();
    }

    private const string MovableAndNot = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; public bool dead; }

static class Drv
{
    static void refill(dev d)
    {
        spin_lock(d.@lock);
        object? p = ALLOC1;
        d.buf = p;
        spin_unlock(d.@lock);
    }

    static int refill_live(dev d)
    {
        spin_lock(d.@lock);
        if (d.dead)
        {
            spin_unlock(d.@lock);
            return -1;
        }
        object? p = ALLOC2;
        d.buf = p;
        spin_unlock(d.@lock);
        return 0;
    }
}
";

    /// <summary>What dotnet format does: it asks Fix All with the key of the first diagnostic's first
    /// action (here the move); the allocation that cannot move still gets GFP_ATOMIC in that one run.
    /// Fixing one by one with the move's key leaves it, so the two results differ there.</summary>
    [Fact]
    public async Task FixAllAskedToMoveGivesTheOthersGfpAtomic()
    {
        var moved = MovableAndNot.Replace(@"        spin_lock(d.@lock);
        object? p = ALLOC1;", @"        object? p = kmalloc(64, GFP_KERNEL);
        spin_lock(d.@lock);");
        await new Verify.Test
        {
            TestCode = MovableAndNot.Replace("ALLOC1", "[|kmalloc(64, GFP_KERNEL)|]").Replace("ALLOC2", "[|kmalloc(64, GFP_KERNEL)|]"),
            FixedState = { Sources = { moved.Replace("ALLOC2", "[|kmalloc(64, GFP_KERNEL)|]") }, MarkupHandling = Microsoft.CodeAnalysis.Testing.MarkupMode.Allow },
            BatchFixedCode = moved.Replace("ALLOC2", "kmalloc(64, GFP_ATOMIC)"),
            CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey,
        }.RunAsync();
        await new Verify.Test
        {
            TestCode = MovableAndNot.Replace("ALLOC1", "[|kmalloc(64, GFP_KERNEL)|]").Replace("ALLOC2", "[|kmalloc(64, GFP_KERNEL)|]"),
            FixedCode = moved.Replace("ALLOC2", "kmalloc(64, GFP_ATOMIC)"),
        }.RunAsync();
    }

    [Fact]
    public async Task SizeComputedUnderTheLockKeepsTheAllocationThere()
    {
        // The size is read under the lock: only GFP_ATOMIC is right.
        await new Verify.Test
        {
            TestCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public nuint size; }

static class Drv
{
    static object? grow(dev d)
    {
        spin_lock(d.@lock);
        nuint size = d.size * 2;
        object? p = [|kmalloc(size, GFP_KERNEL)|];
        spin_unlock(d.@lock);
        return p;
    }
}
",
            FixedCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public nuint size; }

static class Drv
{
    static object? grow(dev d)
    {
        spin_lock(d.@lock);
        nuint size = d.size * 2;
        object? p = kmalloc(size, GFP_ATOMIC);
        spin_unlock(d.@lock);
        return p;
    }
}
",
        }.RunAsync();
    }

    [Fact]
    public async Task NoRepairForAMutexOrUnknownFlagsUnderASpinlock()
    {
        // mutex_lock under a spinlock has no mechanical repair; flags from a parameter or GFP_NOFS
        // are not rewritten (and neither allocation can move: one is conditional, the other
        // reads flags that may be known only here).
        const string Source = Usings + @"sealed class dev { public spinlock_t @lock = new(); public mutex m = new(); }

static class Drv
{
    static void f(dev d, gfp_t gfp)
    {
        spin_lock(d.@lock);
        [|mutex_lock(d.m)|];
        mutex_unlock(d.m);
        if (gfp != GFP_KERNEL)
            [|kmalloc(16, gfp)|];
        else
            [|kmalloc(16, GFP_NOFS)|];
        spin_unlock(d.@lock);
    }
}
";
        await Verify.VerifyCodeFixAsync(Source, Source);
    }

    [Fact]
    public async Task OtherFlagsOredIntoGfpKernelStay()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; }

static class Drv
{
    static void fill(dev d, bool grow)
    {
        spin_lock(d.@lock);
        if (grow)
            d.buf = [|kmalloc(64, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN)|];
        spin_unlock(d.@lock);
    }
}
",
            Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; }

static class Drv
{
    static void fill(dev d, bool grow)
    {
        spin_lock(d.@lock);
        if (grow)
            d.buf = kmalloc(64, GFP_ATOMIC | __GFP_ZERO | __GFP_NOWARN);
        spin_unlock(d.@lock);
    }
}
");
    }

    [Fact]
    public async Task AnAllocationUnderAConditionOrAHelperWithItsOwnFlagsDoesNotMove()
    {
        // In an if under the lock the moved allocation would run when it did not; a helper that
        // picks its own flags (t7xx's t7xx_cldma_alloc_and_map_skb) has no gfp argument to change.
        const string Source = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; }

static class Drv
{
    static object? alloc_own(nuint size) => kmalloc(size, GFP_KERNEL);

    static void fill(dev d, bool grow)
    {
        spin_lock(d.@lock);
        if (grow)
            d.buf = [|kmalloc(64, GFP_KERNEL)|];
        spin_unlock(d.@lock);
    }

    static void refill(dev d)
    {
        spin_lock(d.@lock);
        d.buf = [|alloc_own(64)|];
        spin_unlock(d.@lock);
    }
}
";
        await new Verify.Test { TestCode = Source, FixedCode = Source, CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey }.RunAsync();
        await new Verify.Test
        {
            TestCode = Source,
            FixedState = { Sources = { Source.Replace("[|kmalloc(64, GFP_KERNEL)|]", "kmalloc(64, GFP_ATOMIC)") }, MarkupHandling = Microsoft.CodeAnalysis.Testing.MarkupMode.Allow },
        }.RunAsync();
    }

    [Fact]
    public async Task AnAllocationWhoseSizeCallsOrWhoseResultIsUsedUnderTheLockDoesNotMove()
    {
        // A call in the size would run earlier too; a variable the allocation assigns is read on
        // the way from the lock. Only GFP_ATOMIC is offered.
        const string Source = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; public nuint size = 64; }

static class Drv
{
    static nuint size_of(dev d) => d.size;

    static void sized(dev d)
    {
        spin_lock(d.@lock);
        d.buf = [|kmalloc(size_of(d), GFP_KERNEL)|];
        spin_unlock(d.@lock);
    }

    static void reused(dev d)
    {
        object? p = null;
        spin_lock(d.@lock);
        d.buf = p;
        p = [|kmalloc(64, GFP_KERNEL)|];
        spin_unlock(d.@lock);
    }
}
";
        await new Verify.Test { TestCode = Source, FixedCode = Source, CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey }.RunAsync();
    }

    [Fact]
    public async Task AllocationInAnAtomicCallbackGetsGfpAtomic()
    {
        await VerifyAtomic.VerifyCodeFixAsync(
            Usings + @"static class Iommu
{
    static object? last;

    static int my_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        last = [|kzalloc(32, Linux.GFP_KERNEL)|];
        return 0;
    }

    public static readonly mmu_notifier_ops ops = new() { clear_flush_young = my_clear_flush_young };
}
",
            Usings + @"static class Iommu
{
    static object? last;

    static int my_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        last = kzalloc(32, Linux.GFP_ATOMIC);
        return 0;
    }

    public static readonly mmu_notifier_ops ops = new() { clear_flush_young = my_clear_flush_young };
}
");
    }
}
