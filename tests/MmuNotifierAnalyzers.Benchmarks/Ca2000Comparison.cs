using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Benchmarks.Corpus;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// Issue #11's peer comparison: our analyzers on the notifier dialect of <see cref="SameShapeCorpusGenerator"/>
/// against CA2000 (Microsoft.CodeAnalysis.NetAnalyzers, the dispose-on-every-path dataflow) on its
/// <see cref="IDisposable"/> dialect: the same methods, the same control-flow graphs. Per method: the
/// analyzers' own time (Roslyn telemetry), the extra time and allocations of a full analysis over the
/// compiler's, and what each reports against what was planted.
/// </summary>
internal static class Ca2000Comparison
{
    private const string Ca2000 = "CA2000";

    public static string Measure(IReadOnlyList<int> scales, int files, ImmutableArray<DiagnosticAnalyzer> ours, int rounds)
    {
        var ca2000 = LoadCa2000();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"CA2000 from Microsoft.CodeAnalysis.NetAnalyzers {typeof(Ca2000Comparison).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "NetAnalyzersVersion").Value} ({string.Join(", ", ca2000.Select(a => a.GetType().Name))}), enabled as a warning; ours: every analyzer of MmuNotifierAnalyzers. {rounds} rounds per size in rotating order; medians.");
        text.AppendLine();
        var perMethod = new Dictionary<int, (double Ours, double Theirs)>();
        foreach (int scale in new[] { scales.Min(), scales.Max() }.Distinct())
        {
            var notifier = SameShapeCorpusGenerator.Generate(files * scale, SameShapeCorpusGenerator.Dialect.Notifier);
            var disposable = SameShapeCorpusGenerator.Generate(files * scale, SameShapeCorpusGenerator.Dialect.Disposable);
            var oursSide = Side.Create("ours (MMU…, notifier dialect)", notifier, ours, CorpusCompilation.Options, "MMU");
            var theirSide = Side.Create("CA2000 (IDisposable dialect)", disposable, ca2000,
                CorpusCompilation.Options.WithSpecificDiagnosticOptions(CorpusCompilation.Options.SpecificDiagnosticOptions.SetItem(Ca2000, ReportDiagnostic.Warn)), Ca2000);
            var sides = new[] { oursSide, theirSide };
            foreach (var side in sides)
            {
                side.Warm();
            }

            for (int round = 0; round < rounds; round++)
            {
                for (int k = 0; k < sides.Length; k++)
                {
                    sides[(k + round) % sides.Length].Round();
                }
            }

            text.AppendLine(CultureInfo.InvariantCulture, $"### {scale}x: {notifier.Functions} methods in {files * scale} files, {notifier.Defects.Count} planted missing closes");
            text.AppendLine();
            text.AppendLine("| | " + oursSide.Name + " | " + theirSide.Name + " |");
            text.AppendLine("|---|---:|---:|");
            text.AppendLine(CultureInfo.InvariantCulture, $"| analyzer time per method, µs (Roslyn telemetry) | {oursSide.AnalyzerMicrosPerMethod:0} | {theirSide.AnalyzerMicrosPerMethod:0} |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| compile + analyze / compile alone (in-process, per-round pairs) | {oursSide.TimeRatio:0.00} | {theirSide.TimeRatio:0.00} |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| extra allocations per method, KB | {oursSide.ExtraKilobytesPerMethod:0.0} | {theirSide.ExtraKilobytesPerMethod:0.0} |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| extra allocations / the compiler's | {oursSide.ExtraAllocationRatio:0.00} | {theirSide.ExtraAllocationRatio:0.00} |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| planted defects found | {oursSide.Found}/{oursSide.Planted} | {theirSide.Found}/{theirSide.Planted} |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| false findings (methods with no planted defect) | {oursSide.False} | {theirSide.False} |");
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"Ours / CA2000, analyzer time per method: **{oursSide.AnalyzerMicrosPerMethod / theirSide.AnalyzerMicrosPerMethod:0.000}** (goal ≤ 0.100).");
            text.AppendLine();
            text.AppendLine("Ours, per analyzer (µs per method, median of the rounds): " + oursSide.PerAnalyzer());
            text.AppendLine();
            perMethod[scale] = (oursSide.AnalyzerMicrosPerMethod * notifier.Functions, theirSide.AnalyzerMicrosPerMethod * disposable.Functions);
        }

        if (perMethod.Count == 2)
        {
            int small = perMethod.Keys.Min();
            int large = perMethod.Keys.Max();
            text.AppendLine(CultureInfo.InvariantCulture, $"Growth of total analyzer time from {small}x to {large}x ({large / small}x the methods; goal ≤ {large / (double)small * 1.1:0.0}): ours {perMethod[large].Ours / perMethod[small].Ours:0.00}, CA2000 {perMethod[large].Theirs / perMethod[small].Theirs:0.00}.");
        }

        return text.ToString();
    }

    private static ImmutableArray<DiagnosticAnalyzer> LoadCa2000()
    {
        string directory = typeof(Ca2000Comparison).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "NetAnalyzersDirectory").Value!;
        var loader = new LoadFromLoader();
        return Directory.EnumerateFiles(directory, "*.dll")
            .OrderBy(p => p, StringComparer.Ordinal)
            .SelectMany(p => new AnalyzerFileReference(p, loader).GetAnalyzers(LanguageNames.CSharp))
            .Where(a => a.SupportedDiagnostics.Any(d => d.Id == Ca2000))
            .ToImmutableArray() is { Length: > 0 } found
                ? found
                : throw new InvalidOperationException("no analyzer for " + Ca2000 + " in " + directory);
    }

    private sealed class LoadFromLoader : IAnalyzerAssemblyLoader
    {
        public void AddDependencyLocation(string fullPath)
        {
        }

        public Assembly LoadFromPath(string fullPath) => Assembly.LoadFrom(fullPath);
    }

    /// <summary>One dialect with its analyzers: its compilations, timings and findings.</summary>
    private sealed class Side
    {
        private readonly ImmutableArray<SyntaxTree> _trees;
        private readonly ImmutableArray<DiagnosticAnalyzer> _analyzers;
        private readonly CSharpCompilationOptions _options;
        private readonly int _methods;
        private readonly List<double> _ratios = new();
        private readonly List<double> _extraBytes = new();
        private readonly List<double> _compilerBytes = new();
        private readonly List<double> _analyzerMicros = new();
        private readonly Dictionary<DiagnosticAnalyzer, List<double>> _perAnalyzerMicros = new();

        private Side(string name, GeneratedCorpus corpus, ImmutableArray<DiagnosticAnalyzer> analyzers, CSharpCompilationOptions options, string idPrefix)
        {
            Name = name;
            _trees = CorpusCompilation.Parse(corpus);
            _analyzers = analyzers;
            _options = options;
            _methods = corpus.Functions;
            Planted = corpus.Defects.Count;
            var compilation = Compile();
            var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            if (errors.Count > 0)
            {
                throw new InvalidOperationException(name + ": the corpus does not compile: " + errors[0]);
            }

            var planted = corpus.Defects.Select(d => (d.Path, d.Member)).ToHashSet();
            var flagged = CorpusCompilation.RunAnalyzers(compilation, analyzers)
                .Where(d => d.Id.StartsWith(idPrefix, StringComparison.Ordinal))
                .Select(d => (d.Location.SourceTree!.FilePath, Member(d)))
                .ToHashSet();
            Found = flagged.Count(planted.Contains);
            False = flagged.Count(m => !planted.Contains(m));
        }

        public string Name { get; }

        public int Planted { get; }

        public int Found { get; }

        public int False { get; }

        public double TimeRatio => PhaseProfile.Median(_ratios);

        public double ExtraKilobytesPerMethod => PhaseProfile.Median(_extraBytes) / _methods / 1024;

        public double ExtraAllocationRatio => PhaseProfile.Median(_extraBytes) / PhaseProfile.Median(_compilerBytes);

        public double AnalyzerMicrosPerMethod => PhaseProfile.Median(_analyzerMicros) / _methods;

        /// <summary>Which analyzers the time goes to, largest first, those of at least 1 %.</summary>
        public string PerAnalyzer()
        {
            var medians = _perAnalyzerMicros.ToDictionary(p => p.Key, p => PhaseProfile.Median(p.Value) / _methods);
            double all = medians.Values.Sum();
            return string.Join(", ", medians
                .Where(p => all > 0 && p.Value / all >= 0.01)
                .OrderByDescending(p => p.Value)
                .Select(p => string.Create(CultureInfo.InvariantCulture, $"{AnalyzerCatalog.Describe(p.Key)} {p.Value:0} ({AnalyzerTelemetry.Percent(p.Value, all)})")));
        }

        public static Side Create(string name, GeneratedCorpus corpus, ImmutableArray<DiagnosticAnalyzer> analyzers, CSharpCompilationOptions options, string idPrefix) =>
            new(name, corpus, analyzers, options, idPrefix);

        public void Warm()
        {
            Compile().GetDiagnostics();
            CorpusCompilation.RunAnalyzers(Compile(), _analyzers);
        }

        /// <summary>A pair (compiler alone, compiler and analyzers) back to back, then Roslyn's accounting of one more run.</summary>
        public void Round()
        {
            var (compilerMs, compilerBytes) = PhaseProfile.Time(() => Compile().GetDiagnostics());
            var (withMs, withBytes) = PhaseProfile.Time(() => CorpusCompilation.RunAnalyzers(Compile(), _analyzers));
            _ratios.Add(withMs / compilerMs);
            _compilerBytes.Add(compilerBytes);
            _extraBytes.Add(withBytes - compilerBytes);
            var result = CorpusCompilation.WithAnalyzers(Compile(), _analyzers, logExecutionTime: true)
                .GetAnalysisResultAsync(CancellationToken.None).GetAwaiter().GetResult();
            _analyzerMicros.Add(result.AnalyzerTelemetryInfo.Values.Sum(t => t.ExecutionTime.TotalMilliseconds) * 1000);
            foreach (var (analyzer, info) in result.AnalyzerTelemetryInfo)
            {
                if (!_perAnalyzerMicros.TryGetValue(analyzer, out var samples))
                {
                    samples = new List<double>();
                    _perAnalyzerMicros[analyzer] = samples;
                }

                samples.Add(info.ExecutionTime.TotalMilliseconds * 1000);
            }
        }

        private CSharpCompilation Compile() =>
            CSharpCompilation.Create("Shapes", _trees, CorpusCompilation.References, _options);

        private static string Member(Diagnostic diagnostic)
        {
            var node = diagnostic.Location.SourceTree!.GetRoot().FindNode(diagnostic.Location.SourceSpan);
            return node.AncestorsAndSelf().OfType<MethodDeclarationSyntax>().FirstOrDefault()?.Identifier.ValueText ?? string.Empty;
        }
    }
}
