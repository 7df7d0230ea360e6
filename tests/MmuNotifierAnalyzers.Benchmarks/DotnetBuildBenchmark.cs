using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using MmuNotifierAnalyzers.Benchmarks.Corpus;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// The build a user runs: <c>dotnet build</c> of a generated project that references the
/// analyzer DLL, with <c>-p:RunAnalyzers=false</c> and without, interleaved over a few
/// repetitions (after one warm-up each, so the compiler server is hot for both).
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
        int warnings = 0;
        for (int i = -1; i < repetitions; i++)
        {
            double off = TimeBuild(workDirectory, project, runAnalyzers: false, out _);
            double on = TimeBuild(workDirectory, project, runAnalyzers: true, out int found);
            warnings = found;
            if (i >= 0)
            {
                without.Add(off);
                with.Add(on);
            }
        }

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"`dotnet build -c Release --no-incremental` of the {scale}x corpus ({corpus.Files.Count} files, {corpus.Lines} lines), {repetitions} interleaved repetitions after one warm-up each; {warnings} distinct MMU warnings in the analyzed build.");
        text.AppendLine();
        text.AppendLine("| Repetition | with analyzers / RunAnalyzers=false |");
        text.AppendLine("|---|---:|");
        for (int i = 0; i < repetitions; i++)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {i + 1} | {AnalyzerTelemetry.Factor(with[i], without[i])} |");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"| **median / median** | **{AnalyzerTelemetry.Factor(Median(with), Median(without))}** |");
        return text.ToString();
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
                <Analyzer Include="{analyzers}" />
              </ItemGroup>
            </Project>
            """);
        return project;
    }

    private static double TimeBuild(string directory, string project, bool runAnalyzers, out int analyzerWarnings)
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
            "-p:RunAnalyzers=" + (runAnalyzers ? "true" : "false"));
        stopwatch.Stop();
        analyzerWarnings = output.Split('\n')
            .Where(line => MmuWarning().IsMatch(line))
            .Select(line => line.Trim())
            .Distinct(StringComparer.Ordinal)
            .Count();
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

    [GeneratedRegex(@"warning MMU\d{3}")]
    private static partial Regex MmuWarning();
}
