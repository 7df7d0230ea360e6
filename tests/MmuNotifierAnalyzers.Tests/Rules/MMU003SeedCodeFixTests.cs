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
/// The MMU003 fix on the real seed-004 ports of samples/Seeds.Before (copy_page_range's
/// conditional start, move_page_tables, hugetlb_cow): applied one diagnostic at a time until no
/// MMU003 is left, the file must compile with no MMU002/MMU003 and no more of the other rules
/// than before; Fix All in document scope, fed the diagnostics of the original file only (as
/// dotnet format does), must give the same text.
/// </summary>
public sealed class MMU003SeedCodeFixTests
{
    public static TheoryData<string, string> SeedFiles => new()
    {
        { "Seed004/memory.cs", "mmu_notifier_invalidate_range_end(src_mm, mmun_start, mmun_end);" },
        { "Seed004/mremap.cs", "mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);" },
        { "Seed004/hugetlb.cs", "mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);" },
    };

    [Theory]
    [MemberData(nameof(SeedFiles))]
    public async Task FixedSeedCompilesClearsMmu003AndFixAllAgrees(string seedFile, string fixedEnd)
    {
        var root = RepositoryLayout.Root;
        var path = Path.Combine(root, "samples", "Seeds.Before", seedFile);
        Assert.True(File.Exists(path), path + " is missing");
        var common = RepositoryLayout.SourceFiles(Path.Combine(root, "samples", "Seeds.Common"))
            .Select(f => ("/common/" + Path.GetFileName(f), File.ReadAllText(f)));
        var sources = common.Append(("/seed/" + seedFile, File.ReadAllText(path))).ToList();
        var (workspace, solution, projectId, _) = AnalysisRunner.CreateProject(
            sources,
            Array.Empty<(string, string)>(),
            Array.Empty<(string, string)>(),
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            AnalysisRunner.ParseOptions(LanguageVersion.Latest),
            AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, new[] { "CS8981" }));
        using (workspace)
        {
            var original = solution;
            var before = await AnalysisRunner.AnalyzeAsync(solution.GetProject(projectId)!, RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.Empty(before.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error));
            var originalMmu003 = await Mmu003Async(solution.GetProject(projectId)!);
            Assert.NotEmpty(originalMmu003);

            var fix = new RangeArgumentsChangedCodeFix();
            for (var iteration = 0; ; iteration++)
            {
                Assert.True(iteration < 20, "the MMU003 fix does not converge");
                var project = solution.GetProject(projectId)!;
                var diagnostic = (await Mmu003Async(project)).FirstOrDefault();
                if (diagnostic is null)
                {
                    break;
                }

                var document = project.GetDocument(diagnostic.Location.SourceTree)!;
                var actions = new List<CodeAction>();
                await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None));
                var action = Assert.Single(actions);
                Assert.Equal(RangeArgumentsChangedCodeFix.EquivalenceKey, action.EquivalenceKey);
                var operations = await action.GetOperationsAsync(CancellationToken.None);
                solution = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution;
            }

            var fixedProject = solution.GetProject(projectId)!;
            var fixedText = await SeedTextAsync(fixedProject);
            Assert.Contains(fixedEnd, fixedText, StringComparison.Ordinal);
            var after = await AnalysisRunner.AnalyzeAsync(fixedProject, RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.True(after.AnalyzerExceptions.IsEmpty, string.Join("\n", after.AnalyzerExceptions));
            var errors = after.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, string.Join("\n", errors) + "\n\n" + fixedText);
            var left = after.AnalyzerDiagnostics.Where(d => d.Id is "MMU002" or "MMU003").ToList();
            Assert.True(left.Count == 0, string.Join("\n", left) + "\n\n" + fixedText);
            foreach (var id in new[] { "MMU001", "MMU004", "MMU005" })
            {
                var was = before.AnalyzerDiagnostics.Count(d => d.Id == id);
                var now = after.AnalyzerDiagnostics.Where(d => d.Id == id).ToList();
                Assert.True(now.Count <= was, $"the fix added {id} findings:\n{string.Join("\n", now)}\n\n{fixedText}");
            }

            // Fix All with the original file's diagnostics, never recomputed: the same text.
            var seedDocument = original.GetProject(projectId)!.Documents.Single(d => d.FilePath!.StartsWith("/seed/", StringComparison.Ordinal));
            var fixAll = fix.GetFixAllProvider();
            var context = new FixAllContext(seedDocument, fix, FixAllScope.Document, RangeArgumentsChangedCodeFix.EquivalenceKey, fix.FixableDiagnosticIds, new ListedDiagnostics(originalMmu003), CancellationToken.None);
            var fixAllAction = await fixAll.GetFixAsync(context);
            Assert.NotNull(fixAllAction);
            var fixAllSolution = (await fixAllAction!.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single().ChangedSolution;
            Assert.Equal(fixedText, await SeedTextAsync(fixAllSolution.GetProject(projectId)!));
        }
    }

    private static async Task<ImmutableArray<Diagnostic>> Mmu003Async(Project project)
    {
        var result = await AnalysisRunner.AnalyzeAsync(project, ImmutableArray.Create<DiagnosticAnalyzer>(new RangeArgumentsChangedAnalyzer()), CancellationToken.None);
        return result.AnalyzerDiagnostics.Where(d => d.Id == "MMU003" && d.Location.IsInSource).ToImmutableArray();
    }

    private static async Task<string> SeedTextAsync(Project project) =>
        (await project.Documents.Single(d => d.FilePath!.StartsWith("/seed/", StringComparison.Ordinal)).GetTextAsync()).ToString();
}
