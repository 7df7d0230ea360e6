using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Seeds;

/// <summary>
/// The seed ports in samples/, analyzed as the build analyzes them: each before form reports
/// exactly the ids its seed explains, at the lines the seed changed; the after forms report
/// nothing. Lines are found by their text, so an edit that moves code keeps the test honest
/// while an edit that changes what is reported fails it.
/// </summary>
public sealed class SeedPortsTests
{
    /// <summary>(file under samples/Seeds.Before, text of the reported line, which occurrence, id).</summary>
    private static readonly (string File, string Line, int Occurrence, string Id)[] ExpectedBefore =
    {
        // Seed 000/001: invalidate_page is killed; these are the forms it was killed in.
        ("Seed000/filemap_xip.cs", "mmu_notifier_invalidate_page(mm, address);", 1, "MMU001"),
        ("Seed000/rmap.cs", "mmu_notifier_invalidate_page(mm, address);", 1, "MMU001"),
        ("Seed000/rmap.cs", "mmu_notifier_invalidate_page(mm, address);", 2, "MMU001"),
        // try_to_unmap_one drops the page before the invalidate_page after the unlock: the
        // 2017 race the runtime replays (RaceDemo) frees a page a secondary MMU still maps.
        ("Seed000/rmap.cs", "page_cache_release(page);", 1, "MMU010"),
        // Seed 002: do_wp_page notified with invalidate_page after the unlock, and installed the
        // COW copy with set_pte_at_notify (change_pte) outside any start/end, which seed 002 bracketed.
        ("Seed002/memory.cs", "mmu_notifier_invalidate_page(mm, address);", 1, "MMU001"),
        ("Seed002/memory.cs", "set_pte_at_notify(mm, address, page_table, entry);", 1, "MMU009"),
        // Seed 003: invalidate_range after the rmap walk with no start/end around it (Andrea's bug 1).
        ("Seed003/rmap.cs", "mmu_notifier_invalidate_range(vma.vm_mm, address,", 1, "MMU006"),
        ("Seed003/rmap.cs", "mmu_notifier_invalidate_range(mm, address,", 1, "MMU006"),
        // ... and try_to_unmap_one puts each page in the walk, before that invalidate_range.
        ("Seed003/rmap.cs", "put_page(page);", 1, "MMU010"),
        // Seed 003 (Andrea's bugs 2 and 3): one invalidate_range after the walk, its end in pages and
        // its start not aligned to the compound page, in page_mkclean_one and try_to_unmap_one.
        ("Seed003/rmap.cs", "mmu_notifier_invalidate_range(", 1, "MMU007"),
        ("Seed003/rmap.cs", "mmu_notifier_invalidate_range(", 1, "MMU008"),
        ("Seed003/rmap.cs", "mmu_notifier_invalidate_range(", 2, "MMU007"),
        ("Seed003/rmap.cs", "mmu_notifier_invalidate_range(", 2, "MMU008"),
        // Seed 004: the 2012 notify macros called invalidate_page ...
        ("Seed004/mmu_notifier_2012.cs", "mmu_notifier_invalidate_page(___vma.vm_mm, ___address);", 1, "MMU001"),
        ("Seed004/mmu_notifier_2012.cs", "mmu_notifier_invalidate_page(___vma.vm_mm, ___address);", 2, "MMU001"),
        // ... under the page-table lock, which is what seed 004 moved out of it.
        ("Seed004/filemap_xip.cs", "pteval = ptep_clear_flush_notify(vma, address, pte);", 1, "MMU005"),
        ("Seed004/rmap.cs", "entry = ptep_clear_flush_notify(vma, address, pte);", 1, "MMU005"),
        ("Seed004/rmap.cs", "pteval = ptep_clear_flush_notify(vma, address, pte);", 1, "MMU005"),
        ("Seed004/rmap.cs", "pteval = ptep_clear_flush_notify(vma, address, pte);", 2, "MMU005"),
        ("Seed004/huge_memory.cs", "pmdp_clear_flush_notify(vma, haddr, pmd);", 1, "MMU005"),
        ("Seed004/huge_memory.cs", "pmdp_clear_flush_notify(vma, haddr, pmd);", 2, "MMU005"),
        ("Seed004/huge_memory.cs", "pmdp_splitting_flush_notify(vma, address, pmd);", 1, "MMU005"),
        ("Seed004/huge_memory.cs", "_pmd = pmdp_clear_flush_notify(vma, address, pmd);", 1, "MMU005"),
        // do_wp_page before seed 004 is the same code seed 002 later bracketed (002 came after 004 in
        // the 3.6 series): set_pte_at_notify outside start/end.
        ("Seed004/memory.cs", "set_pte_at_notify(mm, address, page_table, entry);", 1, "MMU009"),
        // hugetlb_cow: start and end under page_table_lock, end's range recomputed.
        ("Seed004/hugetlb.cs", "mmu_notifier_invalidate_range_start(mm,", 2, "MMU005"),
        ("Seed004/hugetlb.cs", "mmu_notifier_invalidate_range_end(mm,", 2, "MMU005"),
        ("Seed004/hugetlb.cs", "mmu_notifier_invalidate_range_end(mm,", 2, "MMU003"),
        // The mmun_start/mmun_end convention: copy_page_range ends on vma->vm_start after the
        // loop moved addr; move_page_tables ends on old_end-len after the loop moved old_addr.
        ("Seed004/memory.cs", "mmu_notifier_invalidate_range_end(src_mm,", 1, "MMU003"),
        ("Seed004/mremap.cs", "mmu_notifier_invalidate_range_end(vma.vm_mm, old_end - len, old_end);", 1, "MMU003"),
    };

