using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using System.Xml.Linq;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>
/// <c>dotnet build</c> of a consumer that references the packages: each rule's defect is
/// reported as a warning with its file, line and id, and nothing fires on correct code.
/// One consumer holds a file per rule; it is built once and every case reads that build.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class BuildDiagnosticsTests(PackageFeed feed)
{
    public static TheoryData<string, string, string> Rules => new()
    {
        { "MMU001", "InvalidatePage.cs", ConsumerSources.InvalidatePage },
        { "MMU002", "UnbalancedRange.cs", ConsumerSources.UnbalancedRange },
        { "MMU003", "RangeArgumentsChanged.cs", ConsumerSources.RangeArgumentsChanged },
        { "MMU004", "SleepInAtomicCallback.cs", ConsumerSources.SleepInAtomicCallback },
        { "MMU005", "SleepUnderSpinlock.cs", ConsumerSources.SleepUnderSpinlock },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public async Task RuleIsReportedByTheBuildWithFileLineAndId(string id, string file, string source)
    {
        var build = await BuildAllRulesAsync();
        Assert.True(build.Succeeded, "Warnings must not fail the build." + Environment.NewLine + build);

        var expectedLines = ConsumerSources.ExpectedLines(source, id);
        var found = build.RuleDiagnostics.Where(d => d.Id == id && d.FileName == file).ToList();
        Assert.True(
            found.Count > 0,
            $"No {id} in {file} (expected on line {string.Join(" or ", expectedLines)}).{Environment.NewLine}{Describe(build)}");
        Assert.All(found, d =>
        {
            Assert.Equal("warning", d.Severity);
            Assert.Contains(d.Line, expectedLines);
            Assert.True(d.Column > 0);
            Assert.StartsWith(build.Process.WorkingDirectory, d.File, StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(d.Message), $"{id} has no message.");
        });

        // One diagnostic per defect, and no other rule's on this rule's example.
        var others = build.RuleDiagnostics.Where(d => d.FileName == file && d.Id != id).ToList();
        Assert.True(others.Count == 0, $"Other rules fired on the {id} example:{Environment.NewLine}{string.Join(Environment.NewLine, others)}");
    }

    [Fact]
    public async Task CorrectCodeGetsNoRuleDiagnostic()
    {
        var build = await BuildAllRulesAsync();

        var found = build.RuleDiagnostics.Where(d => d.FileName == "Correct.cs").ToList();
        Assert.True(found.Count == 0, string.Join(Environment.NewLine, found) + Environment.NewLine + build);
    }

    [Fact]
    public async Task ConsumerCompilesAgainstThePackagedRuntime()
    {
        var build = await BuildAllRulesAsync();

        // Every defect above is a rule finding, never a compile error: the examples use the
        // packaged Kernel.Mm API as it is.
        var errors = build.Diagnostics.Where(d => d.Severity == "error").ToList();
        Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors) + Environment.NewLine + build);
    }

    [Fact]
    public async Task AnalyzerPackageStaysPrivateAndOutOfTheOutput()
    {
        var build = await BuildAllRulesAsync();
        var directory = build.Process.WorkingDirectory;

        // A development dependency: `dotnet add package` marks the reference private, so a
        // project referencing this consumer does not inherit the analyzers.
        var project = XDocument.Load(Path.Combine(directory, Consumer.ProjectName + ".csproj"));
        var reference = project.Descendants("PackageReference")
            .Single(r => (string?)r.Attribute("Include") == PackageFeed.AnalyzersPackageId);
        var privateAssets = (string?)reference.Attribute("PrivateAssets") ?? reference.Element("PrivateAssets")?.Value;
        Assert.True(string.Equals(privateAssets, "all", StringComparison.OrdinalIgnoreCase), reference.ToString());

        using var assets = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(directory, "obj", "project.assets.json")));
        var dependency = assets.RootElement.GetProperty("project").GetProperty("frameworks").GetProperty("net10.0")
            .GetProperty("dependencies").GetProperty(PackageFeed.AnalyzersPackageId);
        Assert.Equal("All", dependency.GetProperty("suppressParent").GetString());

        // What restore resolved: the runtime brings its assembly and the annotations; the
        // analyzer package brings nothing a build would compile against or copy to the output.
        var target = assets.RootElement.GetProperty("targets").GetProperty("net10.0");
        var runtime = target.GetProperty($"{PackageFeed.RuntimePackageId}/{feed.Version}");
        Assert.True(runtime.GetProperty("runtime").TryGetProperty("lib/net10.0/Kernel.Mm.dll", out _), runtime.ToString());
        Assert.True(runtime.GetProperty("dependencies").TryGetProperty(PackageFeed.AnnotationsPackageId, out _), runtime.ToString());
        var analyzers = target.GetProperty($"{PackageFeed.AnalyzersPackageId}/{feed.Version}");
        Assert.False(analyzers.TryGetProperty("compile", out _), analyzers.ToString());
        Assert.False(analyzers.TryGetProperty("runtime", out _), analyzers.ToString());
        Assert.False(analyzers.TryGetProperty("dependencies", out _), analyzers.ToString());
    }

    /// <summary>The SARIF log of the same build (see <see cref="SarifTests"/>).</summary>
    public const string SarifLog = "all-rules.sarif";

    private Task<BuildResult> BuildAllRulesAsync() => BuildAllRulesAsync(feed);

    /// <summary>The consumer with one example per rule, built once per run; the build also
    /// writes a SARIF 2.1 log.</summary>
    internal static Task<BuildResult> BuildAllRulesAsync(PackageFeed feed) => feed.Shared("all-rules", async () =>
    {
        var consumer = feed.CreateConsumer("all-rules", referenceAnalyzers: false);
        foreach (var rule in Rules)
        {
            consumer.WithFile((string)rule[1], (string)rule[2]);
        }

        consumer.WithFile("Correct.cs", ConsumerSources.Correct);

        // This consumer gets the analyzers the way a user adds them.
        var add = await consumer.AddAnalyzersPackageAsync();
        if (add.ExitCode != 0)
        {
            throw new InvalidOperationException("dotnet add package failed." + Environment.NewLine + add);
        }

        // %2C: the comma is MSBuild's property separator on the command line.
        return await consumer.BuildAsync($"-p:ErrorLog={SarifLog}%2Cversion=2.1");
    });

    private static string Describe(BuildResult build) =>
        "Rule diagnostics:" + Environment.NewLine
        + string.Join(Environment.NewLine, build.RuleDiagnostics.Select(d => "  " + d)) + Environment.NewLine
        + build;
}
