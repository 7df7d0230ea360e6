using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using MmuNotifierAnalyzers.Tests.Meta;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Robustness;

/// <summary>
/// Code-fix exceptions found on code the fixes were not written for (issue #14's reports and the
/// mutation test's finds), each reduced to what triggers it: every analyzer runs and every offered
/// action and Fix All is computed (<see cref="FixExerciser"/>); nothing may throw.
/// </summary>
public sealed class FixCrashRegressionTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    /// <summary>MMU005's range move sank the end after itself (a function that returns with the lock
    /// held, as hugetlb_cow does by contract): NullReferenceException in the plan's Apply.</summary>
    [Fact]
    public Task Range_end_under_a_lock_the_function_returns_with() => AssertNoneThrowsAsync(Usings + @"
static class T
{
    static void returns_locked(mm_struct mm, ulong start, ulong end)
    {
        mmu_notifier_invalidate_range_start(mm, start, end);
        spin_lock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, start, end);
    }
}
", expectedId: "MMU005");

    [Fact]
    public Task Range_end_under_a_retaken_lock_the_function_returns_with() => AssertNoneThrowsAsync(Usings + @"
static class T
{
    static void returns_locked(mm_struct mm, ulong start, ulong end, bool retry)
    {
        mmu_notifier_invalidate_range_start(mm, start, end);
    again:
        spin_lock(mm.page_table_lock);
        if (retry)
            goto again;
        mmu_notifier_invalidate_range_end(mm, start, end);
    }
}
", expectedId: "MMU005");

    /// <summary>MMU001's bracket replaced the call and then inserted the end after it (the lock is
    /// never released, so the call is the region's last statement): "GetCurrentNode returned null".</summary>
    [Fact]
    public Task Invalidate_page_as_the_last_statement_under_a_lock_never_released() => AssertNoneThrowsAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        spin_lock(mm.page_table_lock);
        mmu_notifier_invalidate_page(mm, address);
    }
}
", expectedId: "MMU001");

    /// <summary>The same rewrite reached from MMU005's fix and Fix All, which inline the 2012
    /// <c>ptep_clear_flush_notify</c> wrapper and bracket it with MMU001's rewrite (issue #14 saw the
    /// exception on this route; this shape reaches the rewrite without hitting it).</summary>
    [Fact]
    public Task Notifying_wrapper_under_a_lock_never_released() => AssertNoneThrowsAsync(Usings + "using MmuNotifierAnalyzers.Annotations;\n" + @"
static class T
{
    [MaySleep]
    static pte_t ptep_clear_flush_notify(vm_area_struct vma, ulong address, pte_ptr ptep)
    {
        pte_t pte = ptep_clear_flush(vma, address, ptep);
        mmu_notifier_invalidate_page(vma.vm_mm, address);
        return pte;
    }

    static void f(vm_area_struct vma, ulong address, pte_ptr ptep)
    {
        spin_lock(vma.vm_mm.page_table_lock);
        ptep_clear_flush_notify(vma, address, ptep);
    }
}
", expectedId: "MMU005");

    /// <summary>v3.10's try_to_unmap_one with the <c>pte_unmap_unlock</c> at <c>out_unmap</c> missing.</summary>
    [Fact]
    public Task Try_to_unmap_one_without_its_unlock()
    {
        var port = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "tests", "MmuNotifierAnalyzers.Tests", "KernelPorts", "v3_10_rmap.cs"));
        const string unlocked = "out_unmap:\n        pte_unmap_unlock(pte, ptl);\n        if (ret != SWAP_FAIL)";
        Assert.Contains(unlocked, port, StringComparison.Ordinal);
        return AssertNoneThrowsAsync(port.Replace(unlocked, "out_unmap:\n        if (ret != SWAP_FAIL)", StringComparison.Ordinal), expectedId: "MMU001", withSeedsCommon: true);
    }

    private static async Task AssertNoneThrowsAsync(string source, string expectedId, bool withSeedsCommon = false)
    {
        var sources = new List<(string, string)> { ("/0/Test0.cs", source) };
        if (withSeedsCommon)
        {
            sources.AddRange(RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Common")).Select(f => (f, File.ReadAllText(f))));
        }

        var outcome = await FixExerciser.RunAsync(sources, 1, Array.Empty<MetadataReference>(), CancellationToken.None);
        Assert.True(outcome.Failures.Count == 0, string.Join("\n\n", outcome.Failures));
        Assert.True(
            outcome.Diagnostics.Any(d => d.Id == expectedId) && outcome.Actions > 0,
            "the shape no longer reaches a fix for " + expectedId + ": " + string.Join(", ", outcome.Diagnostics.Select(d => d.Id + " at line " + (d.Location.GetLineSpan().StartLinePosition.Line + 1))) + "; " + outcome.Actions + " actions");
    }
}