    private static readonly ImmutableHashSet<string> ShippedIds =
        RepositoryLayout.Analyzers.SelectMany(a => a.SupportedDiagnostics).Select(d => d.Id).ToImmutableHashSet(StringComparer.Ordinal);

    [Fact]
    public async Task BeforeFormsReportExactlyWhatTheirSeedsExplain()
    {
        var folder = Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Before");
        var result = await AnalyzeAsync(folder);

        var expected = ExpectedBefore
            .Where(e => ShippedIds.Contains(e.Id))
            .Select(e => Format(e.File, LineOf(Path.Combine(folder, e.File), e.Line, e.Occurrence), e.Id))
            .OrderBy(s => s, StringComparer.Ordinal)
            .ToList();
        var actual = result.Select(d => Format(Relative(folder, d), d.Location.GetLineSpan().StartLinePosition.Line + 1, d.Id))
            .OrderBy(s => s, StringComparer.Ordinal)
            .ToList();

        Assert.True(
            expected.SequenceEqual(actual, StringComparer.Ordinal),
            "Expected:\n  " + string.Join("\n  ", expected) + "\nActual:\n  " + string.Join("\n  ", actual)
            + "\nMessages:\n  " + string.Join("\n  ", result.Select(d => Relative(folder, d) + ": " + d.GetMessage(System.Globalization.CultureInfo.InvariantCulture))));
    }

    [Fact]
    public async Task AfterFormsReportNothing()
    {
        var result = await AnalyzeAsync(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.After"));
        Assert.True(result.IsEmpty, string.Join("\n", result));
    }

    /// <summary>The before forms as `dotnet format analyzers` fixed them (generated and kept in step
    /// by the integration test SeedPortsFormatTests) report nothing either.</summary>
    [Fact]
    public async Task FixedFormsReportNothing()
    {
        var result = await AnalyzeAsync(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Fixed"));
        Assert.True(result.IsEmpty, string.Join("\n", result));
    }

    [Fact]
    public void EveryExpectationNamesARealLine()
    {
        // A typo in the table above would otherwise only show as a confusing mismatch.
        var folder = Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Before");
        foreach (var (file, line, occurrence, _) in ExpectedBefore)
        {
            Assert.True(LineOf(Path.Combine(folder, file), line, occurrence) > 0, file + ": " + line);
        }
    }

    private static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(string folder)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var ports = RepositoryLayout.SourceFiles(folder);
        Assert.True(ports.Count > 0, "no .cs files under " + folder);
        var files = ports.Concat(RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Common")));
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: f)).ToList();
        var compilation = CSharpCompilation.Create(
            Path.GetFileName(folder),
            trees,
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, "The seed ports must compile:\n" + string.Join("\n", errors.Take(10)));

        var result = await AnalysisRunner.AnalyzeAsync(compilation, new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty), RepositoryLayout.Analyzers, CancellationToken.None);
        Assert.True(result.AnalyzerExceptions.IsEmpty, string.Join("\n", result.AnalyzerExceptions));
        return result.AnalyzerDiagnostics;
    }

    /// <summary>The 1-based line of the <paramref name="occurrence"/>-th line containing <paramref name="text"/>, or 0.</summary>
    private static int LineOf(string path, string text, int occurrence)
    {
        var lines = File.ReadAllLines(path);
        var seen = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Contains(text, StringComparison.Ordinal) && ++seen == occurrence)
            {
                return i + 1;
            }
        }

        return 0;
    }

    private static string Relative(string folder, Diagnostic diagnostic) =>
        Path.GetRelativePath(folder, diagnostic.Location.GetLineSpan().Path).Replace(Path.DirectorySeparatorChar, '/');

    private static string Format(string file, int line, string id) => file + ":" + line + " " + id;
}
