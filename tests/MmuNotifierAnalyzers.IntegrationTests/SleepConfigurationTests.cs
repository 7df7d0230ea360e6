using System;
using System.Linq;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>
/// The may-sleep list (docs/configuration.md): a file named <c>MmuNotifier.Sleep.txt</c> next
/// to the project is picked up by the package's buildTransitive targets, its entries change
/// what the rules consider sleeping, and a line that names nothing is an MMU900 at that line.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class SleepConfigurationTests(PackageFeed feed)
{
    private const string SleepFile = "MmuNotifier.Sleep.txt";

    private const string SleepList = """
        # flush_dev_tlb waits for the device to acknowledge the flush.
        M:Consumer.Dev.flush_dev_tlb(System.UInt64)

        M:Consumer.Dev.no_such_method(System.UInt64)
        """;

    private const int BadEntryLine = 4;

    private static readonly int CallLine = ConsumerSources.ExpectedLine(ConsumerSources.ConfiguredSleep, "MMU004");

    [Fact]
    public async Task ListedMethodMaySleepInAnAtomicCallback()
    {
        var build = await BuildWithListAsync();

        var found = build.RuleDiagnostics.Where(d => d.Id == "MMU004").ToList();
        Assert.True(found.Count == 1, "Expected one MMU004 at the call to flush_dev_tlb." + Environment.NewLine + Describe(build));
        Assert.Equal("Dev.cs", found[0].FileName);
        Assert.Equal(CallLine, found[0].Line);
        Assert.Contains("flush_dev_tlb", found[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EntryThatNamesNothingIsReportedAtItsLine()
    {
        var build = await BuildWithListAsync();

        var found = build.RuleDiagnostics.Where(d => d.Id == "MMU900").ToList();
        Assert.True(found.Count == 1, "Expected one MMU900 for the entry that names nothing." + Environment.NewLine + Describe(build));
        Assert.Equal(SleepFile, found[0].FileName);
        Assert.Equal(BadEntryLine, found[0].Line);
        Assert.Equal("warning", found[0].Severity);
    }

    [Fact]
    public async Task ListAlsoListedInTheProjectIsReadOnce()
    {
        var consumer = feed.CreateConsumer("sleep-list-explicit")
            .WithFile("Dev.cs", ConsumerSources.ConfiguredSleep)
            .WithFile(SleepFile, SleepList)
            .WithItem($"<AdditionalFiles Include=\"{SleepFile}\" />");

        var build = await consumer.BuildAsync();

        Assert.True(build.Succeeded, build.ToString());
        Assert.True(build.RuleDiagnostics.Count(d => d.Id == "MMU900") == 1, Describe(build));
        Assert.True(build.RuleDiagnostics.Count(d => d.Id == "MMU004") == 1, Describe(build));
    }

    [Fact]
    public async Task WithTheListLeftOutTheMethodDoesNotSleep()
    {
        // The file is there, but the project opts out of the package's automatic pick-up.
        var consumer = feed.CreateConsumer("sleep-list-opt-out")
            .WithFile("Dev.cs", ConsumerSources.ConfiguredSleep)
            .WithFile(SleepFile, SleepList)
            .WithProperty("<MmuNotifierIncludeSleepFile>false</MmuNotifierIncludeSleepFile>");

        var build = await consumer.BuildAsync();

        Assert.True(build.Succeeded, build.ToString());
        Assert.True(build.RuleDiagnostics.Count == 0, Describe(build));
    }

    private Task<BuildResult> BuildWithListAsync() => feed.Shared("sleep-list", async () =>
    {
        // Only the file next to the project: the package's targets must add it.
        var consumer = feed.CreateConsumer("sleep-list")
            .WithFile("Dev.cs", ConsumerSources.ConfiguredSleep)
            .WithFile(SleepFile, SleepList);
        return await consumer.BuildAsync();
    });

    private static string Describe(BuildResult build) =>
        "Rule diagnostics:" + Environment.NewLine
        + string.Join(Environment.NewLine, build.RuleDiagnostics.Select(d => "  " + d)) + Environment.NewLine
        + build;
}
