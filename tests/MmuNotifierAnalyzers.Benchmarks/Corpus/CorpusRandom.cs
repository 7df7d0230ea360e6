namespace MmuNotifierAnalyzers.Benchmarks.Corpus;

/// <summary>
/// SplitMix64: a tiny generator whose sequence is fixed by its seed on every runtime and
/// platform (System.Random's is not a documented contract), so a corpus is byte-for-byte
/// the same wherever the benchmark runs.
/// </summary>
internal sealed class CorpusRandom
{
    private ulong _state;

    public CorpusRandom(ulong seed)
    {
        _state = seed;
    }

    /// <summary>A generator for one file that does not depend on how many files come after it,
    /// so the 2x corpus is the 1x corpus plus new files (scaling compares like with like).</summary>
    public static CorpusRandom ForFile(ulong seed, int file) => new(Mix(seed, (ulong)file, 0x46494C45UL));

    public static ulong Mix(ulong seed, ulong a, ulong b)
    {
        var random = new CorpusRandom(seed ^ (a * 0x9E3779B97F4A7C15UL) ^ (b * 0xC2B2AE3D27D4EB4FUL));
        return random.NextUInt64();
    }

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A value in [0, <paramref name="maxExclusive"/>).</summary>
    public int Next(int maxExclusive) => (int)(NextUInt64() % (ulong)maxExclusive);

    public bool Chance(int percent) => Next(100) < percent;
}
