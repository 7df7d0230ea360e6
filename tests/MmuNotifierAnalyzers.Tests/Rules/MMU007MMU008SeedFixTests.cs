using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
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
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>
/// Seed 003's page_mkclean_one and try_to_unmap_one (samples/Seeds.Before/Seed003/rmap.cs): after
/// the MMU007 and the MMU008 fixes, in either order, one diagnostic at a time or Fix All per
/// document, both calls read one correct range — start aligned to the compound page, end = start +
/// (PAGE_SIZE &lt;&lt; compound_order(page)) — the file compiles, and no other rule reports more.
/// </summary>
public sealed class MMU007MMU008SeedFixTests
{
    private const string SeedFile = "Seed003/rmap.cs";

    private static readonly string[] ExpectedRange =
    {
        "            ulong haddr = address & ~((PAGE_SIZE << compound_order(page)) - 1);",
        "            mmu_notifier_invalidate_range(vma.vm_mm, haddr,",
        "                    haddr + (PAGE_SIZE << compound_order(page)));",
        // try_to_unmap_one: the if's body becomes a block.
        "        if (invalidation_needed)",
        "        {",
        "            ulong haddr = address & ~((PAGE_SIZE << compound_order(page)) - 1);",
        "            mmu_notifier_invalidate_range(mm, haddr,",
        "                    haddr + (PAGE_SIZE << compound_order(page)));",
        "        }",
        "        return ret;",
    };

    public static TheoryData<bool, bool> Orders => new()
    {
        { true, false },
        { false, false },
        { true, true },
        { false, true },
    };

    [Theory]
    [MemberData(nameof(Orders))]
    public async Task BothFunctionsEndWithOneAlignedRangeInBytes(bool mmu007First, bool fixAll)
    {
        var (workspace, solution, projectId) = Load();
        using (workspace)
        {
            var before = await AnalysisRunner.AnalyzeAsync(solution.GetProject(projectId)!, RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.Empty(before.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error));
            Assert.Equal(2, before.AnalyzerDiagnostics.Count(d => d.Id == "MMU007"));
            Assert.Equal(2, before.AnalyzerDiagnostics.Count(d => d.Id == "MMU008"));

            var steps = mmu007First
                ? new (DiagnosticAnalyzer, CodeFixProvider)[] { (new RangeLengthInPagesAnalyzer(), new RangeLengthInPagesCodeFix()), (new HugeRangeNotAlignedAnalyzer(), new HugeRangeNotAlignedCodeFix()) }
                : new (DiagnosticAnalyzer, CodeFixProvider)[] { (new HugeRangeNotAlignedAnalyzer(), new HugeRangeNotAlignedCodeFix()), (new RangeLengthInPagesAnalyzer(), new RangeLengthInPagesCodeFix()) };
            foreach (var (analyzer, fix) in steps)
            {
                solution = fixAll ? await FixAllAsync(solution, projectId, analyzer, fix) : await FixOneByOneAsync(solution, projectId, analyzer, fix);
            }

            var project = solution.GetProject(projectId)!;
            var text = await SeedTextAsync(project);
            var lines = text.Split('\n');
            var at = Array.FindIndex(lines, l => l.Contains("ulong haddr", StringComparison.Ordinal));
            Assert.True(at > 0, text);
            Assert.Equal(ExpectedRange.Take(3), lines.Skip(at).Take(3));
            var second = Array.FindIndex(lines, at + 1, l => l.Contains("if (invalidation_needed)", StringComparison.Ordinal) && !l.StartsWith("            ", StringComparison.Ordinal));
            Assert.True(second > at, text);
            Assert.Equal(ExpectedRange.Skip(3), lines.Skip(second).Take(ExpectedRange.Length - 3));
            Assert.DoesNotContain("1UL << compound_order", text, StringComparison.Ordinal);

            var after = await AnalysisRunner.AnalyzeAsync(project, RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.True(after.AnalyzerExceptions.IsEmpty, string.Join("\n", after.AnalyzerExceptions));
            var errors = after.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, string.Join("\n", errors) + "\n\n" + text);
            Assert.DoesNotContain(after.AnalyzerDiagnostics, d => d.Id is "MMU007" or "MMU008");
            foreach (var id in before.AnalyzerDiagnostics.Select(d => d.Id).Concat(after.AnalyzerDiagnostics.Select(d => d.Id)).Distinct())
            {
                Assert.True(
                    after.AnalyzerDiagnostics.Count(d => d.Id == id) <= before.AnalyzerDiagnostics.Count(d => d.Id == id),
                    $"the fixes added {id} findings:\n{string.Join("\n", after.AnalyzerDiagnostics)}\n\n{text}");
            }

            Assert.False(text.Contains('\r', StringComparison.Ordinal), "the fixes wrote CRLF into an LF file");
        }
    }

