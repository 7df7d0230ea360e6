using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>The SARIF log a CI system reads (<c>-p:ErrorLog=...,version=2.1</c>): each of our
/// rules links to its documentation page, each result to its file and line.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class SarifTests(PackageFeed feed)
{
    private const string HelpUriPrefix = "https://github.com/mmu-notifier-analyzers/MmuNotifierAnalyzers/blob/main/docs/rules/";

    [Fact]
    public async Task ErrorLogCarriesTheRulesHelpLinksAndTheResultLocations()
    {
        var consumer = feed.CreateConsumer("sarif").WithFile("InvalidatePage.cs", ConsumerSources.InvalidatePage);

        // %2C: the comma is MSBuild's property separator on the command line.
        var build = await consumer.BuildAsync("-p:ErrorLog=out.sarif%2Cversion=2.1");

        Assert.True(build.Succeeded, build.ToString());
        var logPath = consumer.PathOf("out.sarif");
        Assert.True(File.Exists(logPath), "No SARIF log written." + Environment.NewLine + build);

        using var log = JsonDocument.Parse(File.ReadAllText(logPath));
        Assert.Equal("2.1.0", log.RootElement.GetProperty("version").GetString());
        var run = log.RootElement.GetProperty("runs").EnumerateArray().Single();

        var rules = run.GetProperty("tool").GetProperty("driver").GetProperty("rules").EnumerateArray()
            .Where(r => r.GetProperty("id").GetString()!.StartsWith("MMU", StringComparison.Ordinal))
            .ToList();
        var mmu001 = rules.SingleOrDefault(r => r.GetProperty("id").GetString() == "MMU001");
        Assert.True(mmu001.ValueKind == JsonValueKind.Object, "MMU001 is not among the log's rules: " + run);
        Assert.All(rules, r =>
        {
            var id = r.GetProperty("id").GetString();
            Assert.Equal(HelpUriPrefix + id + ".md", r.GetProperty("helpUri").GetString());
        });

        var result = run.GetProperty("results").EnumerateArray()
            .Single(r => r.GetProperty("ruleId").GetString() == "MMU001");
        Assert.Equal("warning", result.GetProperty("level").GetString());
        var location = result.GetProperty("locations")[0].GetProperty("physicalLocation");
        Assert.EndsWith("InvalidatePage.cs", location.GetProperty("artifactLocation").GetProperty("uri").GetString(), StringComparison.Ordinal);
        Assert.Equal(
            ConsumerSources.ExpectedLine(ConsumerSources.InvalidatePage, "MMU001"),
            location.GetProperty("region").GetProperty("startLine").GetInt32());
    }
}
