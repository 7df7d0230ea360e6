using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// The same two operations as <see cref="AnalyzerBenchmarks"/>, measured in pairs that
/// alternate (A B, B A, ...): on a shared, noisy machine the load drifts between
/// BenchmarkDotNet's consecutive cases, while a pair sees the same load, so the median of the
/// per-pair ratios is the steadier build-time ratio.
/// </summary>
internal static class PairedRatio
{
    public static string Measure(IReadOnlyList<int> scales, ImmutableArray<DiagnosticAnalyzer> analyzers, int pairs)
    {
        var compilerMedians = new Dictionary<int, double>();
        var analyzedMedians = new Dictionary<int, double>();
        var rows = new StringBuilder();
        foreach (int scale in scales)
        {
            // Trees parsed afresh for every operation, outside the timer, as a build parses them.
            var corpus = CorpusCompilation.GetCorpus(scale);
            double Compiler() => Time(CorpusCompilation.Parse(corpus), trees => CorpusCompilation.Create(trees).GetDiagnostics());
            double Analyzed() => Time(CorpusCompilation.Parse(corpus), trees => CorpusCompilation.RunAnalyzers(CorpusCompilation.Create(trees), analyzers));

            Compiler();
            Analyzed();
            var compiler = new List<double>();
            var analyzed = new List<double>();
            var ratios = new List<double>();
            for (int i = 0; i < pairs; i++)
            {
                double a, b;
                if (i % 2 == 0)
                {
                    a = Compiler();
                    b = Analyzed();
                }
                else
                {
                    b = Analyzed();
                    a = Compiler();
                }

                compiler.Add(a);
                analyzed.Add(b);
                ratios.Add(b / a);
            }

            compilerMedians[scale] = Median(compiler);
            analyzedMedians[scale] = Median(analyzed);
            rows.AppendLine(CultureInfo.InvariantCulture, $"| {scale}x | **{Median(ratios):0.00}** | {ratios.Min():0.00} – {ratios.Max():0.00} | {AnalyzerTelemetry.Factor(compilerMedians[scale], compilerMedians[scales[0]])} | {AnalyzerTelemetry.Factor(analyzedMedians[scale], analyzedMedians[scales[0]])} | {AnalyzerTelemetry.Factor(analyzedMedians[scale] - compilerMedians[scale], analyzedMedians[scales[0]] - compilerMedians[scales[0]])} |");
        }

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{pairs} alternating pairs per size after one warm-up each; medians. Scaling columns: time at that size / time at {scales[0]}x (linear: 2x → 2.00, 4x → 4.00).");
        text.AppendLine();
        text.AppendLine("| Size | Build-time ratio (median of pairs) | Ratio range | Compiler scaling | Compiler+Analyzers scaling | Analyzer overhead scaling |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|");
        text.Append(rows);
        return text.ToString();
    }

    // PhaseProfile.Time starts each operation from a clean heap, so one pays no collection for the other's garbage.
    private static double Time(ImmutableArray<SyntaxTree> trees, Action<ImmutableArray<SyntaxTree>> action) =>
        PhaseProfile.Time(() => action(trees)).Ms;

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
