using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Xunit.Abstractions;

namespace MmuNotifierAnalyzers.Tests.Robustness;

/// <summary>
/// Issue #14's mutation test: the seed ports (samples/Seeds.Before) and the real-function ports
/// (KernelPorts), mutated deterministically (<see cref="Mutator"/>), every analyzer run and every
/// offered fix and Fix All computed (<see cref="FixExerciser"/>). Any exception fails, with the
/// mutant's number, seed and mutations, and the stack. Bounded for CI; <c>MMU_MUTANTS=10000</c>
/// runs a long campaign, <c>MMU_MUTANT_SEED</c> picks another campaign, <c>MMU_MUTANT_FIRST</c>
/// (with <c>MMU_MUTANTS=1</c>) replays one mutant, <c>MMU_MUTANT_WORKERS</c> sets how many run at
/// once (default: one per core), and <c>MMU_MUTANT_DUMP=folder</c> writes each failing mutant's
/// source there.
/// </summary>
public sealed class MutationTests
{
    // Measured: ~0.33 s of CPU a mutant (200 took 67 s of CPU), so ~100 s of CPU, about a minute
    // of the CI run on 2 cores. A long campaign of 10,000 took 26 minutes on one core.
    private const int CiMutants = 300;
    private const int DefaultSeed = 14;

    private static readonly TimeSpan MutantTimeout = TimeSpan.FromMinutes(2);

    private readonly ITestOutputHelper _output;

    public MutationTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task NoMutantMakesAnAnalyzerOrAFixThrow()
    {
        var count = Setting("MMU_MUTANTS", CiMutants);
        var seed = Setting("MMU_MUTANT_SEED", DefaultSeed);
        var first = Setting("MMU_MUTANT_FIRST", 0);
        var dump = Environment.GetEnvironmentVariable("MMU_MUTANT_DUMP");
        var units = PortCorpus.Units();
        var entries = units.SelectMany(u => Enumerable.Range(0, u.Files.Count).Select(i => (Unit: u, File: i))).ToList();
        var common = new[] { PortCorpus.SeedsCommon.Value };

        var failures = new List<(int Index, string Signature, string Report)>();
        var exercised = (Diagnostics: 0, Actions: 0, FixAlls: 0);
        var clock = Stopwatch.StartNew();
        var next = first;
        var workers = Enumerable.Range(0, Math.Max(1, Setting("MMU_MUTANT_WORKERS", Environment.ProcessorCount))).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var index = Interlocked.Increment(ref next) - 1;
                if (index >= first + count)
                {
                    return;
                }

                var mutant = Mutant(seed, index, entries);
                using var timeout = new CancellationTokenSource(MutantTimeout);
                IReadOnlyList<string> found;
                try
                {
                    var outcome = await FixExerciser.RunAsync(mutant.Sources, 1, common, timeout.Token);
                    found = outcome.Failures;
                    lock (failures)
                    {
                        exercised = (exercised.Diagnostics + outcome.Diagnostics.Count, exercised.Actions + outcome.Actions, exercised.FixAlls + outcome.FixAlls);
                    }
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    found = new[] { "timeout: not done after " + MutantTimeout };
                }
                catch (Exception e)
                {
                    // Not a fix's (FixExerciser catches those): the project could not be built or analyzed.
                    found = new[] { "harness:\n" + e };
                }

                if (found.Count == 0)
                {
                    continue;
                }

                if (dump is not null)
                {
                    Directory.CreateDirectory(dump);
                    File.WriteAllText(Path.Combine(dump, "mutant-" + seed + "-" + index + ".cs"), mutant.Sources[0].Text);
                }

                lock (failures)
                {
                    failures.AddRange(found.Select(f => (index, Signature(f), mutant.Name + "\n" + f)));
                }
            }
        })).ToList();
        await Task.WhenAll(workers);

        var summary = count + " mutants (seed " + seed + ", from #" + first + ") in " + clock.Elapsed.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture) + " s: "
            + exercised.Diagnostics + " diagnostics, " + exercised.Actions + " actions, " + exercised.FixAlls + " Fix All runs, " + failures.Count + " exception(s)";
        _output.WriteLine(summary);
        var distinct = failures.OrderBy(f => f.Index).GroupBy(f => f.Signature, StringComparer.Ordinal).ToList();
        Assert.True(
            failures.Count == 0,
            summary + ", " + distinct.Count + " distinct:\n\n"
            + string.Join("\n\n", distinct.Select(g => "[" + g.Count() + "x, mutants " + string.Join(", ", g.Select(f => f.Index).Distinct().Take(10)) + "] " + g.First().Report)));
    }

    /// <summary>Mutant <paramref name="index"/> of campaign <paramref name="seed"/>: the same numbers give the same mutant.</summary>
    private static (string Name, IReadOnlyList<(string Path, string Text)> Sources) Mutant(int seed, int index, List<(PortCorpus.Unit Unit, int File)> entries)
    {
        var random = new Random(unchecked((seed * 1_000_003) + index));
        var (unit, file) = entries[random.Next(entries.Count)];
        var (text, mutations) = Mutator.Mutate(unit.Files[file].Text, random);

        // The mutated file first (the one whose diagnostics are fixed), its unchanged siblings after.
        var sources = new List<(string Path, string Text)> { (unit.Files[file].Path, text) };
        sources.AddRange(unit.Files.Where((_, i) => i != file));
        var name = "mutant #" + index + " (seed " + seed + ") of " + unit.Files[file].Path + ": " + string.Join("; ", mutations);
        return (name, sources);
    }

    /// <summary>The exception's type and the first frame in the package: one crash however many mutants hit it.</summary>
    private static string Signature(string failure)
    {
        var lines = failure.Split('\n');
        var type = lines.Skip(1).FirstOrDefault()?.Split(':')[0].Trim() ?? failure;
        var frame = lines.FirstOrDefault(l => l.TrimStart().StartsWith("at MmuNotifierAnalyzers.", StringComparison.Ordinal) && !l.Contains(".Tests.", StringComparison.Ordinal))?.Trim();
        return type + " " + (frame is null ? lines[0] : frame.Split(" in ")[0]);
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;
}
