using System.Collections.Immutable;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>
/// The property facts a path carries, one domain each. A new kind of fact is a domain here and
/// the transfer that sets it; disjuncts, joins and the result need nothing else.
/// </summary>
internal static class Domains
{
    /// <summary>Invalidation ranges started and not yet ended, with their argument values.</summary>
    public static readonly FactSetDomain<RangeFact> Ranges = new(0);

    /// <summary>Spinlocks held, with where and how they were taken.</summary>
    public static readonly FactSetDomain<LockFact> Locks = new(1);

    /// <summary>Page-table entries cleared and not yet covered by an invalidation.</summary>
    public static readonly FactSetDomain<ClearedEntry> Cleared = new(2);

    /// <summary>Read/write semaphores held (mmap_sem), with how and where they were taken.</summary>
    public static readonly FactSetDomain<SemaphoreFact> Semaphores = new(3);

    public static readonly ImmutableArray<FactDomain> All = ImmutableArray.Create<FactDomain>(Ranges, Locks, Cleared, Semaphores);
}
