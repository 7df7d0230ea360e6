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
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Robustness;

/// <summary>
/// Fix All as dotnet format runs it: solution scope, with the key of the first action of whichever
/// diagnostic its concurrent analysis listed first, and with no key at all when that one offered
/// nothing (issue #14: three runs over the same input left 63, 72 and 64 findings). On every port
/// unit, for every provider: the result must not depend on the order the diagnostics come in, and
/// without a key the fixes that exist must still be applied.
/// </summary>
public sealed class FixAllDeterminismTests
{
    [Fact]
    public async Task FixAllIsTheSameWhateverTheDiagnosticsOrderAndKey()
    {
        var problems = new List<string>();
        foreach (var unit in PortCorpus.Units())
        {
            var (workspace, solution, projectId, _) = AnalysisRunner.CreateProject(
                unit.Files,
                Array.Empty<(string, string)>(),
                Array.Empty<(string, string)>(),
                TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations).Add(PortCorpus.SeedsCommon.Value),
                AnalysisRunner.ParseOptions(LanguageVersion.Latest),
                AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, Array.Empty<string>()));
            using (workspace)
            {
                var project = solution.GetProject(projectId)!;
                var result = await AnalysisRunner.AnalyzeAsync(project, RepositoryLayout.Analyzers, CancellationToken.None);
                foreach (var provider in RepositoryLayout.CodeFixes)
                {
                    foreach (var id in provider.FixableDiagnosticIds)
                    {
                        var found = result.AnalyzerDiagnostics.Where(d => d.Id == id).ToList();
                        if (found.Count == 0)
                        {
                            continue;
                        }

                        var keys = new List<string?> { null };
                        keys.AddRange(await OfferedKeysAsync(provider, project, found));
                        var name = unit.Files[0].Path + " " + provider.GetType().Name + " " + id;
                        foreach (var key in keys)
                        {
                            var forward = await FixAllAsync(provider, project, id, key, found);
                            var backward = await FixAllAsync(provider, project, id, key, Enumerable.Reverse(found).ToList());
                            if (forward != backward)
                            {
                                problems.Add(name + " with key '" + key + "': the result depends on the diagnostics' order");
                            }

                            if (key is null && keys.Count > 1 && forward == await TextsAsync(project.Solution, project.Id))
                            {
                                problems.Add(name + " without a key: nothing fixed, though " + string.Join(", ", keys.Skip(1)) + " are offered");
                            }
                        }
                    }
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static async Task<IEnumerable<string>> OfferedKeysAsync(CodeFixProvider provider, Project project, List<Diagnostic> diagnostics)
    {
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var diagnostic in diagnostics)
        {
            var document = project.GetDocument(diagnostic.Location.SourceTree)!;
            await provider.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => keys.Add(action.EquivalenceKey ?? string.Empty), CancellationToken.None));
        }

        return keys;
    }

    /// <summary>Every document's text after Fix All in solution scope, as one string.</summary>
    private static async Task<string> FixAllAsync(CodeFixProvider provider, Project project, string id, string? key, List<Diagnostic> diagnostics)
    {
        var first = project.GetDocument(diagnostics[0].Location.SourceTree)!;
        var context = new FixAllContext(first, provider, FixAllScope.Solution, key, new[] { id }, new ListedDiagnostics(diagnostics), CancellationToken.None);
        var solution = project.Solution;
        if (await provider.GetFixAllProvider()!.GetFixAsync(context) is { } action)
        {
            foreach (var operation in await action.GetOperationsAsync(CancellationToken.None))
            {
                if (operation is ApplyChangesOperation apply)
                {
                    solution = apply.ChangedSolution;
                }
            }
        }

        return await TextsAsync(solution, project.Id);
    }

    private static async Task<string> TextsAsync(Solution solution, ProjectId projectId)
    {
        var texts = new List<string>();
        foreach (var document in solution.GetProject(projectId)!.Documents.OrderBy(d => d.FilePath, StringComparer.Ordinal))
        {
            texts.Add((await document.GetTextAsync()).ToString());
        }

        return string.Join("\n// ----\n", texts);
    }
}
