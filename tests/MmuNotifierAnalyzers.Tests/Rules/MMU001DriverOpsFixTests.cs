using System.IO;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.Tests.Meta;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.InvalidatePageAnalyzer, MmuNotifierAnalyzers.CodeFixes.InvalidatePageCodeFix>;
using VerifyAtomic = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.SleepInAtomicCallbackAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>
/// MMU001's fix on the ops tables of real drivers (KernelPorts/v4_12_notifier_ops.cs: KVM, IB umem,
/// amdgpu, xen gntdev, amd_iommu_v2 at v4.12 and v3.6, intel-svm, powernv npu): the 4.13 series
/// deleted each table's <c>invalidate_page</c> line and nothing else, and so must the fix, one by
/// one and in Fix All (the framework runs document, project and solution scopes).
/// </summary>
public sealed class MMU001DriverOpsFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n\n";

    private static readonly string Ports = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "tests", "MmuNotifierAnalyzers.Tests", "KernelPorts", "v4_12_notifier_ops.cs"));

    [Fact]
    public async Task EveryDriverTableLosesItsInvalidatePageLineAsTheKernelDid()
    {
        var marked = Regex.Replace(Ports, @"(invalidate_page = \w+)(, // expect: MMU001)", "[|$1|]$2");
        var fixedText = Regex.Replace(Ports, @"^.*// expect: MMU001\r?\n", string.Empty, RegexOptions.Multiline);
        Assert.Equal(8, Regex.Matches(marked, @"\[\|").Count);
        await new Verify.Test { TestCode = marked, FixedCode = fixedText }.RunAsync();
    }

    // gntdev's invalidate_page in a table with no range callback (the v4.12 table minus its
    // invalidate_range_start line: no such driver shipped, the shape is the one the old fix broke).
    private const string SleepingOnly = Usings + @"sealed class gntdev_priv : mmu_notifier { public mutex @lock = new(); }

static class Gntdev
{
    static void mn_invl_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        gntdev_priv priv = (gntdev_priv)mn;

        mutex_lock(priv.@lock);
        mutex_unlock(priv.@lock);
    }

    static void mn_invl_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        mn_invl_range(mn, mm, address, address + PAGE_SIZE);
    }

    static void mn_release(mmu_notifier mn, mm_struct mm) { }

    public static readonly mmu_notifier_ops gntdev_mmu_ops = new()
    {
        release = mn_release,
        INVALIDATE_PAGE
    };
}
";

    private const string SleepingFixed = @"invalidate_range_start = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                mn_invl_page(mn, mm, address);
            }
        },
        invalidate_range_end = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                mn_invl_page(mn, mm, address);
            }
        },";

    [Fact]
    public async Task SleepingCallbackWithoutRangeCallbacksGoesToStartAndEnd()
    {
        await new Verify.Test
        {
            TestCode = SleepingOnly.Replace("INVALIDATE_PAGE", "[|invalidate_page = mn_invl_page|],"),
            FixedCode = SleepingOnly.Replace("INVALIDATE_PAGE", SleepingFixed),
        }.RunAsync();
    }

    [Fact]
    public async Task OneLineTablesAreLaidOutOnLinesOfTheirOwn()
    {
        await new Verify.Test
        {
            TestCode = Usings + @"sealed class gntdev_priv : mmu_notifier { public mutex @lock = new(); }

static class Drivers
{
    static void mn_invl_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        mutex_lock(((gntdev_priv)mn).@lock);
        mutex_unlock(((gntdev_priv)mn).@lock);
    }

    static void quiet_page(mmu_notifier mn, mm_struct mm, ulong address) { }

    public static readonly mmu_notifier_ops sleeping_only = new() { [|invalidate_page = mn_invl_page|] };
    public static readonly mmu_notifier_ops quiet_only = new() { [|invalidate_page = quiet_page|] };
}
",
            FixedCode = Usings + @"sealed class gntdev_priv : mmu_notifier { public mutex @lock = new(); }

static class Drivers
{
    static void mn_invl_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        mutex_lock(((gntdev_priv)mn).@lock);
        mutex_unlock(((gntdev_priv)mn).@lock);
    }

    static void quiet_page(mmu_notifier mn, mm_struct mm, ulong address) { }

    public static readonly mmu_notifier_ops sleeping_only = new()
    {
        invalidate_range_start = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                mn_invl_page(mn, mm, address);
            }
        },
        invalidate_range_end = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                mn_invl_page(mn, mm, address);
            }
        }
    };
    public static readonly mmu_notifier_ops quiet_only = new()
    {
        invalidate_range = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                quiet_page(mn, mm, address);
            }
        }
    };
}
",
        }.RunAsync();
    }

    [Fact]
    public async Task TheStartAndEndItWritesAreNoMMU004WhereAnInvalidateRangeWouldBe()
    {
        // What the fix writes is clean; what it used to write (the same loop as invalidate_range) is an MMU004.
        await VerifyAtomic.VerifyAnalyzerAsync(SleepingOnly.Replace("INVALIDATE_PAGE", SleepingFixed));
        var old = SleepingOnly.Replace("INVALIDATE_PAGE", @"invalidate_range = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                {|MMU004:mn_invl_page(mn, mm, address)|};
            }
        },");
        await VerifyAtomic.VerifyAnalyzerAsync(old);
    }
}
