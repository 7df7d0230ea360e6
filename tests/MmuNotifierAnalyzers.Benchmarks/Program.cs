using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Microsoft.CodeAnalysis.CSharp;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// The analyzer benchmark. One run measures everything (see RESULTS.md):
/// a sanity check of the corpus (what fires, per rule), the in-process build-time ratio and
/// scaling (BenchmarkDotNet, sizes 1x/2x/4x), per-analyzer time shares and scaling (Roslyn
/// telemetry), and optionally the ratio of real <c>dotnet build</c>s.
/// </summary>
public static class Program
{
    private const string Usage = """
        usage: dotnet run -c Release --project tests/MmuNotifierAnalyzers.Benchmarks -- [options]
          --quick              BenchmarkDotNet ShortRun (3 warm-ups, 3 iterations): a few minutes on 2 cores
          --dry                BenchmarkDotNet Dry job (1 iteration): a smoke test, numbers not meaningful
          --files N            files in the 1x corpus (default 100)
          --scales 1,2,4       corpus sizes, as multiples of --files (default 1,2,4)
          --check-only         only the corpus sanity check
          --no-bdn             skip BenchmarkDotNet (sanity check + telemetry only)
          --pairs N            alternating compiler / compiler+analyzers pairs per size (default 6; 0 = skip)
          --telemetry-reps N   fresh runs per size for the per-analyzer times (default 3)
          --dotnet-build N     also time N interleaved real `dotnet build`s with and without analyzers
          --phases N           where the time goes: do-nothing analyzers, ours, and the flow core's phases, N rounds at the largest size
          --loop N             only run our analyzers N times at the largest size (a workload for dotnet-trace)
          --editor N           only the one-document editor measurement (N edits) at the largest size
          --ordinary           with --loop: the ordinary-code corpus instead of the kernel corpus; with --phases: only the ordinary-code table
          --same-shape         with --loop or --loop-flow: the notifier dialect of the --ca2000 corpus instead of the kernel corpus
          --loop-flow N        only run the flow walk over every body N times (the core alone, for dotnet-trace)
          --ca2000 N           only the peer comparison: ours vs CA2000 on the same shapes, N rounds at the smallest and largest size
          --out FILE           write the results as markdown (default <artifacts>/results.md)
          --artifacts DIR      BenchmarkDotNet artifacts (default $MMU_ARTIFACTS/bench or /tmp/mmu-bench)
        """;

    /// <summary>The corpus sizes BenchmarkDotNet's [ParamsSource] reads (same process: in-process toolchain).</summary>
    public static IReadOnlyList<int> Scales { get; private set; } = new[] { 1, 2, 4 };

