using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// Per-analyzer execution time as Roslyn itself accounts it
/// (<see cref="AnalysisResult.AnalyzerTelemetryInfo"/>), the median of a few
/// fresh runs per size, reported as shares and scaling factors rather than raw times.
/// </summary>
internal static class AnalyzerTelemetry
{
    public static string Measure(IReadOnlyList<int> scales, ImmutableArray<DiagnosticAnalyzer> analyzers, int repetitions)
    {
        // analyzer → scale → median execution time.
        var medians = analyzers.ToDictionary(a => a, _ => new Dictionary<int, TimeSpan>());

        // One untimed run first: the smallest size would otherwise also pay for JIT.
        CorpusCompilation.WithAnalyzers(CorpusCompilation.Create(CorpusCompilation.GetTrees(scales[0])), analyzers, logExecutionTime: true)
            .GetAnalysisResultAsync(CancellationToken.None).GetAwaiter().GetResult();
        foreach (int scale in scales)
        {
            var samples = analyzers.ToDictionary(a => a, _ => new List<TimeSpan>());
            var trees = CorpusCompilation.GetTrees(scale);
            for (int i = 0; i < repetitions; i++)
            {
                // The analysis result carries the telemetry of the run that produced it
                // (GetAnalyzerTelemetryInfoAsync after GetAllDiagnosticsAsync reports zero times).
                var compilation = CorpusCompilation.WithAnalyzers(CorpusCompilation.Create(trees), analyzers, logExecutionTime: true);
                var result = compilation.GetAnalysisResultAsync(CancellationToken.None).GetAwaiter().GetResult();
                foreach (var analyzer in analyzers)
                {
                    samples[analyzer].Add(result.AnalyzerTelemetryInfo.TryGetValue(analyzer, out var info) ? info.ExecutionTime : TimeSpan.Zero);
                }
            }

            foreach (var analyzer in analyzers)
            {
                var sorted = samples[analyzer].OrderBy(t => t).ToList();
                medians[analyzer][scale] = sorted[sorted.Count / 2];
            }
        }

        return ToMarkdown(scales, analyzers, medians);
    }

    private static string ToMarkdown(IReadOnlyList<int> scales, ImmutableArray<DiagnosticAnalyzer> analyzers, Dictionary<DiagnosticAnalyzer, Dictionary<int, TimeSpan>> medians)
    {
        int baseScale = scales[0];
        var text = new StringBuilder();
        text.Append("| Analyzer | Share of analyzer time (").Append(baseScale).Append("x)");
        foreach (int scale in scales.Skip(1))
        {
            text.Append(CultureInfo.InvariantCulture, $" | {scale}x / {baseScale}x");
        }

        text.AppendLine(" |");
        text.Append("|---|---:");
        foreach (int unused in scales.Skip(1))
        {
            text.Append("|---:");
        }

        text.AppendLine("|");

        double totalBase = analyzers.Sum(a => medians[a][baseScale].TotalMilliseconds);
        foreach (var analyzer in analyzers)
        {
            double at = medians[analyzer][baseScale].TotalMilliseconds;
            text.Append(CultureInfo.InvariantCulture, $"| {AnalyzerCatalog.Describe(analyzer)} | {Percent(at, totalBase)}");
            foreach (int scale in scales.Skip(1))
            {
                text.Append(" | ").Append(Factor(medians[analyzer][scale].TotalMilliseconds, at));
            }

            text.AppendLine(" |");
        }

        text.Append("| **all analyzers** | 100%");
        foreach (int scale in scales.Skip(1))
        {
            text.Append(" | ").Append(Factor(analyzers.Sum(a => medians[a][scale].TotalMilliseconds), totalBase));
        }

        text.AppendLine(" |");
        return text.ToString();
    }

    public static string Percent(double part, double whole) =>
        whole <= 0 ? "n/a" : (100 * part / whole).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    public static string Factor(double value, double baseline) =>
        baseline <= 0 ? "n/a" : (value / baseline).ToString("0.00", CultureInfo.InvariantCulture);
}
