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

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>
/// MMU003's last check, that the capture compiles where the original did (docs/rules/MMU003.md,
/// "How to fix"): a goto past the start reaches an end that would read the new locals before they
/// are assigned. Every check before it passes, so the action is offered (the rewrite and its
/// compile check run only when it is applied), and applying it, one by one or as Fix All, leaves
/// the document as it was.
/// </summary>
public sealed class MMU003CompileSafetyNetTests
{
    private const string Source = @"using Kernel.Mm;
using static Kernel.Mm.Linux;

static class T
{
    static void f(mm_struct mm, ulong s, ulong e, bool skip)
    {
        if (skip)
            goto out_end;
        mmu_notifier_invalidate_range_start(mm, s, e);
        s += PAGE_SIZE;
    out_end:
        mmu_notifier_invalidate_range_end(mm, s, e);
    }
}
";

    [Fact]
    public async Task A_capture_that_would_not_compile_changes_nothing()
    {
        var (workspace, solution, projectId, documents) = AnalysisRunner.CreateProject(
            new[] { ("/t.cs", Source) },
            Array.Empty<(string, string)>(),
            Array.Empty<(string, string)>(),
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            AnalysisRunner.ParseOptions(LanguageVersion.Latest),
            AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, Array.Empty<string>()));
        using (workspace)
        {
            var project = solution.GetProject(projectId)!;
            var document = project.GetDocument(documents[0])!;
            var result = await AnalysisRunner.AnalyzeAsync(project, ImmutableArray.Create<DiagnosticAnalyzer>(new RangeArgumentsChangedAnalyzer()), CancellationToken.None);
            Assert.Empty(result.CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error));
            var diagnostic = Assert.Single(result.AnalyzerDiagnostics, d => d.Id == "MMU003");

            var fix = new RangeArgumentsChangedCodeFix();
            var actions = new List<CodeAction>();
            await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None));
            var action = Assert.Single(actions);
            var changed = (await action.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single().ChangedSolution;
            Assert.Equal(Source, (await changed.GetDocument(document.Id)!.GetTextAsync()).ToString());

            var context = new FixAllContext(document, fix, FixAllScope.Document, RangeArgumentsChangedCodeFix.EquivalenceKey, fix.FixableDiagnosticIds, new ListedDiagnostics(ImmutableArray.Create(diagnostic)), CancellationToken.None);
            var fixAll = await fix.GetFixAllProvider().GetFixAsync(context);
            var fixedAll = fixAll is null ? solution : (await fixAll.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single().ChangedSolution;
            Assert.Equal(Source, (await fixedAll.GetDocument(document.Id)!.GetTextAsync()).ToString());
        }
    }
}
