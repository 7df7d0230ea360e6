using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>
/// The README's CI recipe on the real seed ports: <c>dotnet format analyzers</c> over a copy of
/// samples/Seeds.Before rewrites every finding, the result builds with no warning at all, a second
/// run changes nothing, and the result is exactly samples/Seeds.Fixed — the project the runtime
/// scenario tests run (tests/Kernel.Mm.Tests/Scenarios), so the fixes are judged by what the
/// fixed kernel code does, not only by what it looks like.
/// </summary>
public sealed class SeedPortsFormatTests : IAsyncLifetime
{
    /// <summary>Set to 1 to write the fixed ports into samples/Seeds.Fixed instead of comparing.</summary>
    public const string AcceptVariable = "MMU_ACCEPT_FIXED_PORTS";

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    /// <summary>What the copy needs to build on its own: the ports, the code they compile
    /// against, the analyzers and fixes (project references, as in the repository) and the
    /// build settings.</summary>
    private static readonly string[] CopiedFolders =
    [
        "samples/Seeds.Before",
        "samples/Seeds.Common",
        "src/Kernel.Mm",
        "src/Shared",
        "src/MmuNotifierAnalyzers.Annotations",
        "src/MmuNotifierAnalyzers",
        "src/MmuNotifierAnalyzers.CodeFixes",
    ];

    private static readonly string[] CopiedFiles =
        ["Directory.Build.props", "Directory.Packages.props", "global.json", ".editorconfig"];

    /// <summary>The rules whose fixes the ports need, in catalogue order.</summary>
    private static readonly string[] FixedIds = ["MMU001", "MMU002", "MMU003", "MMU005", "MMU006", "MMU007", "MMU008", "MMU009", "MMU010"];

    /// <summary>
    /// One <c>dotnet format analyzers</c> run per rule, in catalogue order. Given several ids at
    /// once, dotnet format (SDK 10.0.401) applies them in an order that changes from run to run,
    /// and skips an id whole when one of its diagnostics offers no fix at that moment (seed 000's
    /// MMU010 before MMU001's fix has rewritten its invalidate_page; seed 003's before MMU006's
    /// bracket exists): three runs of the same command gave three different files. Run by run,
    /// each rule's fixes see what the earlier rules' fixes wrote, and the result is one.
    /// </summary>
    private static string[] Format(string id) =>
        ["format", "analyzers", "samples/Seeds.Before/Seeds.Before.csproj", "--diagnostics", id, "--severity", "info"];

    private static readonly string[] Verify =
        ["format", "analyzers", "samples/Seeds.Before/Seeds.Before.csproj", "--diagnostics", .. FixedIds, "--severity", "info", "--verify-no-changes"];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "mmu-seedfix-" + Guid.NewGuid().ToString("N")[..12]);

    private static string RepositoryRoot { get; } = typeof(SeedPortsFormatTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepositoryRoot").Value!;

    public Task InitializeAsync()
    {
        foreach (var folder in CopiedFolders)
        {
            CopyTree(Path.Combine(RepositoryRoot, folder), Path.Combine(_root, folder));
        }

        foreach (var file in CopiedFiles)
        {
            File.Copy(Path.Combine(RepositoryRoot, file), Path.Combine(_root, file));
        }

        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A build server may still hold a file for a moment; the folder is in TEMP.
        }
        catch (UnauthorizedAccessException)
        {
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task FormatFixesEverySeedPortAndTheResultIsSeedsFixed()
    {
        var environment = new Dictionary<string, string> { ["MMU_ARTIFACTS"] = Path.Combine(_root, "artifacts") };

        // The ports take the analyzers and fixes as project references: dotnet format loads
        // them from the built output (it does not build), as a package consumer loads the package's.
        string[] build = ["build", "samples/Seeds.Before/Seeds.Before.csproj", "-nodeReuse:false", "-tl:off", "-v:q", "-clp:NoSummary"];
        var before = await DotNet.RunAsync(_root, build, Timeout, environment);
        Assert.True(before.ExitCode == 0, before.ToString());
        Assert.Contains(BuildDiagnostic.Parse(before.Output), d => d.Id == "MMU005");

        var log = new System.Text.StringBuilder();
        foreach (var id in FixedIds)
        {
            var format = await DotNet.RunAsync(_root, Format(id), Timeout, environment);
            Assert.True(format.ExitCode == 0, format.ToString());
            log.AppendLine(format.ToString());
        }

        var after = await DotNet.RunAsync(_root, build, Timeout, environment);
        var diagnostics = BuildDiagnostic.Parse(after.Output);
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.True(
            diagnostics.Count == 0,
            "The fixed ports do not build clean:" + Environment.NewLine + string.Join(Environment.NewLine, diagnostics)
            + Environment.NewLine + log);

        var again = await DotNet.RunAsync(_root, Verify, Timeout, environment);
        Assert.True(again.ExitCode == 0, "A second run still changes the fixed ports." + Environment.NewLine + again);

        CompareWithSeedsFixed();
    }

    /// <summary>Each fixed port equals samples/Seeds.Fixed's file of the same path (or, with
    /// <see cref="AcceptVariable"/>=1, becomes it).</summary>
    private void CompareWithSeedsFixed()
    {
        var produced = Path.Combine(_root, "samples", "Seeds.Before");
        var committed = Path.Combine(RepositoryRoot, "samples", "Seeds.Fixed");
        var producedFiles = SourceFiles(produced);
        Assert.NotEmpty(producedFiles);

        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            foreach (var stale in SourceFiles(committed))
            {
                File.Delete(Path.Combine(committed, stale));
            }

            foreach (var file in producedFiles)
            {
                var target = Path.Combine(committed, file);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(Path.Combine(produced, file), target, overwrite: true);
            }

            return;
        }

        var hint = $"Run the integration tests with {AcceptVariable}=1 to accept the new output, and review the diff of samples/Seeds.Fixed.";
        Assert.True(
            producedFiles.SequenceEqual(SourceFiles(committed)),
            $"samples/Seeds.Fixed holds other files than the fixed ports ({string.Join(", ", producedFiles)}). {hint}");
        foreach (var file in producedFiles)
        {
            var expected = File.ReadAllText(Path.Combine(committed, file)).ReplaceLineEndings("\n");
            var actual = File.ReadAllText(Path.Combine(produced, file)).ReplaceLineEndings("\n");
            if (expected != actual)
            {
                Assert.Fail($"{file} differs from samples/Seeds.Fixed/{file} at line {FirstDifferentLine(expected, actual)}. {hint}");
            }
        }
    }

    private static int FirstDifferentLine(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var line = 0;
        while (line < a.Length && line < b.Length && a[line] == b[line])
        {
            line++;
        }

        return line + 1;
    }

    /// <summary>The .cs files under <paramref name="folder"/>, relative, sorted, without bin/ and obj/.</summary>
    private static List<string> SourceFiles(string folder) =>
        Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/'))
                .Where(f => !f.StartsWith("bin/", StringComparison.Ordinal) && !f.StartsWith("obj/", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var directory in Directory.EnumerateDirectories(from))
        {
            var name = Path.GetFileName(directory);
            if (name is not ("bin" or "obj"))
            {
                CopyTree(directory, Path.Combine(to, name));
            }
        }
    }
}
