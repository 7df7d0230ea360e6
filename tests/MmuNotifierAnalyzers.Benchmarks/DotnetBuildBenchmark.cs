using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MmuNotifierAnalyzers.Benchmarks.Corpus;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// The build a user runs: <c>dotnet build</c> of a generated project that references the
/// analyzer DLL, with <c>-p:RunAnalyzers=false</c> and without, interleaved over a few
/// repetitions (after one warm-up each, so the compiler server is hot for all). A third build
/// swaps our DLL for a do-nothing analyzer's: what any analyzer costs a build, the floor under ours.
/// </summary>
internal static partial class DotnetBuildBenchmark
{
    public static string Measure(int scale, int repetitions, string workDirectory)
    {
        var corpus = CorpusCompilation.GetCorpus(scale);
        string project = WriteProject(corpus, workDirectory);
        Run(workDirectory, "restore", project, "-nologo", "-v:q");

        var without = new List<double>();
        var with = new List<double>();
        var floor = new List<double>();
        int warnings = 0;
        for (int i = -1; i < repetitions; i++)
        {
            double off = TimeBuild(workDirectory, project, Build.AnalyzersOff, out _);
            double on = TimeBuild(workDirectory, project, Build.Ours, out int found);
            double nothing = TimeBuild(workDirectory, project, Build.DoNothing, out _);
            warnings = found;
            if (i >= 0)
            {
                without.Add(off);
                with.Add(on);
                floor.Add(nothing);
            }
        }

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"`dotnet build -c Release --no-incremental` of the {scale}x corpus ({corpus.Files.Count} files, {corpus.Lines} lines), {repetitions} interleaved repetitions after one warm-up each; {warnings} distinct MMU warnings in the analyzed build. The do-nothing build swaps our DLL for one compilation-start analyzer that registers one syntax-tree action and reports once (its warning is checked, so it is known to have run).");
        text.AppendLine();
        text.AppendLine("| Repetition | with analyzers / RunAnalyzers=false | do-nothing analyzer / RunAnalyzers=false | with analyzers / do-nothing analyzer |");
        text.AppendLine("|---|---:|---:|---:|");
        for (int i = 0; i < repetitions; i++)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {i + 1} | {AnalyzerTelemetry.Factor(with[i], without[i])} | {AnalyzerTelemetry.Factor(floor[i], without[i])} | {AnalyzerTelemetry.Factor(with[i], floor[i])} |");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"| **median / median** | **{AnalyzerTelemetry.Factor(Median(with), Median(without))}** | **{AnalyzerTelemetry.Factor(Median(floor), Median(without))}** | **{AnalyzerTelemetry.Factor(Median(with), Median(floor))}** |");
        return text.ToString();
    }

    private enum Build
    {
        AnalyzersOff,
        Ours,
        DoNothing,
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[sorted.Count / 2];
    }

    private static string WriteProject(GeneratedCorpus corpus, string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        Directory.CreateDirectory(directory);
        foreach (var file in corpus.Files)
        {
            string path = Path.Combine(directory, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, file.Text);
        }

        // Empty Directory.Build.* files keep whatever lies above the temp folder out of the build.
        File.WriteAllText(Path.Combine(directory, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(directory, "Directory.Build.targets"), "<Project />\n");
        string kernel = typeof(Kernel.Mm.Linux).Assembly.Location;
        string annotations = typeof(MmuNotifierAnalyzers.Annotations.MaySleepAttribute).Assembly.Location;
        string analyzers = AnalyzerCatalog.AnalyzerAssembly.Location;
        string doNothing = WriteDoNothingAnalyzer(Path.Combine(directory, "do-nothing"), Path.GetFileName(corpus.Files[0].Path));
        string project = Path.Combine(directory, "Corpus.Mm.csproj");
        File.WriteAllText(project, $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>disable</ImplicitUsings>
                <NoWarn>$(NoWarn);CS8981</NoWarn>
                <!-- Only our analyzers differ between the two builds: the SDK's CA analyzers stay off. -->
                <EnableNETAnalyzers>false</EnableNETAnalyzers>
                <TreatWarningsAsErrors>false</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <Reference Include="Kernel.Mm" HintPath="{kernel}" />
                <Reference Include="MmuNotifierAnalyzers.Annotations" HintPath="{annotations}" />
                <Analyzer Include="{analyzers}" Condition="'$(BenchmarkAnalyzer)' != 'do-nothing'" />
                <Analyzer Include="{doNothing}" Condition="'$(BenchmarkAnalyzer)' == 'do-nothing'" />
              </ItemGroup>
            </Project>
            """);
        return project;
    }

    /// <summary>
    /// Compiles, in process, an analyzer that does nothing but prove it ran: one warning on the file
    /// named <paramref name="reportIn"/>. The driver skips an analyzer with no enabled descriptor, so
    /// it needs one, and a build that does not print it did not measure what it says.
    /// </summary>
    private static string WriteDoNothingAnalyzer(string directory, string reportIn)
    {
        string source = $$"""
            using System.Collections.Immutable;
            using Microsoft.CodeAnalysis;
            using Microsoft.CodeAnalysis.Diagnostics;

            [DiagnosticAnalyzer(LanguageNames.CSharp)]
            public sealed class DoNothingAnalyzer : DiagnosticAnalyzer
            {
                private static readonly DiagnosticDescriptor Ran = new(
                    "{{DoNothingId}}", "Ran", "The do-nothing analyzer ran", "Benchmark", DiagnosticSeverity.Warning, isEnabledByDefault: true);

                public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Ran);

                public override void Initialize(AnalysisContext context)
                {
                    context.EnableConcurrentExecution();
                    context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
                    context.RegisterCompilationStartAction(start => start.RegisterSyntaxTreeAction(tree =>
                    {
                        if (tree.Tree.FilePath.EndsWith("{{reportIn}}", System.StringComparison.Ordinal))
                        {
                            tree.ReportDiagnostic(Diagnostic.Create(Ran, Location.Create(tree.Tree, default)));
                        }
                    }));
                }
            }
            """;
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create(
            "DoNothingAnalyzer",
            new[] { CSharpSyntaxTree.ParseText(source) },
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "DoNothingAnalyzer.dll");
        using var output = File.Create(path);
        var result = compilation.Emit(output);
        if (!result.Success)
        {
            throw new InvalidOperationException("the do-nothing analyzer does not compile:\n" + string.Join('\n', result.Diagnostics));
        }

        return path;
    }

    private static double TimeBuild(string directory, string project, Build build, out int analyzerWarnings)
    {
        var stopwatch = Stopwatch.StartNew();
        string output = Run(
            directory,
            "build",
            project,
            "-c",
            "Release",
            "--no-restore",
            "--no-incremental",
            "-nologo",
            "-v:q",
            "-clp:NoSummary",
            "-p:RunAnalyzers=" + (build == Build.AnalyzersOff ? "false" : "true"),
            "-p:BenchmarkAnalyzer=" + (build == Build.DoNothing ? "do-nothing" : "ours"));
        stopwatch.Stop();
        var lines = output.Split('\n').Select(line => line.Trim()).Distinct(StringComparer.Ordinal).ToList();
        analyzerWarnings = lines.Count(line => MmuWarning().IsMatch(line));
        int ran = lines.Count(line => line.Contains("warning " + DoNothingId, StringComparison.Ordinal));
        if (ran != (build == Build.DoNothing ? 1 : 0) || (build == Build.DoNothing && analyzerWarnings > 0))
        {
            throw new InvalidOperationException($"the {build} build printed {ran} {DoNothingId} and {analyzerWarnings} MMU warnings: it did not build what it measures.\n{output}");
        }

        return stopwatch.Elapsed.TotalMilliseconds;
    }

    private static string Run(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{stdout}\n{stderr.Result}");
        }

        return stdout;
    }

    private const string DoNothingId = "BENCH000";

    [GeneratedRegex(@"warning MMU\d{3}")]
    private static partial Regex MmuWarning();
}
