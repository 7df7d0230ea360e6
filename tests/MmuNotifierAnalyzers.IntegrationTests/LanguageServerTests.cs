using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>
/// The package in a real language server, driven as an editor drives it: csharp-ls (pinned by
/// the repository's tool manifest) opens the consumer project, the client turns analyzers on
/// through workspace/configuration, opens and edits documents, and pulls the diagnostics the
/// editor squiggles. Code fixes are not offered by csharp-ls from analyzer packages;
/// <see cref="IdeTests"/> covers them.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class LanguageServerTests(PackageFeed feed)
{
    private const string Edited = "InvalidatePage.cs";
    private const string Callback = "DevMmu.cs";
    private const string Helper = "DevTlb.cs";

    /// <summary>The method the user types into <see cref="Edited"/>, and deletes again.</summary>
    private const string TypedMethod = """

            public static void wait_under_lock(mm_struct mm)
            {
                spin_lock(mm.page_table_lock);
                msleep(1); // expect MMU005
                spin_unlock(mm.page_table_lock);
            }

        """;

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(6);

    /// <summary>The first pull waits for the server to load the project: seconds on an idle
    /// machine, up to a minute on two busy cores.</summary>
    private static readonly TimeSpan FirstPullTimeout = TimeSpan.FromMinutes(3);

    private static readonly TimeSpan PullTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SquigglesFollowTheEditsIncludingAcrossFiles()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        var consumer = feed.CreateConsumer("lsp")
            .WithFile(Edited, ConsumerSources.InvalidatePage)
            .WithFile(Callback, ConsumerSources.CallbackCallingHelper)
            .WithFile(Helper, ConsumerSources.SleepingHelper)
            // The user's repository pins the server the way this one does.
            .WithFile(".config/dotnet-tools.json", File.ReadAllText(Path.Combine(feed.RepositoryRoot, ".config", "dotnet-tools.json")));
        var toolRestore = await consumer.RunAsync("tool", "restore");
        Assert.True(toolRestore.ExitCode == 0, toolRestore.ToString());
        // The server loads the project through MSBuild, which needs restore's project.assets.json.
        var restore = await consumer.RestoreAsync();
        Assert.True(restore.ExitCode == 0, restore.ToString());

        // What a user sets in the editor's LSP client: csharp-ls runs analyzers only when asked.
        var settings = new Dictionary<string, JsonNode> { ["csharp"] = new JsonObject { ["analyzersEnabled"] = true } };
        await using var server = LspClient.Start(consumer.Directory, ["tool", "run", "csharp-ls"], settings);
        await server.InitializeAsync(consumer.Directory, ct);

        // Opened as on disk.
        var edited = consumer.PathOf(Edited);
        var text = ConsumerSources.InvalidatePage;
        await server.OpenAsync(edited, text);
        var squiggles = await SquigglesAsync(server, edited, text, ["MMU001"], FirstPullTimeout, ct);
        var mmu001 = Assert.Single(squiggles);
        Assert.Equal(2, mmu001.Severity);

        // The user types a method with a second defect before the class's closing brace ...
        var offset = text.LastIndexOf("\n}", StringComparison.Ordinal) + 1;
        var at = new LspPosition(text[..offset].Count(c => c == '\n'), 0);
        var typed = text.Insert(offset, TypedMethod);
        await server.ChangeAsync(edited, 2, at, at, TypedMethod);
        await SquigglesAsync(server, edited, typed, ["MMU001", "MMU005"], PullTimeout, ct);

        // ... and deletes it again.
        var end = new LspPosition(at.Line + TypedMethod.Count(c => c == '\n'), 0);
        await server.ChangeAsync(edited, 3, at, end, string.Empty);
        await SquigglesAsync(server, edited, text, ["MMU001"], PullTimeout, ct);

        // The callback's file alone does not sleep: the helper's file, never opened, does.
        var callback = consumer.PathOf(Callback);
        await server.OpenAsync(callback, ConsumerSources.CallbackCallingHelper);
        var mmu004 = Assert.Single(await SquigglesAsync(
            server, callback, ConsumerSources.CallbackCallingHelper, ["MMU004"], PullTimeout, ct));
        Assert.Contains("flush_dev_tlb → mutex_lock", mmu004.Message, StringComparison.Ordinal);
    }

    /// <summary>Pulls the document's diagnostics and checks that our rules' squiggles are exactly
    /// the <paramref name="ids"/> on the lines <paramref name="text"/> marks for them. One pull is
    /// the verdict: csharp-ls answers it once the project is loaded, after every edit sent before.</summary>
    private static async Task<IReadOnlyList<LspDiagnostic>> SquigglesAsync(
        LspClient server, string path, string text, string[] ids, TimeSpan timeout, CancellationToken ct)
    {
        var expected = ids
            .SelectMany(id => ConsumerSources.ExpectedLines(text, id).Select(line => $"{id}@{line}"))
            .Order(StringComparer.Ordinal);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        IReadOnlyList<LspDiagnostic> all;
        try
        {
            all = await server.DiagnosticsAsync(path, deadline.Token);
        }
        catch (OperationCanceledException e)
        {
            throw new TimeoutException(
                $"No diagnostics for {Path.GetFileName(path)} within {timeout.TotalSeconds} s.{Environment.NewLine}{server.Describe()}", e);
        }

        var ours = all.Where(d => d.Code?.StartsWith("MMU", StringComparison.Ordinal) == true).ToList();
        var actual = ours.Select(d => $"{d.Code}@{d.Range.Start.Line + 1}").Order(StringComparer.Ordinal);
        Assert.True(
            actual.SequenceEqual(expected),
            $"{Path.GetFileName(path)}: expected {string.Join(", ", expected)}; the server squiggles:{Environment.NewLine}"
            + $"{string.Join(Environment.NewLine, all)}{Environment.NewLine}The document:{Environment.NewLine}{text}"
            + $"{Environment.NewLine}{server.Describe()}");
        return ours;
    }
}
