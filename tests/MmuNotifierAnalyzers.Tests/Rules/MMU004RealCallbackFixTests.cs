using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.CodeFixes;
using MmuNotifierAnalyzers.Rules;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.SleepInAtomicCallbackAnalyzer, MmuNotifierAnalyzers.CodeFixes.SleepInAtomicCallbackCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>
/// MMU004's fix on real range callbacks that sleep: amdgpu's and gntdev's (a mutex) and IB umem's
/// (an rw_semaphore) range callbacks at v4.12 (read from the 4.13 series' patches, see
/// KernelPorts/v4_12_notifier_ops.cs), registered as the atomic <c>invalidate_range</c>. Their
/// drivers register them as <c>invalidate_range_start</c>, which is what the fix writes, and, these
/// tables setting no end and no sequence scheme, as <c>invalidate_range_end</c> too; the real
/// <c>invalidate_range</c> callbacks (amd_iommu_v2, intel-svm, powernv npu, in the same port file)
/// do not sleep and get no finding (KernelPortsTests). One by one and Fix All in every scope.
/// </summary>
public sealed class MMU004RealCallbackFixTests
{
    private const string Source = @"using Kernel.Mm;
using static Kernel.Mm.Linux;

sealed class amdgpu_mn : mmu_notifier { public mutex @lock = new(); }
sealed class gntdev_priv : mmu_notifier { public mutex @lock = new(); }
sealed class ib_ucontext : mmu_notifier { public rw_semaphore umem_rwsem = new(); public bool invalidate_range = true; }

static class Drivers
{
    static void amdgpu_mn_invalidate_nodes(amdgpu_mn rmn, ulong start, ulong end) { }

    /* drivers/gpu/drm/amd/amdgpu/amdgpu_mn.c, v4.12 */
    static void amdgpu_mn_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        amdgpu_mn rmn = (amdgpu_mn)mn;

        /* notification is exclusive, but interval is inclusive */
        end -= 1;

        LOCK1;

        amdgpu_mn_invalidate_nodes(rmn, start, end);

        mutex_unlock(rmn.@lock);
    }

    static void unmap_maps_in_range(gntdev_priv priv, ulong start, ulong end) { }

    /* drivers/xen/gntdev.c, v4.12 */
    static void mn_invl_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        gntdev_priv priv = (gntdev_priv)mn;

