using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Robustness;

/// <summary>
/// Every analyzer of the assembly over half-typed code: kernel ports from samples/ and the
/// snippets below, each cut at evenly spaced tokens (the token removed, or the file truncated
/// after it). Compile errors are expected; an analyzer exception (AD0001) is not.
/// Deterministic: the same cuts on every run.
/// </summary>
public sealed class HalfTypedCodeTests
{
    // Cuts per file: bounded so the whole class takes well under a minute on two cores (a cut
    // re-analyzes the file with Seeds.Common, ~0.35 s of CPU; the first one also JITs Roslyn).
    private const int CutsPerSampleFile = 6;
    private const int CutsPerSnippet = 16;

    [Fact]
    public async Task SeedsBeforeSurviveCuts() => await CutProjectAsync(Path.Combine("samples", "Seeds.Before"));

    [Fact]
    public async Task SeedsAfterSurviveCuts() => await CutProjectAsync(Path.Combine("samples", "Seeds.After"));

    [Fact]
    public async Task KernelLikeSnippetsCompileAsWritten()
    {
        // The snippets must be valid code, or the cuts below would not start from real shapes.
        foreach (var (name, text) in Snippets)
        {
            var compilation = Compile(new[] { CSharpSyntaxTree.ParseText(text, Parse, path: name) });
            var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, name + ":\n" + string.Join("\n", errors));
            var result = await AnalysisRunner.AnalyzeAsync(compilation, new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty), RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.True(result.AnalyzerExceptions.IsEmpty, name + ":\n" + string.Join("\n", result.AnalyzerExceptions));
        }
    }

    [Fact]
    public async Task KernelLikeSnippetsSurviveCuts()
    {
        var failures = new List<string>();
        foreach (var (name, text) in Snippets)
        {
            await CutFileAsync(name, text, Array.Empty<SyntaxTree>(), CutsPerSnippet, failures);
        }

        Assert.True(failures.Count == 0, Report(failures));
    }

    /// <summary>The MMU007 and MMU008 fixes over the same cuts: every action they offer (one by one
    /// and Fix All in document scope) must compute without throwing.</summary>
    [Fact]
    public async Task RangeFixesSurviveCuts()
    {
        var failures = new List<string>();
        var offered = 0;
        var pairs = new (DiagnosticAnalyzer Analyzer, CodeFixProvider Fix)[]
        {
            (new MmuNotifierAnalyzers.Rules.RangeLengthInPagesAnalyzer(), new MmuNotifierAnalyzers.CodeFixes.RangeLengthInPagesCodeFix()),
            (new MmuNotifierAnalyzers.Rules.HugeRangeNotAlignedAnalyzer(), new MmuNotifierAnalyzers.CodeFixes.HugeRangeNotAlignedCodeFix()),
        };
        var (name, text) = Snippets.Single(s => s.Name == "pages.cs");
        var seed003 = Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Before", "Seed003", "rmap.cs");
        var common = RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Common"))
            .Select(f => ("/common/" + Path.GetFileName(f), File.ReadAllText(f)))
            .ToArray();
        foreach (var (file, source, context) in new[] { (name, text, Array.Empty<(string, string)>()), ("Seed003/rmap.cs", File.ReadAllText(seed003), common) })
        {
            var tokens = CSharpSyntaxTree.ParseText(source, Parse).GetRoot().DescendantTokens().Where(t => !t.IsKind(SyntaxKind.EndOfFileToken)).ToList();
            for (var k = 0; k <= CutsPerSnippet; k++)
            {
                // k == 0: the whole file, so the fixes run at least once on code they fix.
                var token = tokens[(int)((long)k * tokens.Count / (CutsPerSnippet + 1))];
                var variant = k == 0 ? source : k % 2 == 1 ? source.Remove(token.SpanStart, token.Span.Length) : source.Substring(0, token.Span.End);
                var what = k == 0 ? file + ": as written" : $"{file}: {(k % 2 == 1 ? "without" : "truncated after")} '{token.Text}' at {token.GetLocation().GetLineSpan().StartLinePosition}";
                var (workspace, solution, projectId, _) = AnalysisRunner.CreateProject(
                    context.Append(("/cut/" + Path.GetFileName(file), variant)).ToList(),
                    Array.Empty<(string, string)>(),
                    Array.Empty<(string, string)>(),
                    TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
                    Parse,
                    AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, new[] { "CS8981" }));
                using (workspace)
                {
                    var project = solution.GetProject(projectId)!;
                    foreach (var (analyzer, fix) in pairs)
                    {
                        try
                        {
                            var result = await AnalysisRunner.AnalyzeAsync(project, ImmutableArray.Create(analyzer), CancellationToken.None);
                            failures.AddRange(result.AnalyzerExceptions.Select(e => what + "\n" + e));
                            var diagnostics = result.AnalyzerDiagnostics.Where(d => d.Location.IsInSource && fix.FixableDiagnosticIds.Contains(d.Id)).ToImmutableArray();
                            foreach (var diagnostic in diagnostics)
                            {
                                var document = project.GetDocument(diagnostic.Location.SourceTree)!;
                                var actions = new List<CodeAction>();
                                await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None));
                                foreach (var action in actions)
                                {
                                    offered++;
                                    await action.GetOperationsAsync(CancellationToken.None);
                                    var all = new FixAllContext(document, fix, FixAllScope.Document, action.EquivalenceKey, fix.FixableDiagnosticIds, new ListedDiagnostics(diagnostics), CancellationToken.None);
                                    var fixAll = await fix.GetFixAllProvider()!.GetFixAsync(all);
                                    if (fixAll is not null)
                                    {
                                        await fixAll.GetOperationsAsync(CancellationToken.None);
                                    }
                                }
                            }
                        }
                        catch (Exception exception) when (exception is not OutOfMemoryException)
                        {
                            failures.Add(what + " (" + fix.GetType().Name + ")\n" + exception);
                        }
                    }
                }
            }
        }

        Assert.True(failures.Count == 0, Report(failures));
        // The uncut files are fixable: the loop above did run the fixes.
        Assert.True(offered >= 4, "the fixes were offered " + offered + " times");
    }

    private static readonly CSharpParseOptions Parse = new(LanguageVersion.Latest);

    private static async Task CutProjectAsync(string relativeFolder)
    {
        var folder = Path.Combine(RepositoryLayout.Root, relativeFolder);
        var files = RepositoryLayout.SourceFiles(folder);
        Assert.True(files.Count > 0, "no .cs files under " + relativeFolder);

        // Seeds.Common holds the helpers the seed ports share; it stays intact.
        var common = RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Common"))
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), Parse, path: f))
            .ToArray();
        var failures = new List<string>();
        foreach (var file in files)
        {
            await CutFileAsync(Path.GetRelativePath(RepositoryLayout.Root, file), File.ReadAllText(file), common, CutsPerSampleFile, failures);
        }

        Assert.True(failures.Count == 0, Report(failures));
    }

    private static async Task CutFileAsync(string name, string text, IReadOnlyList<SyntaxTree> context, int cuts, List<string> failures)
    {
        var tokens = CSharpSyntaxTree.ParseText(text, Parse).GetRoot().DescendantTokens().Where(t => !t.IsKind(SyntaxKind.EndOfFileToken)).ToList();
        if (tokens.Count == 0)
        {
            return;
        }

        for (var k = 1; k <= cuts; k++)
        {
            var token = tokens[(int)((long)k * tokens.Count / (cuts + 1))];
            var removeToken = k % 2 == 1;
            var variant = removeToken
                ? text.Remove(token.SpanStart, token.Span.Length)
                : text.Substring(0, token.Span.End);
            var what = $"{name}: {(removeToken ? "without" : "truncated after")} '{token.Text}' at {token.GetLocation().GetLineSpan().StartLinePosition}";
            var trees = new List<SyntaxTree>(context) { CSharpSyntaxTree.ParseText(variant, Parse, path: name) };
            try
            {
                var result = await AnalysisRunner.AnalyzeAsync(Compile(trees), new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty), RepositoryLayout.Analyzers, CancellationToken.None);
                failures.AddRange(result.AnalyzerExceptions.Select(e => what + "\n" + e));
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                failures.Add(what + "\n" + exception);
            }
        }
    }

    private static CSharpCompilation Compile(IEnumerable<SyntaxTree> trees) =>
        CSharpCompilation.Create(
            "HalfTyped",
            trees,
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));

    private static string Report(List<string> failures)
    {
        var text = new StringBuilder();
        text.Append(failures.Count).Append(" analyzer exception(s) on half-typed code; the first ones:\n\n");
        foreach (var failure in failures.Take(5))
        {
            text.Append(failure).Append("\n\n");
        }

        return text.ToString();
    }

    /// <summary>Kernel-shaped code touching every rule: ranges with gotos and loops, locks,
    /// ops tables with lambdas and method groups, atomic callbacks, interval notifiers.</summary>
    private static readonly (string Name, string Text)[] Snippets =
    {
        ("ranges.cs", @"using Kernel.Mm;
using static Kernel.Mm.Linux;

public static class ranges
{
    public static int copy_range(mm_struct dst, mm_struct src, vm_area_struct vma, bool is_cow)
    {
        ulong addr = vma.vm_start, end = vma.vm_end;
        ulong mmun_start = addr, mmun_end = end;
        int ret = 0;
        if (is_cow)
            mmu_notifier_invalidate_range_start(src, mmun_start, mmun_end);
        for (ulong a = addr; a < end; a += PAGE_SIZE)
        {
            pmd_ptr? pmd = mm_find_pmd(src, a);
            if (pmd == null)
                continue;
            pte_ptr pte = pte_offset_map_lock(src, pmd, a, out spinlock_t ptl);
            if (!pte_present(ptep_get(pte)))
            {
                pte_unmap_unlock(pte, ptl);
                ret = -12;
                goto out_end;
            }
            ptep_set_wrprotect(src, a, pte);
            pte_unmap_unlock(pte, ptl);
        }
    out_end:
        if (is_cow)
            mmu_notifier_invalidate_range_end(src, mmun_start, mmun_end);
        return ret;
    }

    public static void unmap_one(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr? pte = page_check_address(page, mm, address, out spinlock_t ptl, 0);
        if (pte == null)
            return;
        pte_t pteval = ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_page(mm, address);
        page_remove_rmap(page);
        pte_unmap_unlock(pte, ptl);
        put_page(page);
        object? buf = kmalloc(64, GFP_KERNEL);
        kfree(buf);
    }

    public static void range_form(vm_area_struct vma, ulong start, ulong end)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, vma.vm_mm, start, end);
        mmu_notifier_invalidate_range_start(range);
        range.end = end + PAGE_SIZE;
        mmu_notifier_invalidate_range_end(range);
    }
}
"),
        ("notify.cs", @"using Kernel.Mm;
using static Kernel.Mm.Linux;

public static class notify
{
    public static void walk(vm_area_struct vma, page page, ulong address, ulong end, pmd_ptr pmd, pte_t entry)
    {
        mm_struct mm = vma.vm_mm;
        ulong mmun_start = address & HPAGE_PMD_MASK, mmun_end = mmun_start + HPAGE_PMD_SIZE;
        bool invalidation_needed = false;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        for (; address < end; address += PAGE_SIZE)
        {
            pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
            if (!pte_present(ptep_get(pte)))
            {
                pte_unmap_unlock(pte, ptl);
                continue;
            }
            ptep_clear_flush(vma, address, pte);
            set_pte_at_notify(mm, address, pte, entry);
            put_page(page);
            pte_unmap_unlock(pte, ptl);
            invalidation_needed = true;
        }
        if (invalidation_needed)
            mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        ptep_clear_flush_notify(vma, address, pte_offset_map(pmd, address));
        mmu_notifier_change_pte(mm, address, entry);
    }
}
"),
        ("driver.cs", @"using System.Threading;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

public sealed class my_driver : mmu_notifier
{
    public readonly mutex lock_ = new mutex();
    public readonly spinlock_t tlb_lock = new spinlock_t();
    public ulong seq;

    [MaySleep]
    static void flush_dev_tlb(my_driver d, ulong start, ulong end)
    {
        mutex_lock(d.lock_);
        mutex_unlock(d.lock_);
    }

    static void my_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        var d = (my_driver)mn;
        spin_lock(d.tlb_lock);
        flush_dev_tlb(d, start, end);
        Thread.Sleep(1);
        spin_unlock(d.tlb_lock);
    }

    static void my_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address) => my_invalidate_range(mn, mm, address, address + PAGE_SIZE);

    public static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range = my_invalidate_range,
        invalidate_page = my_invalidate_page,
        invalidate_range_start = (mn, mm, start, end) => { lock (mn) { } },
        change_pte = (mn, mm, address, pte) => msleep(1),
        clear_flush_young = (mn, mm, start, end) => { cond_resched(); return 0; },
        release = static (mn, mm) => { },
    };

    [MustHoldLock(""ptl"")]
    static int hugetlb_cow(mm_struct mm, vm_area_struct vma, ulong address, spinlock_t ptl)
    {
        spin_unlock(ptl);
        page? new_page = alloc_page_vma(GFP_KERNEL, vma, address);
        spin_lock(ptl);
        mmu_notifier_invalidate_range_start(mm, address, address + HPAGE_PMD_SIZE);
        if (new_page == null)
            return -1;
        mmu_notifier_invalidate_range_end(mm, address, address + (1UL << HPAGE_PMD_ORDER));
        return 0;
    }
}
"),
        ("pages.cs", @"using System.Diagnostics.CodeAnalysis;
using Kernel.Mm;
using static Kernel.Mm.Linux;

public static class pages
{
    static void VM_BUG_ON([DoesNotReturnIf(true)] bool condition) { }

    public static void mkclean_one(page page, vm_area_struct vma, ulong address, bool needed)
    {
        ulong nr = compound_nr(page);
        if (needed)
            mmu_notifier_invalidate_range(vma.vm_mm, address,
                    address + (1UL << compound_order(page)));
        ulong mmun_start = address;
        ulong mmun_end = mmun_start + nr;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, address + HPAGE_PMD_NR);
        hstate h = hstate_vma(vma);
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, vma.vm_mm, address, address + (1UL << huge_page_order(h)));
        split(vma.vm_mm, address & HPAGE_PMD_MASK);
    }

    static void split(mm_struct mm, ulong haddr)
    {
        VM_BUG_ON((haddr & ~HPAGE_PMD_MASK) != 0);
        for (ulong a = haddr; a < haddr + HPAGE_PMD_SIZE; a += PAGE_SIZE)
            mmu_notifier_invalidate_range(mm, haddr, haddr + (PAGE_SIZE << HPAGE_PMD_ORDER));
    }
}
"),
        ("interval.cs", @"using Kernel.Mm;
using static Kernel.Mm.Linux;

public sealed class odp : mmu_interval_notifier
{
    public readonly mutex umem_mutex = new mutex();

    static bool invalidate(mmu_interval_notifier sub, mmu_notifier_range range, ulong cur_seq)
    {
        var o = (odp)sub;
        if (!mmu_notifier_range_blockable(range))
            return false;
        mutex_lock(o.umem_mutex);
        mmu_interval_set_seq(sub, cur_seq);
        mutex_unlock(o.umem_mutex);
        return true;
    }

    public static readonly mmu_interval_notifier_ops ops = new() { invalidate = invalidate };

    public int fault(ulong address)
    {
        while (true)
        {
            ulong seq = mmu_interval_read_begin(this);
            mutex_lock(umem_mutex);
            if (mmu_interval_read_retry(this, seq))
            {
                mutex_unlock(umem_mutex);
                continue;
            }
            mutex_unlock(umem_mutex);
            return 0;
        }
    }
}
"),
    };
}
