using System.Collections.Generic;
using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// The in-process "build": a fresh compilation of the corpus, diagnosed by the compiler alone
/// (baseline) and by the compiler plus every analyzer of the package. BenchmarkDotNet's Ratio
/// column is the build-time ratio for each size; the size param gives the scaling.
/// </summary>
public class AnalyzerBenchmarks
{
    private ImmutableArray<SyntaxTree> _trees;
    private ImmutableArray<DiagnosticAnalyzer> _analyzers;

    /// <summary>Corpus size as a multiple of <see cref="CorpusCompilation.BaseFiles"/>.</summary>
    [ParamsSource(nameof(Scales))]
    public int Scale { get; set; }

    public static IEnumerable<int> Scales => Program.Scales;

    [GlobalSetup]
    public void Setup()
    {
        _trees = CorpusCompilation.GetTrees(Scale);
        _analyzers = AnalyzerCatalog.Analyzers;
    }

    /// <summary>What <c>csc</c> does for diagnostics: bind and check every method body.</summary>
    [Benchmark(Baseline = true, Description = "Compiler")]
    public int Compiler() => CorpusCompilation.Create(_trees).GetDiagnostics().Length;

    /// <summary>The same compilation, plus every MmuNotifierAnalyzers analyzer (concurrent, as in a build).</summary>
    [Benchmark(Description = "Compiler+Analyzers")]
    public int CompilerAndAnalyzers() => CorpusCompilation.RunAnalyzers(CorpusCompilation.Create(_trees), _analyzers).Length;
}