    private static (AdhocWorkspaceHolder Workspace, Solution Solution, ProjectId ProjectId) Load()
    {
        var root = RepositoryLayout.Root;
        var path = Path.Combine(root, "samples", "Seeds.Before", SeedFile);
        Assert.True(File.Exists(path), path + " is missing");
        var common = RepositoryLayout.SourceFiles(Path.Combine(root, "samples", "Seeds.Common"))
            .Select(f => ("/common/" + Path.GetFileName(f), File.ReadAllText(f)));
        var sources = common.Append(("/seed/" + SeedFile, File.ReadAllText(path))).ToList();
        var (workspace, solution, projectId, _) = AnalysisRunner.CreateProject(
            sources,
            Array.Empty<(string, string)>(),
            Array.Empty<(string, string)>(),
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            AnalysisRunner.ParseOptions(LanguageVersion.Latest),
            AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, new[] { "CS8981" }));
        return (new AdhocWorkspaceHolder(workspace), solution, projectId);
    }

    private static async Task<ImmutableArray<Diagnostic>> FindingsAsync(Project project, DiagnosticAnalyzer analyzer, CodeFixProvider fix)
    {
        var result = await AnalysisRunner.AnalyzeAsync(project, ImmutableArray.Create(analyzer), CancellationToken.None);
        return result.AnalyzerDiagnostics.Where(d => fix.FixableDiagnosticIds.Contains(d.Id) && d.Location.IsInSource).OrderBy(d => d.Location.SourceSpan.Start).ToImmutableArray();
    }

    private static async Task<Solution> FixOneByOneAsync(Solution solution, ProjectId projectId, DiagnosticAnalyzer analyzer, CodeFixProvider fix)
    {
        for (var iteration = 0; ; iteration++)
        {
            Assert.True(iteration < 10, "the fix does not converge");
            var project = solution.GetProject(projectId)!;
            var diagnostic = (await FindingsAsync(project, analyzer, fix)).FirstOrDefault();
            if (diagnostic is null)
            {
                return solution;
            }

            var document = project.GetDocument(diagnostic.Location.SourceTree)!;
            var actions = new List<CodeAction>();
            await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None));
            var action = Assert.Single(actions);
            solution = (await action.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single().ChangedSolution;
        }
    }

    private static async Task<Solution> FixAllAsync(Solution solution, ProjectId projectId, DiagnosticAnalyzer analyzer, CodeFixProvider fix)
    {
        var project = solution.GetProject(projectId)!;
        var diagnostics = await FindingsAsync(project, analyzer, fix);
        Assert.NotEmpty(diagnostics);
        var document = project.GetDocument(diagnostics[0].Location.SourceTree)!;
        var actions = new List<CodeAction>();
        await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostics[0], (a, _) => actions.Add(a), CancellationToken.None));
        var key = Assert.Single(actions).EquivalenceKey;
        var context = new FixAllContext(document, fix, FixAllScope.Document, key, fix.FixableDiagnosticIds, new ListedDiagnostics(diagnostics), CancellationToken.None);
        var action = await fix.GetFixAllProvider()!.GetFixAsync(context);
        Assert.NotNull(action);
        return (await action!.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single().ChangedSolution;
    }

    private static async Task<string> SeedTextAsync(Project project) =>
        (await project.Documents.Single(d => d.FilePath!.StartsWith("/seed/", StringComparison.Ordinal)).GetTextAsync()).ToString();

    private sealed class AdhocWorkspaceHolder : IDisposable
    {
        private readonly IDisposable _workspace;

        public AdhocWorkspaceHolder(IDisposable workspace) => _workspace = workspace;

        public void Dispose() => _workspace.Dispose();
    }
}
