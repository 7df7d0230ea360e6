using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>What one analysis run saw.</summary>
public sealed class AnalysisResult
{
    public AnalysisResult(ImmutableArray<Diagnostic> compilerDiagnostics, ImmutableArray<Diagnostic> analyzerDiagnostics, ImmutableArray<string> analyzerExceptions)
    {
        CompilerDiagnostics = compilerDiagnostics;
        AnalyzerDiagnostics = analyzerDiagnostics;
        AnalyzerExceptions = analyzerExceptions;
    }

    public ImmutableArray<Diagnostic> CompilerDiagnostics { get; }

    /// <summary>Diagnostics reported by the analyzers (AD0001-style exception diagnostics excluded).</summary>
    public ImmutableArray<Diagnostic> AnalyzerDiagnostics { get; }

    /// <summary>Every analyzer exception (from the exception callback and from AD0xxx diagnostics).</summary>
    public ImmutableArray<string> AnalyzerExceptions { get; }
}

/// <summary>
/// Builds a project on an <see cref="AdhocWorkspace"/> and runs analyzers through
/// <see cref="CompilationWithAnalyzers"/>, for the tests that loop over many files or cuts of
/// their own (robustness, seed ports, seed fixes) and collect every failure before they assert,
/// where Microsoft.CodeAnalysis.Testing's one-expectation-per-run verifiers do not fit.
/// </summary>
public static class AnalysisRunner
{
    private const string ProjectName = "TestProject";

    public static CSharpParseOptions ParseOptions(LanguageVersion languageVersion) =>
        new(languageVersion, DocumentationMode.Parse);

    public static CSharpCompilationOptions CompilationOptions(OutputKind outputKind, IEnumerable<string> disabledDiagnostics) =>
        new CSharpCompilationOptions(outputKind, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true)
            .WithSpecificDiagnosticOptions(disabledDiagnostics.Select(id => new KeyValuePair<string, ReportDiagnostic>(id, ReportDiagnostic.Suppress)));

    /// <summary>A workspace with one C# project holding the given files (already free of markup).</summary>
    public static (AdhocWorkspace Workspace, Solution Solution, ProjectId ProjectId, ImmutableArray<DocumentId> Documents) CreateProject(
        IEnumerable<(string Path, string Text)> sources,
        IEnumerable<(string Path, string Text)> additionalFiles,
        IEnumerable<(string Path, string Text)> analyzerConfigFiles,
        IEnumerable<MetadataReference> references,
        CSharpParseOptions parseOptions,
        CSharpCompilationOptions compilationOptions)
    {
        var workspace = new AdhocWorkspace();
        var projectId = ProjectId.CreateNewId(ProjectName);
        var solution = workspace.CurrentSolution.AddProject(ProjectInfo.Create(
            projectId,
            VersionStamp.Default,
            ProjectName,
            ProjectName,
            LanguageNames.CSharp,
            filePath: "/0/" + ProjectName + ".csproj",
            compilationOptions: compilationOptions,
            parseOptions: parseOptions,
            metadataReferences: references));

        var documents = ImmutableArray.CreateBuilder<DocumentId>();
        foreach (var (path, text) in sources)
        {
            var id = DocumentId.CreateNewId(projectId, path);
            solution = solution.AddDocument(id, FileName(path), SourceText.From(text), filePath: path);
            documents.Add(id);
        }

        foreach (var (path, text) in additionalFiles)
        {
            solution = solution.AddAdditionalDocument(DocumentId.CreateNewId(projectId, path), FileName(path), SourceText.From(text), filePath: path);
        }

        foreach (var (path, text) in analyzerConfigFiles)
        {
            solution = solution.AddAnalyzerConfigDocument(DocumentId.CreateNewId(projectId, path), FileName(path), SourceText.From(text), filePath: path);
        }

        // The immutable Solution is what the tests analyze and fix; the workspace only hosts
        // the language services (formatter, simplifier) and is disposed by the caller.
        return (workspace, solution, projectId, documents.ToImmutable());
    }

    /// <summary>Compiles the project and runs <paramref name="analyzers"/> over it.</summary>
    public static async Task<AnalysisResult> AnalyzeAsync(Project project, ImmutableArray<DiagnosticAnalyzer> analyzers, CancellationToken cancellationToken)
    {
        var compilation = await project.GetCompilationAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The test project has no compilation.");
        return await AnalyzeAsync(compilation, project.AnalyzerOptions, analyzers, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<AnalysisResult> AnalyzeAsync(Compilation compilation, AnalyzerOptions options, ImmutableArray<DiagnosticAnalyzer> analyzers, CancellationToken cancellationToken)
    {
        var exceptions = new ConcurrentQueue<string>();
        var withAnalyzers = compilation.WithAnalyzers(
            analyzers,
            new CompilationWithAnalyzersOptions(
                options,
                onAnalyzerException: (exception, analyzer, _) => exceptions.Enqueue(analyzer.GetType().Name + " threw " + exception),
                concurrentAnalysis: true,
                logAnalyzerExecutionTime: false,
                reportSuppressedDiagnostics: false));

        var all = await withAnalyzers.GetAnalyzerDiagnosticsAsync(cancellationToken).ConfigureAwait(false);
        var analyzerDiagnostics = ImmutableArray.CreateBuilder<Diagnostic>();
        var exceptionList = exceptions.ToList();
        foreach (var diagnostic in all)
        {
            if (IsAnalyzerExceptionDiagnostic(diagnostic))
            {
                exceptionList.Add(diagnostic.Id + ": " + diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                analyzerDiagnostics.Add(diagnostic);
            }
        }

        var compilerDiagnostics = compilation.GetDiagnostics(cancellationToken);
        return new AnalysisResult(
            compilerDiagnostics,
            Sort(analyzerDiagnostics.ToImmutable()),
            exceptionList.Distinct(StringComparer.Ordinal).ToImmutableArray());
    }

    /// <summary>AD0001 (analyzer threw) and the other AD0xxx host diagnostics.</summary>
    private static bool IsAnalyzerExceptionDiagnostic(Diagnostic diagnostic) =>
        diagnostic.Id.StartsWith("AD0", StringComparison.Ordinal);

    private static ImmutableArray<Diagnostic> Sort(ImmutableArray<Diagnostic> diagnostics) =>
        diagnostics
            .OrderBy(d => d.Location.GetLineSpan().Path, StringComparer.Ordinal)
            .ThenBy(d => d.Location.SourceSpan.Start)
            .ThenBy(d => d.Location.SourceSpan.End)
            .ThenBy(d => d.Id, StringComparer.Ordinal)
            .ToImmutableArray();

    private static string FileName(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash >= 0 ? path.Substring(slash + 1) : path;
    }
}
