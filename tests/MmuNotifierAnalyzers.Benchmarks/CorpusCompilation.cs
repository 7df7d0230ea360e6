using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using MmuNotifierAnalyzers.Benchmarks.Corpus;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// Turns a generated corpus into Roslyn compilations the way a build would see it: the
/// framework's own assemblies (offline, from this process), <c>Kernel.Mm</c> and the annotations.
/// </summary>
internal static class CorpusCompilation
{
    /// <summary>The base number of files; sizes are multiples of it (1x, 2x, 4x).</summary>
    public static int BaseFiles { get; set; } = 100;

    private static readonly ConcurrentDictionary<int, GeneratedCorpus> Corpora = new();
    private static readonly ConcurrentDictionary<int, ImmutableArray<SyntaxTree>> Trees = new();

    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.Latest);

    public static CSharpCompilationOptions Options { get; } = new CSharpCompilationOptions(
            OutputKind.DynamicallyLinkedLibrary,
            optimizationLevel: OptimizationLevel.Release,
            nullableContextOptions: NullableContextOptions.Enable,
            deterministic: true,
            concurrentBuild: true)
        // Kernel names on purpose, as in the kernel-named projects of the repo.
        .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic> { ["CS8981"] = ReportDiagnostic.Suppress });

    public static ImmutableArray<MetadataReference> References { get; } = LoadReferences();

    public static GeneratedCorpus GetCorpus(int scale) =>
        Corpora.GetOrAdd(scale, s => CorpusGenerator.Generate(BaseFiles * s));

    /// <summary>Parsed once per size: parsing costs the same with or without analyzers, and a
    /// fresh compilation over the same trees still binds everything again.</summary>
    public static ImmutableArray<SyntaxTree> GetTrees(int scale) =>
        Trees.GetOrAdd(scale, s => Parse(GetCorpus(s)));

    public static ImmutableArray<SyntaxTree> Parse(GeneratedCorpus corpus) =>
        corpus.Files
            .Select(f => CSharpSyntaxTree.ParseText(SourceText.From(f.Text, Encoding.UTF8), ParseOptions, f.Path))
            .ToImmutableArray();

    public static CSharpCompilation Create(ImmutableArray<SyntaxTree> trees) =>
        CSharpCompilation.Create("Corpus.Mm", trees, References, Options);

    public static CompilationWithAnalyzers WithAnalyzers(
        Compilation compilation,
        ImmutableArray<DiagnosticAnalyzer> analyzers,
        bool logExecutionTime,
        Action<Exception, DiagnosticAnalyzer, Diagnostic>? onAnalyzerException = null)
    {
        var options = new CompilationWithAnalyzersOptions(
            new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty),
            onAnalyzerException,
            concurrentAnalysis: true,
            logAnalyzerExecutionTime: logExecutionTime,
            reportSuppressedDiagnostics: false);
        return compilation.WithAnalyzers(analyzers, options);
    }

    public static ImmutableArray<Diagnostic> RunAnalyzers(Compilation compilation, ImmutableArray<DiagnosticAnalyzer> analyzers) =>
        WithAnalyzers(compilation, analyzers, logExecutionTime: false)
            .GetAllDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult();

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // The shared framework this process runs on: implementation assemblies compile
        // fine and need no reference pack, so the benchmark runs offline.
        string frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        string tpa = AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? string.Empty;
        var paths = tpa.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(p => string.Equals(Path.GetDirectoryName(p), frameworkDir, StringComparison.Ordinal))
            .Where(p => IsManagedAssembly(p))
            .ToList();
        paths.Add(typeof(Kernel.Mm.Linux).Assembly.Location);
        paths.Add(typeof(MmuNotifierAnalyzers.Annotations.MaySleepAttribute).Assembly.Location);
        return paths
            .Distinct(StringComparer.Ordinal)
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
    }

    private static bool IsManagedAssembly(string path)
    {
        try
        {
            System.Reflection.AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }
}
