using System;
using System.Linq;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary><c>#pragma warning disable</c> and <c>[SuppressMessage]</c> silence one finding
/// and leave the others alone.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class SuppressionTests(PackageFeed feed)
{
    private const string Pragma = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class PragmaSuppressed
        {
            public static void zap(mm_struct mm, ulong address)
            {
        #pragma warning disable MMU001 // Reviewed: this port keeps the 4.12 call on purpose.
                mmu_notifier_invalidate_page(mm, address);
        #pragma warning restore MMU001
            }
        }
        """;

    private const string Attribute = """
        using System.Diagnostics.CodeAnalysis;
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class AttributeSuppressed
        {
            [SuppressMessage("MmuNotifier", "MMU001:invalidate_page is removed", Justification = "Reviewed: kept on purpose.")]
            public static void zap(mm_struct mm, ulong address)
            {
                mmu_notifier_invalidate_page(mm, address);
            }
        }
        """;

    [Fact]
    public async Task PragmaAndSuppressMessageSilenceOnlyTheirOwnFinding()
    {
        var consumer = feed.CreateConsumer("suppression")
            .WithFile("Pragma.cs", Pragma)
            .WithFile("Attribute.cs", Attribute)
            .WithFile("Unsuppressed.cs", ConsumerSources.InvalidatePage);

        var build = await consumer.BuildAsync();

        Assert.True(build.Succeeded, build.ToString());
        var found = build.RuleDiagnostics.Where(d => d.Id == "MMU001").ToList();
        Assert.True(
            found.Count == 1,
            "Expected exactly the unsuppressed MMU001:" + Environment.NewLine
            + string.Join(Environment.NewLine, found) + Environment.NewLine + build);
        var single = found[0];
        Assert.Equal("Unsuppressed.cs", single.FileName);
        Assert.Equal(ConsumerSources.ExpectedLine(ConsumerSources.InvalidatePage, "MMU001"), single.Line);
    }
}
