using System;
using System.Linq;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>
/// <c>dotnet format analyzers</c> in CI: it finds the package's diagnostics, applies the
/// package's code fixes, and the fixed code builds clean.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class DotNetFormatTests(PackageFeed feed)
{
    private const string File = "InvalidatePage.cs";

    /// <summary>MMU001 is a warning; <c>--severity info</c> takes everything from info up.</summary>
    private static readonly string[] FormatMmu001 =
        ["format", "analyzers", Consumer.ProjectName + ".csproj", "--diagnostics", "MMU001", "--severity", "info"];

    [Fact]
    public async Task VerifyNoChangesFailsOnBadCode()
    {
        var consumer = feed.CreateConsumer("format-verify").WithFile(File, ConsumerSources.InvalidatePage);

        var verify = await consumer.RunAsync([.. FormatMmu001, "--verify-no-changes"]);

        Assert.True(verify.ExitCode != 0, "--verify-no-changes passed on code with MMU001." + Environment.NewLine + verify);
        Assert.Contains("MMU001", verify.Output, StringComparison.Ordinal);
        Assert.Equal(ConsumerSources.InvalidatePage.ReplaceLineEndings("\n"), consumer.ReadFile(File));
    }

    [Fact]
    public async Task FormatAppliesTheCodeFixAndTheResultBuildsClean()
    {
        var consumer = feed.CreateConsumer("format-fix").WithFile(File, ConsumerSources.InvalidatePage);

        var format = await consumer.RunAsync(FormatMmu001);
        Assert.True(format.ExitCode == 0, format.ToString());

        var text = consumer.ReadFile(File);
        Assert.True(text != ConsumerSources.InvalidatePage.ReplaceLineEndings("\n"), "dotnet format changed nothing." + Environment.NewLine + format);
        Assert.DoesNotContain("mmu_notifier_invalidate_page(", text, StringComparison.Ordinal);
        Assert.Contains("mmu_notifier_invalidate_range_start(", text, StringComparison.Ordinal);
        Assert.Contains("mmu_notifier_invalidate_range_end(", text, StringComparison.Ordinal);
        Assert.Contains("// ... write-protect and clean the pte ...", text, StringComparison.Ordinal);

        // Clean: no warning of any kind, ours or the compiler's, in the fixed code.
        var build = await consumer.BuildAsync();
        Assert.True(build.Succeeded, text + Environment.NewLine + build);
        Assert.True(build.Diagnostics.Count == 0, "The fixed code does not build clean:" + Environment.NewLine
            + string.Join(Environment.NewLine, build.Diagnostics) + Environment.NewLine + text);

        var verify = await consumer.RunAsync([.. FormatMmu001, "--verify-no-changes"]);
        Assert.True(verify.ExitCode == 0, verify.ToString());
    }
}
