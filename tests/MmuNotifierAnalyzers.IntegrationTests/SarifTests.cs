using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>The SARIF log a CI system reads (<c>-p:ErrorLog=...,version=2.1</c>): each of our
/// rules links to its documentation page, each result to its file and line. The log is the
/// one written by <see cref="BuildDiagnosticsTests"/>' build.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class SarifTests(PackageFeed feed)
{
    private const string HelpUriPrefix = "https://github.com/mmu-notifier-analyzers/MmuNotifierAnalyzers/blob/main/docs/rules/";

    [Fact]
    public async Task ErrorLogRulesCarryTheirDocumentationLink()
    {
        var (build, run) = await LoadRunAsync();

        var rules = run.GetProperty("tool").GetProperty("driver").GetProperty("rules").EnumerateArray()
            .Where(r => r.GetProperty("id").GetString()!.StartsWith("MMU", StringComparison.Ordinal))
            .ToList();
        Assert.True(
            rules.Any(r => r.GetProperty("id").GetString() == "MMU001"),
            "MMU001 is not among the log's rules." + Environment.NewLine + build);
        Assert.All(rules, r =>
        {
            var id = r.GetProperty("id").GetString();
            Assert.True(r.TryGetProperty("helpUri", out var helpUri), $"{id} has no helpUri.");
            Assert.Equal(HelpUriPrefix + id + ".md", helpUri.GetString());
        });
    }

    [Fact]
    public async Task ErrorLogResultsPointAtTheFileAndLine()
    {
        var (build, run) = await LoadRunAsync();

        var results = run.GetProperty("results").EnumerateArray()
            .Where(r => r.GetProperty("ruleId").GetString() == "MMU001")
            .ToList();
        Assert.True(results.Count == 1, "Expected one MMU001 result." + Environment.NewLine + build);
        Assert.Equal("warning", results[0].GetProperty("level").GetString());
        var location = results[0].GetProperty("locations")[0].GetProperty("physicalLocation");
        Assert.EndsWith("/InvalidatePage.cs", location.GetProperty("artifactLocation").GetProperty("uri").GetString(), StringComparison.Ordinal);
        Assert.Equal(
            ConsumerSources.ExpectedLine(ConsumerSources.InvalidatePage, "MMU001"),
            location.GetProperty("region").GetProperty("startLine").GetInt32());
    }

    private async Task<(BuildResult Build, JsonElement Run)> LoadRunAsync()
    {
        var build = await BuildDiagnosticsTests.BuildAllRulesAsync(feed);
        var logPath = Path.Combine(build.Process.WorkingDirectory, BuildDiagnosticsTests.SarifLog);
        Assert.True(File.Exists(logPath), "No SARIF log written." + Environment.NewLine + build);

        using var log = JsonDocument.Parse(await File.ReadAllTextAsync(logPath));
        Assert.Equal("2.1.0", log.RootElement.GetProperty("version").GetString());
        var run = log.RootElement.GetProperty("runs").EnumerateArray().Single();
        return (build, run.Clone());
    }
}
