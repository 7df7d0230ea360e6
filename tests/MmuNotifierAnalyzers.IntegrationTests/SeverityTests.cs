using System;
using System.Linq;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>The ways a team raises or silences a rule: the command line, .editorconfig
/// (per file) and .globalconfig (per project).</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class SeverityTests(PackageFeed feed)
{
    private const string File = "InvalidatePage.cs";

    private static readonly int ExpectedLine = ConsumerSources.ExpectedLine(ConsumerSources.InvalidatePage, "MMU001");

    [Fact]
    public async Task WarnAsErrorSwitchFailsTheBuild()
    {
        var consumer = feed.CreateConsumer("warnaserror").WithFile(File, ConsumerSources.InvalidatePage);

        var build = await consumer.BuildAsync("-warnaserror:MMU001");

        Assert.False(build.Succeeded, build.ToString());
        AssertReported(build, File, "error");
    }

    [Fact]
    public async Task EditorConfigSeverityIsHonouredPerFile()
    {
        // The same defect in two files; .editorconfig silences it in one and makes it an
        // error in the other.
        var consumer = feed.CreateConsumer("editorconfig")
            .WithFile("Silenced.cs", ConsumerSources.InvalidatePage.Replace("class Rmap", "class Silenced", StringComparison.Ordinal))
            .WithFile("Raised.cs", ConsumerSources.InvalidatePage.Replace("class Rmap", "class Raised", StringComparison.Ordinal))
            .WithFile(".editorconfig", """
                root = true

                [Silenced.cs]
                dotnet_diagnostic.MMU001.severity = none

                [Raised.cs]
                dotnet_diagnostic.MMU001.severity = error
                """);

        var build = await consumer.BuildAsync();

        Assert.False(build.Succeeded, build.ToString());
        AssertReported(build, "Raised.cs", "error");
    }

    [Theory]
    [InlineData("none")]
    [InlineData("error")]
    public async Task GlobalConfigSeverityIsHonoured(string severity)
    {
        // A .globalconfig next to the project is picked up by the SDK without being listed.
        var consumer = feed.CreateConsumer("globalconfig-" + severity)
            .WithFile(File, ConsumerSources.InvalidatePage)
            .WithFile(".globalconfig", $"is_global = true\n\ndotnet_diagnostic.MMU001.severity = {severity}\n");

        var build = await consumer.BuildAsync();

        if (severity == "none")
        {
            Assert.True(build.Succeeded, build.ToString());
            Assert.True(build.RuleDiagnostics.Count == 0, build.ToString());
        }
        else
        {
            Assert.False(build.Succeeded, build.ToString());
            AssertReported(build, File, "error");
        }
    }

    /// <summary>MMU001 is reported exactly once, in <paramref name="file"/>, at the call, with
    /// <paramref name="severity"/>.</summary>
    private static void AssertReported(BuildResult build, string file, string severity)
    {
        var found = build.RuleDiagnostics.Where(d => d.Id == "MMU001").ToList();
        Assert.True(
            found.Count == 1,
            $"Expected one MMU001 in {file}:{Environment.NewLine}{string.Join(Environment.NewLine, found)}{Environment.NewLine}{build}");
        Assert.Equal(severity, found[0].Severity);
        Assert.Equal(file, found[0].FileName);
        Assert.Equal(ExpectedLine, found[0].Line);
    }
}
