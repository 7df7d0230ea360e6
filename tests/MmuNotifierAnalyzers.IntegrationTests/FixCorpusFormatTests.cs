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
/// The code fixes on real kernel functions they were not written for (issue #14): the ports in
/// FixCorpus/ and in the unit tests' KernelPorts/ (each names its kernel version, function and
/// commit), compiled as one package consumer with samples/Seeds.Common, go through one
/// <c>dotnet format analyzers</c> run with every id of <see cref="Ids"/> at once, as a user's CI
/// does. Every finding is fixed except the ones <see cref="NotFixed"/> lists with the reason; the
/// result builds; no finding and no compiler warning appears that was not there; a second run
/// changes nothing; and a second copy formatted from the same input gives the same bytes.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class FixCorpusFormatTests(PackageFeed feed)
{
    /// <summary>The rules whose fixes this corpus holds to: the one list the format runs and the
    /// checks read.</summary>
    public static readonly IReadOnlyList<string> Ids = ["MMU001", "MMU002", "MMU003", "MMU004", "MMU005", "MMU006", "MMU007", "MMU008", "MMU009", "MMU010", "MMU013", "MMU014"];

    /// <summary>
    /// Findings the fixes leave, each with why no mechanical repair is right, per folder/file and id
    /// (lines move when the file is fixed). Anything else left over fails the test.
    /// </summary>
    private static readonly NotFixedFinding[] NotFixed =
    [
        new("FixCorpus/v4_19_mprotect.cs", "MMU002", 2, "change_pmd_range is correct: the start runs iff mni_start becomes non-zero and the end is under if (mni_start); addr is never 0 for a user mapping (mmap_min_addr), which the analysis cannot know. A known false finding: the fix offers nothing rather than an end that would run twice"),
        new("FixCorpus/v3_19_gntdev.cs", "MMU005", 4, "unmap_grant_pages waits for the hypervisor under priv->lock: a sleeping call that is not a notifier call has no mechanical repair (the kernel made the lock a mutex, 1401c00e59ea)"),
        new("KernelPorts/v2_6_3x_sgi_gru.cs", "MMU005", 1, "a known false finding (marked in the port): gru_alloc_thread_state's gts_drop under vd_lock cannot reach mmu_notifier_unregister, since another gts holds the same gms; a sleeping call that is not an allocation has no mechanical repair"),
        new("KernelPorts/v3_11_task_mmu.cs", "MMU013", 1, "clear_refs_write's walk_page_range is reported down a chain (the walk runs clear_refs_pte_range through mm_walk.pmd_entry): the analysis names no mm and no range the walk covers, so there is nothing to bracket mechanically (docs/rules/MMU013.md); the kernel bracketed the whole loop with (mm, 0, -1) when clearing soft-dirty bits, v3_16_task_mmu.cs"),
        new("KernelPorts/v4_19_rmap.cs", "MMU010", 1, "a known false finding (marked in the port): try_to_unmap_one drops a locked file page's reference before _end on purpose (0f10851ea475). The fix correctly offers nothing: the clear (ptep_get_and_clear) has no notifying form and the release sits on a shared exit (discard:), not in the invalidation's block"),
        new("KernelPorts/v5_2_hmm.cs", "MMU014", 1, "hmm_invalidate_range_end sleeps in mutex_lock for a non-blockable range: an end callback cannot refuse, so no guard is right; the kernel made the lock a spinlock (v5.3), a change of design (docs/rules/MMU014.md)"),
    ];

    private static string RepositoryRoot { get; } = typeof(FixCorpusFormatTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepositoryRoot").Value!;

    private static string[] Format() =>
        ["format", "analyzers", Consumer.ProjectName + ".csproj", "--diagnostics", .. Ids, "--severity", "info"];

    [Fact]
    public async Task FormatFixesTheCorpusDeterministicallyAndIdempotently()
    {
        var first = CreateCorpusConsumer("fix-corpus-1");
        var second = CreateCorpusConsumer("fix-corpus-2");

        var before = await first.BuildAsync();
        Assert.True(before.Succeeded, before.ToString());
        Assert.Contains(before.RuleDiagnostics, d => Ids.Contains(d.Id));

        var format = await first.RunAsync(Format());
        Assert.True(format.ExitCode == 0, format.ToString());
        var formatAgain = await second.RunAsync(Format());
        Assert.True(formatAgain.ExitCode == 0, formatAgain.ToString());

        // Deterministic: the same input gives the same bytes.
        var corpus = CorpusFiles();
        var different = corpus.Where(f => first.ReadFile(CorpusPath(f)) != second.ReadFile(CorpusPath(f))).ToList();
        Assert.True(different.Count == 0, "Two dotnet format runs over the same corpus wrote different files: " + string.Join(", ", different)
            + Environment.NewLine + Diff(first, second, different));

        var after = await first.BuildAsync();
        Assert.True(after.Succeeded, "The fixed corpus does not compile:" + Environment.NewLine + after + Environment.NewLine + format);

        // No new compiler warning: some ports carry warnings of their own (a field hiding
        // mmu_notifier.mm, nullable flow), which the fixes must not add to.
        var compilerBefore = Findings(before.Diagnostics.Where(d => !d.Id.StartsWith("MMU", StringComparison.Ordinal)));
        var compilerAdded = Findings(after.Diagnostics.Where(d => !d.Id.StartsWith("MMU", StringComparison.Ordinal)))
            .Where(a => a.Value > compilerBefore.GetValueOrDefault(a.Key)).Select(a => a.Key).ToList();
        Assert.True(compilerAdded.Count == 0, "The fixes introduced compiler warnings:" + Environment.NewLine + string.Join(Environment.NewLine, compilerAdded));

        // Fixed: what is left of the fixed rules is exactly what NotFixed lists.
        var left = Count(after.RuleDiagnostics.Where(d => Ids.Contains(d.Id)));
        var allowed = NotFixed.ToDictionary(n => (n.File, n.Id), n => n.Count);
        var unfixed = left.Where(l => !allowed.TryGetValue(l.Key, out var count) || count != l.Value)
            .Select(l => $"{l.Key.File} {l.Key.Id} x{l.Value}").ToList();
        var stale = allowed.Where(a => !left.ContainsKey(a.Key)).Select(a => $"{a.Key.File} {a.Key.Id}").ToList();
        Assert.True(
            unfixed.Count == 0 && stale.Count == 0,
            "Left unfixed and not listed in NotFixed: " + string.Join("; ", unfixed) + Environment.NewLine
            + "Listed in NotFixed but fixed or gone (update the list): " + string.Join("; ", stale) + Environment.NewLine
            + string.Join(Environment.NewLine, after.RuleDiagnostics) + Environment.NewLine + format);

        // No new finding of any rule, in any file: each finding after the run is one that was there
        // before (same file, rule and message, line numbers aside, since the fixes move lines).
        var had = Findings(before.RuleDiagnostics);
        var added = Findings(after.RuleDiagnostics).Where(a => a.Value > had.GetValueOrDefault(a.Key)).Select(a => a.Key).ToList();
        Assert.True(added.Count == 0, "The fixes added findings: " + string.Join("; ", added) + Environment.NewLine + string.Join(Environment.NewLine, after.RuleDiagnostics));

        // Idempotent: a second run changes nothing. (Not --verify-no-changes: it fails on the
        // findings NotFixed lists, which no run will change.)
        var fixedText = corpus.ToDictionary(f => f, f => first.ReadFile(CorpusPath(f)));
        var again = await first.RunAsync(Format());
        Assert.True(again.ExitCode == 0, again.ToString());
        var changed = corpus.Where(f => first.ReadFile(CorpusPath(f)) != fixedText[f]).ToList();
        Assert.True(changed.Count == 0, "A second dotnet format run changed the fixed corpus: " + string.Join(", ", changed) + Environment.NewLine + again);
    }

    /// <summary>A consumer of the packages holding the corpus (Corpus/) and the shared kernel pieces
    /// the ports use (Common/, samples/Seeds.Common). MMU008 is raised to a warning so the build lists
    /// it with the rest; dotnet format takes it either way (<c>--severity info</c>).</summary>
    private Consumer CreateCorpusConsumer(string name)
    {
        var consumer = feed.CreateConsumer(name);
        foreach (var file in CorpusFiles())
        {
            consumer.WithFile(CorpusPath(file), File.ReadAllText(SourceOf(file)));
        }

        var common = Path.Combine(RepositoryRoot, "samples", "Seeds.Common");
        foreach (var file in Directory.EnumerateFiles(common, "*.cs").Order(StringComparer.Ordinal))
        {
            consumer.WithFile(Path.Combine("Common", Path.GetFileName(file)), File.ReadAllText(file));
        }

        consumer.WithFile(".editorconfig", "root = true\n\n[*.cs]\ndotnet_diagnostic.MMU008.severity = warning\n");
        return consumer;
    }

    /// <summary>The corpus folders, read in place (no copy of a port lives here): the fix corpus, and
    /// the unit tests' KernelPorts, whose markers <c>Seeds/KernelPortsTests</c> holds the analyzers to.
    /// The key is the folder's name in the consumer, so two ports of one file name stay apart.</summary>
    private static readonly IReadOnlyList<(string Name, string Folder)> CorpusFolders =
    [
        ("FixCorpus", Path.Combine(RepositoryRoot, "tests", "MmuNotifierAnalyzers.IntegrationTests", "FixCorpus")),
        ("KernelPorts", Path.Combine(RepositoryRoot, "tests", "MmuNotifierAnalyzers.Tests", "KernelPorts")),
    ];

    /// <summary>Each port as <c>folder/file.cs</c> (the key <see cref="NotFixed"/> uses).</summary>
    private static List<string> CorpusFiles() =>
        CorpusFolders.SelectMany(c => Directory.EnumerateFiles(c.Folder, "*.cs").Select(f => c.Name + "/" + Path.GetFileName(f)))
            .Order(StringComparer.Ordinal).ToList();

    private static string SourceOf(string file)
    {
        var name = file[..file.IndexOf('/', StringComparison.Ordinal)];
        return Path.Combine(CorpusFolders.Single(c => c.Name == name).Folder, Path.GetFileName(file));
    }

    private static string CorpusPath(string file) => Path.Combine("Corpus", file);

    /// <summary>A diagnostic's file as <see cref="CorpusFiles"/> names it (<c>folder/file.cs</c>), or
    /// its bare name outside the corpus (Common/).</summary>
    private static string CorpusKey(BuildDiagnostic d) =>
        Path.GetFileName(Path.GetDirectoryName(d.File)) + "/" + d.FileName;

    private static Dictionary<string, int> Findings(IEnumerable<BuildDiagnostic> diagnostics) =>
        diagnostics.GroupBy(d => CorpusKey(d) + " " + d.Id + ": " + System.Text.RegularExpressions.Regex.Replace(d.Message, @"\d+", "#"))
            .ToDictionary(g => g.Key, g => g.Count());

    private static Dictionary<(string File, string Id), int> Count(IEnumerable<BuildDiagnostic> diagnostics) =>
        diagnostics.GroupBy(d => (CorpusKey(d), d.Id)).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>The first differing line of each file, for the failure message.</summary>
    private static string Diff(Consumer first, Consumer second, List<string> files) =>
        string.Join(Environment.NewLine, files.Select(f =>
        {
            var a = first.ReadFile(CorpusPath(f)).Split('\n');
            var b = second.ReadFile(CorpusPath(f)).Split('\n');
            var line = 0;
            while (line < a.Length && line < b.Length && a[line] == b[line])
            {
                line++;
            }

            return $"{f}:{line + 1}: '{(line < a.Length ? a[line].Trim() : "<end>")}' / '{(line < b.Length ? b[line].Trim() : "<end>")}'";
        }));

    /// <summary>A finding the fixes leave on purpose: <paramref name="Count"/> of <paramref name="Id"/> in
    /// <paramref name="File"/>, and why no mechanical repair is right.</summary>
    private sealed record NotFixedFinding(string File, string Id, int Count, string Why);
}
