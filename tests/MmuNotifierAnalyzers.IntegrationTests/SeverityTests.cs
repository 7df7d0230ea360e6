using System;
using System.Linq;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>The ways a team raises or silences a rule: the command line, the project file,
/// .editorconfig and .globalconfig.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class SeverityTests(PackageFeed feed)
{
    private const string File = "InvalidatePage.cs";

    private static readonly int ExpectedLine = ConsumerSources.ExpectedLine(ConsumerSources.InvalidatePage, "MMU001");

    [Fact]
    public async Task WarnAsErrorSwitchFailsTheBuild()
    {
        var consumer = feed.CreateConsumer("warnaserror-switch").WithFile(File, ConsumerSources.InvalidatePage);

        var build = await consumer.BuildAsync("-warnaserror:MMU001");

        Assert.False(build.Succeeded, build.ToString());
        AssertReportedAs("error", build);
    }

    [Fact]
    public async Task WarningsAsErrorsPropertyFailsTheBuild()
    {
        var consumer = feed.CreateConsumer("warningsaserrors")
            .WithFile(File, ConsumerSources.InvalidatePage)
            .WithProperty("<WarningsAsErrors>$(WarningsAsErrors);MMU001</WarningsAsErrors>");

        var build = await consumer.BuildAsync();

        Assert.False(build.Succeeded, build.ToString());
        AssertReportedAs("error", build);
    }

    [Theory]
    [InlineData(".editorconfig", "none")]
    [InlineData(".editorconfig", "error")]
    [InlineData(".globalconfig", "none")]
    [InlineData(".globalconfig", "error")]
    public async Task ConfiguredSeverityIsHonoured(string configFile, string severity)
    {
        var config = configFile == ".editorconfig"
            ? $"root = true\n\n[*.cs]\ndotnet_diagnostic.MMU001.severity = {severity}\n"
            : $"is_global = true\n\ndotnet_diagnostic.MMU001.severity = {severity}\n";
        var consumer = feed.CreateConsumer(configFile.TrimStart('.') + "-" + severity)
            .WithFile(File, ConsumerSources.InvalidatePage)
            .WithFile(configFile, config);

        var build = await consumer.BuildAsync();

        if (severity == "none")
        {
            Assert.True(build.Succeeded, build.ToString());
            Assert.DoesNotContain(build.RuleDiagnostics, d => d.Id == "MMU001");
        }
        else
        {
            Assert.False(build.Succeeded, build.ToString());
            AssertReportedAs("error", build);
        }
    }

    private static void AssertReportedAs(string severity, BuildResult build)
    {
        var found = build.RuleDiagnostics.Where(d => d.Id == "MMU001").ToList();
        Assert.True(found.Count > 0, "MMU001 was not reported." + Environment.NewLine + build);
        Assert.All(found, d =>
        {
            Assert.Equal(severity, d.Severity);
            Assert.Equal(File, d.FileName);
            Assert.Equal(ExpectedLine, d.Line);
        });
    }
}