        LOCK2;
        unmap_maps_in_range(priv, start, end);
        mutex_unlock(priv.@lock);
    }

    static void rbt_ib_umem_for_each_in_range(ib_ucontext context, ulong start, ulong end) { }

    /* drivers/infiniband/core/umem_odp.c, v4.12 (start half; the end half re-walks the tree) */
    static void ib_umem_notifier_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        ib_ucontext context = (ib_ucontext)mn;

        if (!context.invalidate_range)
            return;

        LOCK3;
        rbt_ib_umem_for_each_in_range(context, start, end);
        up_read(context.umem_rwsem);
    }

    public static readonly mmu_notifier_ops amdgpu_mn_ops = new()
    {
        MEMBER = amdgpu_mn_invalidate_range_start,
    };

    public static readonly mmu_notifier_ops gntdev_mmu_ops = new()
    {
        MEMBER = mn_invl_range_start,
    };

    public static readonly mmu_notifier_ops ib_umem_notifiers = new()
    {
        MEMBER = ib_umem_notifier_invalidate_range_start,
    };
}
";

    [Fact]
    public async Task SleepingRangeCallbacksBecomeInvalidateRangeStartAsTheirDriversRegisterThem()
    {
        await new Verify.Test
        {
            TestCode = Source.Replace("MEMBER", "invalidate_range")
                .Replace("LOCK1", "[|mutex_lock(rmn.@lock)|]").Replace("LOCK2", "[|mutex_lock(priv.@lock)|]").Replace("LOCK3", "[|down_read(context.umem_rwsem)|]"),
            FixedCode = System.Text.RegularExpressions.Regex.Replace(Source, @"MEMBER = (\w+),", "invalidate_range_start = $1,\n        invalidate_range_end = $1,")
                .Replace("LOCK1", "mutex_lock(rmn.@lock)").Replace("LOCK2", "mutex_lock(priv.@lock)").Replace("LOCK3", "down_read(context.umem_rwsem)"),
            CodeActionEquivalenceKey = SleepInAtomicCallbackCodeFix.EquivalenceKey,
            NumberOfIncrementalIterations = 3,
            NumberOfFixAllIterations = 1,
        }.RunAsync();
    }

    /// <summary>
    /// The fix writes a table our own rules accept: after Fix All over the three tables, neither
    /// MMU004 nor MMU011 (a start with no end and no scheme) reports anything; a rename alone, what
    /// the fix wrote before, is an MMU011 on each table.
    /// </summary>
    [Fact]
    public async Task TheFixedTablesHaveNoFindingOfMMU004NorMMU011()
    {
        var source = Source.Replace("MEMBER", "invalidate_range").Replace("LOCK1", "mutex_lock(rmn.@lock)").Replace("LOCK2", "mutex_lock(priv.@lock)").Replace("LOCK3", "down_read(context.umem_rwsem)");
        var (workspace, solution, projectId, documents) = AnalysisRunner.CreateProject(
            new[] { ("/0/Test0.cs", source) },
            Array.Empty<(string, string)>(),
            Array.Empty<(string, string)>(),
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            AnalysisRunner.ParseOptions(LanguageVersion.Latest),
            AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, Array.Empty<string>()));
        using (workspace)
        {
            ImmutableArray<DiagnosticAnalyzer> analyzers = [new SleepInAtomicCallbackAnalyzer(), new InconsistentNotifierOpsAnalyzer()];
            var before = await AnalysisRunner.AnalyzeAsync(solution.GetProject(projectId)!, analyzers, CancellationToken.None);
            var mmu004 = before.AnalyzerDiagnostics.Where(d => d.Id == RuleIdentifiers.SleepInAtomicCallback).ToImmutableArray();
            Assert.Equal(3, mmu004.Length);

            var fix = new SleepInAtomicCallbackCodeFix();
            var context = new FixAllContext(
                solution.GetDocument(documents[0])!,
                fix,
                FixAllScope.Solution,
                SleepInAtomicCallbackCodeFix.EquivalenceKey,
                new[] { RuleIdentifiers.SleepInAtomicCallback },
                new Diagnostics(mmu004),
                CancellationToken.None);
            var action = await fix.GetFixAllProvider().GetFixAsync(context);
            Assert.NotNull(action);
            var applied = (await action!.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single().ChangedSolution;

            var after = await AnalysisRunner.AnalyzeAsync(applied.GetProject(projectId)!, analyzers, CancellationToken.None);
            Assert.Empty(after.AnalyzerDiagnostics);
            Assert.Empty(after.AnalyzerExceptions);

            var renamedOnly = solution.WithDocumentText(documents[0], Microsoft.CodeAnalysis.Text.SourceText.From(Source.Replace("MEMBER", "invalidate_range_start")
                .Replace("LOCK1", "mutex_lock(rmn.@lock)").Replace("LOCK2", "mutex_lock(priv.@lock)").Replace("LOCK3", "down_read(context.umem_rwsem)")));
            var old = await AnalysisRunner.AnalyzeAsync(renamedOnly.GetProject(projectId)!, analyzers, CancellationToken.None);
            Assert.Equal(3, old.AnalyzerDiagnostics.Count(d => d.Id == RuleIdentifiers.InconsistentNotifierOps));
        }
    }

    private sealed class Diagnostics(ImmutableArray<Diagnostic> all) : FixAllContext.DiagnosticProvider
    {
        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(all);

        public override Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken) =>
            Task.FromResult(all.Where(d => d.Location.SourceTree?.FilePath == document.FilePath));

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) => Task.FromResult(Enumerable.Empty<Diagnostic>());
    }
}
