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

    /// <summary>Sleeping locks held (mutexes): a driver lock of the sequence protocol (MMU012),
    /// kept apart from <see cref="Locks"/>, under which nothing may sleep.</summary>
    public static readonly FactSetDomain<LockFact> Mutexes = new(3);

    /// <summary>Sequences read (<c>mmu_interval_read_begin</c>) and how far they have been checked.</summary>
    public static readonly FactSetDomain<SequenceFact> Sequences = new(4);

    /// <summary>Page lookups made (<c>hmm_range_fault</c>): a sequence must be read before them.</summary>
    public static readonly FactSetDomain<LookupFact> Lookups = new(5);

    /// <summary><c>mmu_interval_set_seq</c> calls made (an interval notifier's <c>-&gt;invalidate</c>).</summary>
    public static readonly FactSetDomain<SequenceSetFact> SequenceSets = new(6);

    /// <summary>Read/write semaphores held, with how and where they were taken: mmap_sem (MMU015;
    /// a lookup made under it stays valid while it is held, MMU012), or a driver's own rwsem that
    /// can be its driver lock (MMU012). Sleeping under them is allowed.</summary>
    public static readonly FactSetDomain<SemaphoreFact> Semaphores = new(7);

    /// <summary>Ranges whose <c>mmu_notifier_invalidate_range_start_nonblock</c> returned non-zero on
    /// the path: never started (every notifier already had its end), so no end and no page-table change.</summary>
    public static readonly FactSetDomain<RefusedRange> Refused = new(8);

    /// <summary>The <c>mmu_notifier_range</c> parameters the path has not proven blockable
    /// (<c>mmu_notifier_range_blockable(range)</c> tested true): a callback must not sleep there.</summary>
    public static readonly FactSetDomain<UnprovenBlockable> Unproven = new(9);

    public static readonly ImmutableArray<FactDomain> All = ImmutableArray.Create<FactDomain>(Ranges, Locks, Cleared, Mutexes, Sequences, Lookups, SequenceSets, Semaphores, Refused, Unproven);
}
