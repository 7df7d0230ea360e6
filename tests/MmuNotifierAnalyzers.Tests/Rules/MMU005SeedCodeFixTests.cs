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
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;
using MmuNotifierAnalyzers.CodeFixes;
using MmuNotifierAnalyzers.Rules;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>
/// The MMU005 fix on the real 2012 functions of samples/Seeds.Before/Seed004 (hugetlb_cow's range
/// inside the pte_same block, the *_clear_flush_notify macros under the PT lock): the primary
/// action (the one dotnet format takes) applied one diagnostic at a time until none is offered,
/// then the same through Fix All. Both must give the same text, compile, and leave no other rule
/// reporting more than before; what is left of MMU005 is exactly what the fix refuses on purpose.
/// </summary>
public sealed class MMU005SeedCodeFixTests
{
    // Every MMU005 of Seed004 has a fix today; a shape the fix refuses on purpose would be listed here.
    private static readonly string[] Refused = System.Array.Empty<string>();

    [Fact]
    public async Task Seed004_fixed_one_by_one_and_by_Fix_All_compiles_and_adds_no_finding()
    {
        var root = RepositoryLayout.Root;
        var folder = Path.Combine(root, "samples", "Seeds.Before", "Seed004");
        var common = RepositoryLayout.SourceFiles(Path.Combine(root, "samples", "Seeds.Common"))
            .Select(f => ("/common/" + Path.GetFileName(f), File.ReadAllText(f)));
        var seeds = RepositoryLayout.SourceFiles(folder).Select(f => ("/seed/" + Path.GetFileName(f), File.ReadAllText(f)));
        var (workspace, solution, projectId, _) = AnalysisRunner.CreateProject(
            common.Concat(seeds).ToList(),
            Array.Empty<(string, string)>(),
            Array.Empty<(string, string)>(),
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            AnalysisRunner.ParseOptions(LanguageVersion.Latest),
            AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, new[] { "CS8981" }));
        using (workspace)
        {
            var before = await AnalysisRunner.AnalyzeAsync(solution.GetProject(projectId)!, RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.Empty(before.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error));
            Assert.Contains(before.AnalyzerDiagnostics, d => d.Id == "MMU005");

            var oneByOne = await FixOneByOneAsync(solution, projectId);
            var fixAll = await FixAllAsync(solution, projectId);
            foreach (var document in oneByOne.GetProject(projectId)!.Documents)
            {
                var expected = (await document.GetTextAsync()).ToString();
                var actual = (await fixAll.GetDocument(document.Id)!.GetTextAsync()).ToString();
                new DefaultVerifier().EqualOrDiff(expected, actual, "Fix All differs from one by one in " + document.FilePath);
            }

            var fixedProject = oneByOne.GetProject(projectId)!;
            var fixedText = string.Join("\n", await Task.WhenAll(fixedProject.Documents.Where(d => d.FilePath!.StartsWith("/seed/", StringComparison.Ordinal)).Select(async d => (await d.GetTextAsync()).ToString())));
            var after = await AnalysisRunner.AnalyzeAsync(fixedProject, RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.True(after.AnalyzerExceptions.IsEmpty, string.Join("\n", after.AnalyzerExceptions));
            var errors = after.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, string.Join("\n", errors) + "\n\n" + fixedText);

            var left = new List<string>();
            foreach (var diagnostic in after.AnalyzerDiagnostics.Where(d => d.Id == "MMU005"))
            {
                var node = (await diagnostic.Location.SourceTree!.GetRootAsync()).FindNode(diagnostic.Location.SourceSpan);
                var method = node.FirstAncestorOrSelf<MethodDeclarationSyntax>()?.Identifier.ValueText;
                left.Add(node.FirstAncestorOrSelf<StatementSyntax>()!.ToString() + "|" + method);
            }

            Assert.True(left.OrderBy(l => l, StringComparer.Ordinal).SequenceEqual(Refused), "MMU005 left:\n" + string.Join("\n", left) + "\n\n" + fixedText);
            foreach (var id in new[] { "MMU001", "MMU002", "MMU003", "MMU004" })
            {
                var was = before.AnalyzerDiagnostics.Count(d => d.Id == id);
                var now = after.AnalyzerDiagnostics.Where(d => d.Id == id).ToList();
                Assert.True(now.Count <= was, $"the fix added {id} findings:\n{string.Join("\n", now)}\n\n{fixedText}");
            }
        }
    }

    private static async Task<Solution> FixOneByOneAsync(Solution solution, ProjectId projectId)
    {
        var fix = new SleepUnderSpinlockCodeFix();
        var refused = new HashSet<string>();
        for (var iteration = 0; ; iteration++)
        {
            Assert.True(iteration < 40, "the MMU005 fix does not converge");
            var project = solution.GetProject(projectId)!;
            var result = await AnalysisRunner.AnalyzeAsync(project, ImmutableArray.Create<DiagnosticAnalyzer>(new SleepUnderSpinlockAnalyzer()), CancellationToken.None);
            CodeAction? action = null;
            foreach (var diagnostic in result.AnalyzerDiagnostics.Where(d => d.Id == "MMU005" && d.Location.IsInSource).OrderBy(d => d.Location.SourceTree!.FilePath, StringComparer.Ordinal).ThenBy(d => d.Location.SourceSpan.Start))
            {
                var actions = new List<CodeAction>();
                var document = project.GetDocument(diagnostic.Location.SourceTree)!;
                await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None));
                action = actions.FirstOrDefault(a => a.EquivalenceKey == SleepUnderSpinlockCodeFix.MoveKey);
                if (action is not null)
                {
                    break;
                }
            }

            if (action is null)
            {
                return solution;
            }

            var operations = await action.GetOperationsAsync(CancellationToken.None);
            solution = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution;
        }
    }

    private static async Task<Solution> FixAllAsync(Solution solution, ProjectId projectId)
    {
        var fix = new SleepUnderSpinlockCodeFix();
        var project = solution.GetProject(projectId)!;
        var result = await AnalysisRunner.AnalyzeAsync(project, ImmutableArray.Create<DiagnosticAnalyzer>(new SleepUnderSpinlockAnalyzer()), CancellationToken.None);
        var diagnostics = result.AnalyzerDiagnostics.Where(d => d.Id == "MMU005" && d.Location.IsInSource).ToImmutableArray();
        foreach (var group in diagnostics.GroupBy(d => d.Location.SourceTree))
        {
            var document = solution.GetDocument(group.Key)!;
            var context = new FixAllContext(
                document,
                fix,
                FixAllScope.Document,
                SleepUnderSpinlockCodeFix.MoveKey,
                new[] { "MMU005" },
                new ListedDiagnostics(group.ToImmutableArray()),
                CancellationToken.None);
            var action = await fix.GetFixAllProvider().GetFixAsync(context);
            if (action is null)
            {
                continue;
            }

            var operations = await action.GetOperationsAsync(CancellationToken.None);
            var changed = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution;
            solution = solution.WithDocumentText(document.Id, await changed.GetDocument(document.Id)!.GetTextAsync());
        }

        return solution;
    }
}
