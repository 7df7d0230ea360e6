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
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Robustness;

/// <summary>
/// Every code fix of the package over half-typed code: the seed ports with the notification and
/// release shapes, each cut at evenly spaced tokens; for every diagnostic a fix provider claims,
/// the provider registers its actions and each action computes its change. A fix that cannot
/// apply offers nothing; none may throw.
/// </summary>
public sealed class HalfTypedCodeFixTests
{
    private const int CutsPerFile = 5;

    private static readonly string[] Files =
    {
        Path.Combine("samples", "Seeds.Before", "Seed002", "memory.cs"),
        Path.Combine("samples", "Seeds.Before", "Seed003", "rmap.cs"),
        Path.Combine("samples", "Seeds.Before", "Seed000", "rmap.cs"),
        Path.Combine("samples", "Seeds.Before", "Seed004", "huge_memory.cs"),
    };

    [Fact]
    public async Task FixesNeverThrowOnCutSeedPorts()
    {
        var failures = new List<string>();
        var common = RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Common"))
            .Select(f => (Path: f, Text: File.ReadAllText(f)))
            .ToList();
        foreach (var file in Files)
        {
            var text = File.ReadAllText(Path.Combine(RepositoryLayout.Root, file));
            var tokens = CSharpSyntaxTree.ParseText(text).GetRoot().DescendantTokens().ToList();
            for (var cut = 1; cut <= CutsPerFile; cut++)
            {
                var token = tokens[tokens.Count * cut / (CutsPerFile + 1)];
                var cutText = text.Remove(token.SpanStart, token.Span.Length);
                await FixEverythingAsync(file + " without '" + token.Text + "' at " + token.SpanStart, cutText, common, failures);
            }
        }

        Assert.True(failures.Count == 0, failures.Count + " code fix exception(s):\n\n" + string.Join("\n\n", failures.Take(5)));
    }

    private static async Task FixEverythingAsync(string name, string text, List<(string Path, string Text)> common, List<string> failures)
    {
        var (workspace, solution, projectId, documents) = AnalysisRunner.CreateProject(
            new[] { ("/0/Cut.cs", text) }.Concat(common),
            Array.Empty<(string, string)>(),
            Array.Empty<(string, string)>(),
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            AnalysisRunner.ParseOptions(LanguageVersion.Latest),
            AnalysisRunner.CompilationOptions(OutputKind.DynamicallyLinkedLibrary, Array.Empty<string>()));
        using (workspace)
        {
            var document = solution.GetDocument(documents[0])!;
            var result = await AnalysisRunner.AnalyzeAsync(solution.GetProject(projectId)!, RepositoryLayout.Analyzers, CancellationToken.None);
            foreach (var diagnostic in result.AnalyzerDiagnostics.Where(d => d.Location.SourceTree?.FilePath == "/0/Cut.cs"))
            {
                foreach (var provider in RepositoryLayout.CodeFixes.Where(p => p.FixableDiagnosticIds.Contains(diagnostic.Id)))
                {
                    var actions = new List<CodeAction>();
                    try
                    {
                        var context = new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None);
                        await provider.RegisterCodeFixesAsync(context);
                        foreach (var action in actions.SelectMany(a => a.NestedActions.IsEmpty ? new[] { a } : a.NestedActions.ToArray()))
                        {
                            await action.GetOperationsAsync(CancellationToken.None);
                        }
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        failures.Add(name + ": " + provider.GetType().Name + " on " + diagnostic.Id + " at " + diagnostic.Location.GetLineSpan().StartLinePosition + ":\n" + e);
                    }
                }
            }
        }
    }
}
