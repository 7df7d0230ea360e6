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
/// The MMU001 call-site fix on the real pre-4.13 functions of samples/Seeds.Before (page_mkclean_one,
/// try_to_unmap_one, __xip_unmap, do_wp_page, the 2012 *_clear_flush_notify macros): applied
/// until no MMU001 is left, the code must compile and every other rule must report no more than
/// before (the start/end the fix adds are balanced on every path and never change their range).
/// </summary>
public sealed class MMU001SeedFixTests
{
    public static TheoryData<string> SeedFiles => new()
    {
        "Seed000/rmap.cs",
        "Seed000/filemap_xip.cs",
        "Seed002/memory.cs",
        "Seed004/mmu_notifier_2012.cs",
    };

    [Theory]
    [MemberData(nameof(SeedFiles))]
    public async Task FixedSeedCompilesAndAddsNoFinding(string seedFile)
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
            var before = await AnalysisRunner.AnalyzeAsync(solution.GetProject(projectId)!, RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.Empty(before.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error));
            Assert.Contains(before.AnalyzerDiagnostics, d => d.Id == "MMU001");

            var fix = new InvalidatePageCodeFix();
            for (var iteration = 0; ; iteration++)
            {
                Assert.True(iteration < 20, "the MMU001 fix does not converge");
                var project = solution.GetProject(projectId)!;
                var result = await AnalysisRunner.AnalyzeAsync(project, ImmutableArray.Create<DiagnosticAnalyzer>(new InvalidatePageAnalyzer()), CancellationToken.None);
                var diagnostic = result.AnalyzerDiagnostics.FirstOrDefault(d => d.Id == "MMU001" && d.Location.IsInSource);
                if (diagnostic is null)
                {
                    break;
                }

                var document = project.GetDocument(diagnostic.Location.SourceTree)!;
                var actions = new List<CodeAction>();
                await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None));
                var action = Assert.Single(actions);
                var operations = await action.GetOperationsAsync(CancellationToken.None);
                solution = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution;
            }

            var fixedProject = solution.GetProject(projectId)!;
            var fixedText = (await fixedProject.Documents.Single(d => d.FilePath!.StartsWith("/seed/", StringComparison.Ordinal)).GetTextAsync()).ToString();
            var after = await AnalysisRunner.AnalyzeAsync(fixedProject, RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.True(after.AnalyzerExceptions.IsEmpty, string.Join("\n", after.AnalyzerExceptions));
            var errors = after.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, string.Join("\n", errors) + "\n\n" + fixedText);
            Assert.DoesNotContain(after.AnalyzerDiagnostics, d => d.Id == "MMU001");
            // The seed files end lines with LF; so must every line the fix wrote.
            Assert.False(fixedText.Contains('\r', StringComparison.Ordinal), "the fix wrote CRLF into an LF file:\n" + fixedText);
            foreach (var id in new[] { "MMU002", "MMU003" })
            {
                var was = before.AnalyzerDiagnostics.Count(d => d.Id == id);
                var now = after.AnalyzerDiagnostics.Where(d => d.Id == id).ToList();
                Assert.True(now.Count <= was, $"the fix added {id} findings:\n{string.Join("\n", now)}\n\n{fixedText}");
            }
        }
    }
}
