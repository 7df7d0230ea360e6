using System.Collections.Generic;
using System.Linq;

namespace MmuNotifierAnalyzers.Benchmarks.Corpus;

/// <summary>One generated source file (a made-up <c>mm/gen_NNNN.c</c> ported to C#).</summary>
internal sealed record CorpusFile(string Path, string Text);

/// <summary>
/// A defect the generator planted on purpose: <paramref name="Member"/> (a method or an ops
/// table field) of <paramref name="Path"/> must get <paramref name="Count"/> diagnostics
/// <paramref name="RuleId"/>. Everything else in the corpus is meant to be clean.
/// </summary>
internal sealed record PlantedDefect(string Path, string Member, string RuleId, int Count, string Pattern);

internal sealed class GeneratedCorpus
{
    public GeneratedCorpus(IReadOnlyList<CorpusFile> files, IReadOnlyList<PlantedDefect> defects, int functions)
    {
        Files = files;
        Defects = defects;
        Functions = functions;
        Lines = files.Sum(f => f.Text.Count(c => c == '\n'));
    }

    public IReadOnlyList<CorpusFile> Files { get; }

    public IReadOnlyList<PlantedDefect> Defects { get; }

    /// <summary>Methods in the corpus (callbacks and helper chains included).</summary>
    public int Functions { get; }

    public int Lines { get; }

    /// <summary>Diagnostics expected per rule id.</summary>
    public IReadOnlyDictionary<string, int> ExpectedPerRule =>
        Defects.GroupBy(d => d.RuleId).ToDictionary(g => g.Key, g => g.Sum(d => d.Count));
}
