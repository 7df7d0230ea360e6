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

    /// <summary>Ranges whose <c>mmu_notifier_invalidate_range_start_nonblock</c> returned non-zero on
    /// the path: never started (every notifier already had its end), so no end and no page-table change.</summary>
    public static readonly FactSetDomain<RefusedRange> Refused = new(3);

    /// <summary>The <c>mmu_notifier_range</c> parameters the path has not proven blockable
    /// (<c>mmu_notifier_range_blockable(range)</c> tested true): a callback must not sleep there.</summary>
    public static readonly FactSetDomain<UnprovenBlockable> Unproven = new(4);

    public static readonly ImmutableArray<FactDomain> All = ImmutableArray.Create<FactDomain>(Ranges, Locks, Cleared, Refused, Unproven);
}
