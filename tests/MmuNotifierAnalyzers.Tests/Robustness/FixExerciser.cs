using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using MmuNotifierAnalyzers.CodeFixes;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;

namespace MmuNotifierAnalyzers.Tests.Robustness;

/// <summary>
/// Runs every analyzer of the package over one project and, for every diagnostic in the files
/// under test, every code fix the package has for it: each offered action's operations are
/// computed and applied, and each provider's Fix All (document and project scope) for every
/// equivalence key it offered. Whatever throws is a failure, and so is an exception a fix's guard
/// swallowed (<see cref="GuardedCodeFixProvider.SwallowedFailures"/>) and an analyzer exception.
/// </summary>
internal static class FixExerciser
{
    /// <summary>What one run saw: the failures (empty when nothing threw) and how much was exercised.</summary>
    public sealed record Outcome(IReadOnlyList<string> Failures, IReadOnlyList<Diagnostic> Diagnostics, int Actions, int FixAlls);

    private static readonly FixAllScope[] Scopes = { FixAllScope.Document, FixAllScope.Project };

    /// <summary>
    /// The project holds <paramref name="sources"/>; only the diagnostics in the first
    /// <paramref name="testedFiles"/> of them are fixed (the rest is context, as a seed's siblings are).
    /// </summary>
    public static async Task<Outcome> RunAsync(IReadOnlyList<(string Path, string Text)> sources, int testedFiles, IEnumerable<MetadataReference> extraReferences, CancellationToken cancellationToken)
    {
        var failures = new List<string>();

        // The fixes turn their own exceptions into "no fix" for the host; here they still count.
        var swallowed = new ConcurrentQueue<Exception>();
        GuardedCodeFixProvider.SwallowedFailures.Value = swallowed.Enqueue;
        var (workspace, solution, projectId, documents) = AnalysisRunner.CreateProject(
            sources,
            Array.Empty<(string, string)>(),
            Array.Empty<(string, string)>(),
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations).AddRange(extraReferences),
            AnalysisRunner.ParseOptions(LanguageVersion.Latest),
            AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, Array.Empty<string>()));
        using (workspace)
        {
            var project = solution.GetProject(projectId)!;
            var result = await AnalysisRunner.AnalyzeAsync(project, RepositoryLayout.Analyzers, cancellationToken).ConfigureAwait(false);
            failures.AddRange(result.AnalyzerExceptions.Select(e => "analyzer: " + e));

            var tested = documents.Take(testedFiles).Select(id => project.GetDocument(id)!).ToList();
            var testedPaths = new HashSet<string>(tested.Select(d => d.FilePath!), StringComparer.Ordinal);
            var diagnostics = result.AnalyzerDiagnostics.Where(d => d.Location.SourceTree is { } tree && testedPaths.Contains(tree.FilePath)).ToList();
            var actions = 0;
            var fixAlls = 0;
            foreach (var provider in RepositoryLayout.CodeFixes)
            {
                var keys = new SortedSet<string>(StringComparer.Ordinal);
                var mine = diagnostics.Where(d => provider.FixableDiagnosticIds.Contains(d.Id)).ToList();
                foreach (var diagnostic in mine)
                {
                    var document = project.GetDocument(diagnostic.Location.SourceTree)!;
                    var what = provider.GetType().Name + " on " + Describe(diagnostic);
                    var offered = new List<CodeAction>();
                    if (!await GuardAsync(what + ", registering", failures, async () =>
                        await provider.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => offered.Add(action), cancellationToken)).ConfigureAwait(false)).ConfigureAwait(false))
                    {
                        continue;
                    }

                    foreach (var action in offered.SelectMany(a => a.NestedActions.IsEmpty ? new[] { a } : a.NestedActions.ToArray()))
                    {
                        actions++;
                        if (action.EquivalenceKey is { } key)
                        {
                            keys.Add(key);
                        }

                        await GuardAsync(what + ", action '" + action.Title + "'", failures, () => ApplyAsync(action, solution, cancellationToken)).ConfigureAwait(false);
                    }
                }

                if (mine.Count == 0 || provider.GetFixAllProvider() is not { } fixAll)
                {
                    continue;
                }

                var diagnosticProvider = new ListedDiagnostics(mine);
                foreach (var key in keys)
                {
                    foreach (var scope in Scopes.Where(s => fixAll.GetSupportedFixAllScopes().Contains(s)))
                    {
                        foreach (var document in tested.Where(d => mine.Any(m => m.Location.SourceTree?.FilePath == d.FilePath)))
                        {
                            fixAlls++;
                            var context = new FixAllContext(document, provider, scope, key, provider.FixableDiagnosticIds, diagnosticProvider, cancellationToken);
                            await GuardAsync(provider.GetType().Name + " Fix All '" + key + "' in " + scope + " of " + document.Name, failures, async () =>
                            {
                                if (await fixAll.GetFixAsync(context).ConfigureAwait(false) is { } action)
                                {
                                    await ApplyAsync(action, solution, cancellationToken).ConfigureAwait(false);
                                }
                            }).ConfigureAwait(false);
                            if (scope != FixAllScope.Document)
                            {
                                break; // project scope covers every document at once
                            }
                        }
                    }
                }
            }

            failures.AddRange(swallowed.Select(e => "swallowed by the fix's guard (no fix offered or applied):\n" + e));
            return new Outcome(failures, diagnostics, actions, fixAlls);
        }
    }

    /// <summary>The operations of <paramref name="action"/>, applied: the changed documents' text is produced.</summary>
    private static async Task ApplyAsync(CodeAction action, Solution solution, CancellationToken cancellationToken)
    {
        foreach (var operation in await action.GetOperationsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (operation is not ApplyChangesOperation apply)
            {
                continue;
            }

            foreach (var projectChanges in apply.ChangedSolution.GetChanges(solution).GetProjectChanges())
            {
                foreach (var id in projectChanges.GetChangedDocuments(onlyGetDocumentsWithTextChanges: true))
                {
                    await projectChanges.NewProject.GetDocument(id)!.GetTextAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    private static async Task<bool> GuardAsync(string what, List<string> failures, Func<Task> run)
    {
        try
        {
            await run().ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failures.Add(what + ":\n" + e);
            return false;
        }
    }

    private static string Describe(Diagnostic diagnostic) =>
        diagnostic.Id + " at " + diagnostic.Location.SourceTree?.FilePath + ":" + (diagnostic.Location.GetLineSpan().StartLinePosition.Line + 1);
}
