using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Build.Locator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.MSBuild;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>
/// What an editor does with the package: open the consumer's solution through
/// MSBuildWorkspace, load the analyzers and code fixes the package brings, compute the
/// diagnostics the editor squiggles in the open document, offer the code actions at each
/// one, and apply one.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class IdeTests(PackageFeed feed)
{
    private const string File = "InvalidatePage.cs";

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    static IdeTests()
    {
        // The workspace evaluates projects with the installed SDK's MSBuild, found once per process.
        if (!MSBuildLocator.IsRegistered)
        {
            MSBuildLocator.RegisterDefaults();
        }
    }

    [Fact]
    public async Task EditorSquigglesOffersTheCodeFixAndAppliesIt()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        var consumer = feed.CreateConsumer("ide").WithFile(File, ConsumerSources.InvalidatePage);
        var solutionPath = WriteSolution(consumer);
        // An editor opens a restored project: design-time builds need project.assets.json.
        var restore = await consumer.RestoreAsync();
        Assert.True(restore.ExitCode == 0, restore.ToString());

        using var workspace = MSBuildWorkspace.Create();
        var solution = await workspace.OpenSolutionAsync(solutionPath, cancellationToken: ct);
        var failures = workspace.Diagnostics.Where(d => d.Kind == WorkspaceDiagnosticKind.Failure).ToList();
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures.Select(f => f.Message)));

        var project = Assert.Single(solution.Projects);
        var document = project.Documents.Single(d => Path.GetFileName(d.FilePath) == File);

        // The analyzers come from the package restore extracted, not from this repository's build.
        var packageDirectory = feed.InstalledPackageDirectory(PackageFeed.AnalyzersPackageId);
        var ours = project.AnalyzerReferences
            .OfType<AnalyzerFileReference>()
            .Where(r => r.FullPath.StartsWith(packageDirectory, StringComparison.Ordinal))
            .ToList();
        Assert.True(
            ours.Count == 2,
            "Expected the analyzer and code-fix assemblies from " + packageDirectory + ", got:" + Environment.NewLine
            + string.Join(Environment.NewLine, project.AnalyzerReferences.Select(r => r.FullPath)));

        var analyzers = ours.SelectMany(r => r.GetAnalyzers(LanguageNames.CSharp)).ToImmutableArray();
        Assert.NotEmpty(analyzers);

        var squiggles = await SquigglesAsync(project, document, analyzers, ct);
        var mmu001 = squiggles.Where(d => d.Id == "MMU001").ToList();
        Assert.True(mmu001.Count == 1, "Squiggles in " + File + ":" + Environment.NewLine + string.Join(Environment.NewLine, squiggles));
        var diagnostic = mmu001[0];
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
        Assert.Equal(
            ConsumerSources.ExpectedLine(ConsumerSources.InvalidatePage, "MMU001"),
            diagnostic.Location.GetLineSpan().StartLinePosition.Line + 1);
        Assert.Equal(
            "https://github.com/mmu-notifier-analyzers/MmuNotifierAnalyzers/blob/main/docs/rules/MMU001.md",
            diagnostic.Descriptor.HelpLinkUri);

        // The light bulb: every code action the package's fixers register at each squiggle.
        var fixers = CodeFixProviders(ours);
        Assert.Contains(fixers, f => f.FixableDiagnosticIds.Contains("MMU001"));
        var offered = new Dictionary<Diagnostic, List<CodeAction>>();
        foreach (var squiggle in squiggles)
        {
            offered[squiggle] = await CodeActionsAsync(document, squiggle, fixers, ct);
        }

        var actions = offered[diagnostic];
        Assert.True(actions.Count > 0, "No code action offered for MMU001.");
        Assert.All(actions, a =>
        {
            Assert.False(string.IsNullOrWhiteSpace(a.Title));
            Assert.False(string.IsNullOrWhiteSpace(a.EquivalenceKey), $"'{a.Title}' has no equivalence key (Fix All needs one).");
        });

        // Apply the first one, as a click on the light bulb's first entry does.
        var operations = await actions[0].GetOperationsAsync(ct);
        var apply = Assert.Single(operations.OfType<ApplyChangesOperation>());
        var fixedDocument = apply.ChangedSolution.GetDocument(document.Id)!;
        var fixedText = (await fixedDocument.GetTextAsync(ct)).ToString();
        Assert.DoesNotContain("mmu_notifier_invalidate_page(", fixedText, StringComparison.Ordinal);
        Assert.Contains("mmu_notifier_invalidate_range_start(", fixedText, StringComparison.Ordinal);
        Assert.Contains("mmu_notifier_invalidate_range_end(", fixedText, StringComparison.Ordinal);
        Assert.Contains("// ... write-protect and clean the pte ...", fixedText, StringComparison.Ordinal);

        var fixedCompilation = (await fixedDocument.Project.GetCompilationAsync(ct))!;
        var errors = fixedCompilation.GetDiagnostics(ct).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors) + Environment.NewLine + fixedText);
        var after = await SquigglesAsync(fixedDocument.Project, fixedDocument, analyzers, ct);
        Assert.True(after.Count == 0, "Still squiggled after the fix:" + Environment.NewLine
            + string.Join(Environment.NewLine, after) + Environment.NewLine + fixedText);

        // And the edit reaches the file on disk, as the editor's apply does.
        Assert.True(workspace.TryApplyChanges(apply.ChangedSolution), "The workspace refused the change.");
        Assert.Equal(fixedText, await System.IO.File.ReadAllTextAsync(consumer.PathOf(File), ct));
    }

    /// <summary>The diagnostics an editor shows for the open document: the analyzers' syntax
    /// and semantic diagnostics for that document alone (no compilation-end pass, which only
    /// full-solution analysis runs), with the project's options (.editorconfig severities).</summary>
    private static async Task<List<Diagnostic>> SquigglesAsync(
        Project project, Document document, ImmutableArray<DiagnosticAnalyzer> analyzers, CancellationToken ct)
    {
        var compilation = (await project.GetCompilationAsync(ct))!;
        var tree = (await document.GetSyntaxTreeAsync(ct))!;
        var exceptions = new List<string>();
        var options = new CompilationWithAnalyzersOptions(
            project.AnalyzerOptions,
            onAnalyzerException: (e, a, _) => { lock (exceptions) { exceptions.Add($"{a}: {e}"); } },
            concurrentAnalysis: false,
            logAnalyzerExecutionTime: false,
            reportSuppressedDiagnostics: false);
        var withAnalyzers = compilation.WithAnalyzers(analyzers, options);

        var syntax = await withAnalyzers.GetAnalyzerSyntaxDiagnosticsAsync(tree, ct);
        var semantic = await withAnalyzers.GetAnalyzerSemanticDiagnosticsAsync(compilation.GetSemanticModel(tree), filterSpan: null, ct);
        Assert.True(exceptions.Count == 0, "An analyzer threw:" + Environment.NewLine + string.Join(Environment.NewLine, exceptions));

        return syntax.Concat(semantic)
            .Where(d => d.Severity >= DiagnosticSeverity.Info && !d.IsSuppressed)
            .Where(d => d.Id.StartsWith("MMU", StringComparison.Ordinal) || d.Id == "AD0001")
            .OrderBy(d => d.Location.SourceSpan.Start)
            .ToList();
    }

    private static List<CodeFixProvider> CodeFixProviders(IEnumerable<AnalyzerFileReference> references) =>
        references
            .Select(r => r.GetAssembly())
            .SelectMany(a => a.GetTypes())
            .Where(t => !t.IsAbstract
                && typeof(CodeFixProvider).IsAssignableFrom(t)
                && t.GetCustomAttributes<ExportCodeFixProviderAttribute>().Any(e => e.Languages.Contains(LanguageNames.CSharp)))
            .Select(t => (CodeFixProvider)Activator.CreateInstance(t)!)
            .ToList();

    private static async Task<List<CodeAction>> CodeActionsAsync(
        Document document, Diagnostic diagnostic, IEnumerable<CodeFixProvider> fixers, CancellationToken ct)
    {
        var actions = new List<CodeAction>();
        foreach (var fixer in fixers.Where(f => f.FixableDiagnosticIds.Contains(diagnostic.Id)))
        {
            var context = new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), ct);
            await fixer.RegisterCodeFixesAsync(context);
        }

        return actions;
    }

    private static string WriteSolution(Consumer consumer)
    {
        var projectGuid = Guid.NewGuid().ToString("B").ToUpperInvariant();
        var path = consumer.PathOf("Consumer.sln");
        System.IO.File.WriteAllText(path, $$"""
            Microsoft Visual Studio Solution File, Format Version 12.00
            # Visual Studio Version 17
            VisualStudioVersion = 17.0.31903.59
            MinimumVisualStudioVersion = 10.0.40219.1
            Project("{FAE04EC0-301F-11D3-BF4B-00C04F79EFBC}") = "{{Consumer.ProjectName}}", "{{Consumer.ProjectName}}.csproj", "{{projectGuid}}"
            EndProject
            Global
            	GlobalSection(SolutionConfigurationPlatforms) = preSolution
            		Debug|Any CPU = Debug|Any CPU
            	EndGlobalSection
            	GlobalSection(ProjectConfigurationPlatforms) = postSolution
            		{{projectGuid}}.Debug|Any CPU.ActiveCfg = Debug|Any CPU
            		{{projectGuid}}.Debug|Any CPU.Build.0 = Debug|Any CPU
            	EndGlobalSection
            EndGlobal
            """);
        return path;
    }
}