    public static int Main(string[] args)
    {
        var options = ParseArguments(args);
        if (options is null)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        CorpusCompilation.BaseFiles = options.Files;
        Scales = options.Scales;
        var analyzers = AnalyzerCatalog.Analyzers;

        // Workloads to run under a profiler: no sanity check first, so the trace holds the workload alone.
        if (options.LoopFlow > 0)
        {
            PhaseProfile.LoopFlow(Scales.Max(), options.LoopFlow, options.SameShape);
            return 0;
        }

        if (options.Loop > 0)
        {
            PhaseProfile.Loop(Scales.Max(), analyzers, options.Loop, options.Ordinary, options.SameShape);
            return 0;
        }

        var report = new StringBuilder();
        report.AppendLine("## Run");
        report.AppendLine();
        report.AppendLine("- Command: `dotnet run -c Release --project tests/MmuNotifierAnalyzers.Benchmarks -- " + string.Join(' ', args) + "`");
        report.AppendLine("- Date: " + DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
        report.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, Roslyn {typeof(CSharpCompilation).Assembly.GetName().Version}");
        report.AppendLine(CultureInfo.InvariantCulture, $"- Analyzers found by reflection in {AnalyzerCatalog.AnalyzerAssembly.GetName().Name}: {analyzers.Length}: {string.Join(", ", analyzers.Select(AnalyzerCatalog.Describe))}");
        report.AppendLine();
        Flush(report, options);

        // 1. The corpus must compile and fire what was planted, or the numbers mean nothing.
        report.AppendLine("## Corpus sanity check");
        report.AppendLine();
        bool compiles = true;
        foreach (int scale in Scales)
        {
            var check = SanityCheck.Run(scale, analyzers);
            compiles &= check.CompilesCleanly;
            report.AppendLine(check.ToMarkdown());
            Flush(report, options);
        }

        if (!compiles)
        {
            Console.WriteLine(report.ToString());
            Console.Error.WriteLine("The generated corpus does not compile against Kernel.Mm: nothing to measure.");
            return 1;
        }

        if (options.Ca2000Rounds > 0)
        {
            report.AppendLine("## Against CA2000, the same shapes");
            report.AppendLine();
            report.AppendLine(Ca2000Comparison.Measure(Scales, CorpusCompilation.BaseFiles, analyzers, options.Ca2000Rounds));
            Flush(report, options);
            Console.WriteLine(report.ToString());
            return 0;
        }

        if (options.EditorRounds > 0)
        {
            Console.WriteLine(PhaseProfile.MeasureEditor(Scales.Max(), analyzers, options.EditorRounds));
            return 0;
        }

        if (options.CheckOnly)
        {
            Console.WriteLine(report.ToString());
            return 0;
        }

        if (options.PhaseRounds > 0)
        {
            // With --ordinary, the ordinary-code table alone.
            if (!options.Ordinary)
            {
                report.AppendLine("## Where the time goes");
                report.AppendLine();
                report.AppendLine(PhaseProfile.Measure(Scales.Max(), analyzers, options.PhaseRounds));
                Flush(report, options);
            }

            report.AppendLine("## Ordinary code");
            report.AppendLine();
            report.AppendLine(PhaseProfile.MeasureOrdinary(CorpusCompilation.BaseFiles * Scales.Max(), analyzers, options.PhaseRounds));
            Flush(report, options);
            if (options.Ordinary)
            {
                Console.WriteLine(report.ToString());
                return 0;
            }

            report.AppendLine("## One document in the editor");
            report.AppendLine();
            report.AppendLine(PhaseProfile.MeasureEditor(Scales.Max(), analyzers, options.PhaseRounds));
            Flush(report, options);
        }

        // 2. In-process build: compiler alone vs compiler + analyzers, per size.
        if (!options.NoBenchmarkDotNet)
        {
            var summary = BenchmarkRunner.Run<AnalyzerBenchmarks>(CreateConfig(options));
            report.AppendLine("## In-process build (BenchmarkDotNet)");
            report.AppendLine();
            report.AppendLine("Each operation compiles the corpus afresh (`CSharpCompilation.GetDiagnostics()`, baseline) or does the same plus");
            report.AppendLine("every analyzer (`CompilationWithAnalyzers.GetAllDiagnosticsAsync()`). Ratio = build-time ratio at that size.");
            report.AppendLine();
            report.AppendLine(ReadBenchmarkTable(summary));
            report.AppendLine(ScalingTable(summary));
            Flush(report, options);
        }

        // 3. The same ratio from alternating pairs: steadier when the machine's load drifts.
        if (options.Pairs > 0)
        {
            report.AppendLine("## In-process build, alternating pairs");
            report.AppendLine();
            report.AppendLine(PairedRatio.Measure(Scales, analyzers, options.Pairs));
            Flush(report, options);
        }

        // 4. Which analyzer the time goes to, and how each scales.
        if (analyzers.Length > 0)
        {
            report.AppendLine("## Per-analyzer time (Roslyn telemetry)");
            report.AppendLine();
            report.AppendLine(CultureInfo.InvariantCulture, $"`AnalysisResult.AnalyzerTelemetryInfo[analyzer].ExecutionTime` (`logAnalyzerExecutionTime: true`), median of {options.TelemetryRepetitions} fresh runs per size (concurrent analysis, so times are summed over threads).");
            report.AppendLine();
            report.AppendLine(AnalyzerTelemetry.Measure(Scales, analyzers, options.TelemetryRepetitions));
            Flush(report, options);
        }

        // 5. Optionally, the real thing.
        if (options.DotnetBuildRepetitions > 0)
        {
            report.AppendLine("## Real `dotnet build`");
            report.AppendLine();
            report.AppendLine(DotnetBuildBenchmark.Measure(Scales.Max(), options.DotnetBuildRepetitions, Path.Combine(options.Artifacts, "dotnet-build")));
            Flush(report, options);
        }

        Console.WriteLine();
        Console.WriteLine(report.ToString());
        Console.WriteLine("Results written to " + options.Out);
        return 0;
    }

    private static IConfig CreateConfig(Options options)
    {
        // In process: the generated benchmark project of the default toolchain would be built
        // outside this repo's Directory.Build.props (MMU_ARTIFACTS), and the corpus sizes are
        // set from the command line in this process.
        var baseJob = options.Dry ? Job.Dry : options.Quick ? Job.ShortRun : Job.Default;
        var job = baseJob
            .WithToolchain(new InProcessEmitToolchain(TimeSpan.FromMinutes(30), logOutput: true))
            .WithId(options.Dry ? "Dry" : options.Quick ? "ShortRun" : "Default");
        return ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddLogger(ConsoleLogger.Default)
            .AddExporter(MarkdownExporter.GitHub)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithArtifactsPath(options.Artifacts)
            .WithOption(ConfigOptions.DisableLogFile, false);
    }

    private static string ReadBenchmarkTable(Summary summary)
    {
        string path = Path.Combine(summary.ResultsDirectoryPath, summary.Title + "-report-github.md");
        if (!File.Exists(path))
        {
            path = Directory.GetFiles(summary.ResultsDirectoryPath, "*-report-github.md").FirstOrDefault() ?? path;
        }

        return File.Exists(path) ? File.ReadAllText(path) : "(BenchmarkDotNet wrote no markdown table)";
    }

    /// <summary>Scaling factors from the same BenchmarkDotNet run: larger corpus mean / 1x mean.</summary>
    private static string ScalingTable(Summary summary)
    {
        var means = new Dictionary<(string Method, int Scale), double>();
        foreach (var benchmark in summary.Reports.Where(r => r.ResultStatistics is not null))
        {
            string method = benchmark.BenchmarkCase.Descriptor.WorkloadMethod.Name;
            int scale = (int)benchmark.BenchmarkCase.Parameters["Scale"];
            means[(method, scale)] = benchmark.ResultStatistics!.Mean;
        }

        int baseScale = Scales[0];
        string compiler = nameof(AnalyzerBenchmarks.Compiler);
        string analyzed = nameof(AnalyzerBenchmarks.CompilerAndAnalyzers);
        double Overhead(int scale) => means[(analyzed, scale)] - means[(compiler, scale)];
        if (!Scales.All(s => means.ContainsKey((compiler, s)) && means.ContainsKey((analyzed, s))))
        {
            return "(some benchmark cases failed: no scaling table)";
        }

        var text = new StringBuilder();
        text.AppendLine("Ratios and scaling from the means above (linear scaling: 2x → 2.00, 4x → 4.00):");
        text.AppendLine();
        text.Append("| Measure");
        foreach (int scale in Scales)
        {
            text.Append(CultureInfo.InvariantCulture, $" | {scale}x");
        }

        text.AppendLine(" |");
        text.Append("|---");
        foreach (int unused in Scales)
        {
            text.Append("|---:");
        }

        text.AppendLine("|");
        Row(text, "Build-time ratio (Compiler+Analyzers / Compiler)", s => AnalyzerTelemetry.Factor(means[(analyzed, s)], means[(compiler, s)]));
        Row(text, $"Compiler time / {baseScale}x", s => AnalyzerTelemetry.Factor(means[(compiler, s)], means[(compiler, baseScale)]));
        Row(text, $"Compiler+Analyzers time / {baseScale}x", s => AnalyzerTelemetry.Factor(means[(analyzed, s)], means[(analyzed, baseScale)]));
        Row(text, $"Analyzer overhead (difference of means) / {baseScale}x", s => AnalyzerTelemetry.Factor(Overhead(s), Overhead(baseScale)));
        return text.ToString();
    }

    private static void Row(StringBuilder text, string title, Func<int, string> cell)
    {
        text.Append("| ").Append(title);
        foreach (int scale in Scales)
        {
            text.Append(" | ").Append(cell(scale));
        }

        text.AppendLine(" |");
    }

    private static void Flush(StringBuilder report, Options options)
    {
        // Written after every section, so a run stopped half-way still leaves its figures.
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.Out))!);
        File.WriteAllText(options.Out, report.ToString());
    }

    private static Options? ParseArguments(string[] args)
    {
        string artifactsRoot = Environment.GetEnvironmentVariable("MMU_ARTIFACTS") is { Length: > 0 } root
            ? Path.Combine(root, "bench")
            : Path.Combine(Path.GetTempPath(), "mmu-bench");
        var options = new Options { Artifacts = artifactsRoot };
        string? output = null;
        for (int i = 0; i < args.Length; i++)
        {
            string? Value() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--quick":
                    options.Quick = true;
                    break;
                case "--dry":
                    options.Dry = true;
                    break;
                case "--check-only":
                    options.CheckOnly = true;
                    break;
                case "--no-bdn":
                    options.NoBenchmarkDotNet = true;
                    break;
                case "--files" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int files) && files > 0:
                    options.Files = files;
                    break;
                case "--telemetry-reps" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int reps) && reps > 0:
                    options.TelemetryRepetitions = reps;
                    break;
                case "--pairs" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int pairs) && pairs >= 0:
                    options.Pairs = pairs;
                    break;
                case "--dotnet-build" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int builds) && builds > 0:
                    options.DotnetBuildRepetitions = builds;
                    break;
                case "--scales" when Value() is { } list:
                    var scales = list.Split(',').Select(s => int.TryParse(s, CultureInfo.InvariantCulture, out int v) ? v : 0).ToArray();
                    if (scales.Length == 0 || scales.Any(s => s <= 0))
                    {
                        return null;
                    }

                    options.Scales = scales.Distinct().Order().ToArray();
                    break;
                case "--phases" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int rounds) && rounds > 0:
                    options.PhaseRounds = rounds;
                    break;
                case "--loop" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int iterations) && iterations > 0:
                    options.Loop = iterations;
                    break;
                case "--editor" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int edits) && edits > 0:
                    options.EditorRounds = edits;
                    break;
                case "--ordinary":
                    options.Ordinary = true;
                    break;
                case "--same-shape":
                    options.SameShape = true;
                    break;
                case "--loop-flow" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int flowIterations) && flowIterations > 0:
                    options.LoopFlow = flowIterations;
                    break;
                case "--ca2000" when int.TryParse(Value(), CultureInfo.InvariantCulture, out int ca2000Rounds) && ca2000Rounds > 0:
                    options.Ca2000Rounds = ca2000Rounds;
                    break;
                case "--out" when Value() is { } file:
                    output = file;
                    break;
                case "--artifacts" when Value() is { } directory:
                    options.Artifacts = directory;
                    break;
                default:
                    return null;
            }
        }

        options.Out = output ?? Path.Combine(options.Artifacts, "results.md");
        Debug.Assert(options.Scales.Count > 0, "at least one size");
        return options;
    }

    private sealed class Options
    {
        public bool Quick { get; set; }

        public bool Dry { get; set; }

        public bool CheckOnly { get; set; }

        public bool NoBenchmarkDotNet { get; set; }

        public int Files { get; set; } = 100;

        public IReadOnlyList<int> Scales { get; set; } = new[] { 1, 2, 4 };

        public int TelemetryRepetitions { get; set; } = 3;

        public int Pairs { get; set; } = 6;

        public int DotnetBuildRepetitions { get; set; }

        public int PhaseRounds { get; set; }

        public int Loop { get; set; }

        public int LoopFlow { get; set; }

        public bool Ordinary { get; set; }

        public bool SameShape { get; set; }

        public int EditorRounds { get; set; }

        public int Ca2000Rounds { get; set; }

        public string Artifacts { get; set; } = string.Empty;

        public string Out { get; set; } = string.Empty;
    }
}
