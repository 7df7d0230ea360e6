namespace Kernel.Mm.SecondaryMmu;

/// <summary>What the <see cref="CoherenceChecker"/> found wrong.</summary>
public enum CoherenceViolationKind
{
    /// <summary>After every invalidation covering the address ended, the secondary MMU still
    /// translates it to a page the CPU page table no longer maps there (id
    /// <see cref="CoherenceChecker.StaleTranslationId"/>).</summary>
    StaleTranslation,

    /// <summary>A page was freed (refcount reached zero) while a secondary MMU still maps it
    /// (id <see cref="CoherenceChecker.FreedWhileMappedId"/>, rule MMU010).</summary>
    FreedWhileMapped,
}

/// <summary>One violation found by the <see cref="CoherenceChecker"/>.</summary>
/// <param name="RuleId">The id it was reported under: <c>COHERENCE</c> or <c>MMU010</c>.</param>
/// <param name="Kind">What went wrong.</param>
/// <param name="Mmu">The secondary MMU's name.</param>
/// <param name="Address">The page-aligned virtual address of the translation.</param>
/// <param name="SecondaryPfn">The page frame the secondary MMU maps there.</param>
/// <param name="CpuPfn">The page frame the CPU maps there, or null when nothing is mapped.</param>
/// <param name="Message">The report's text (starts with the rule id).</param>
public sealed record CoherenceViolation(
    string RuleId,
    CoherenceViolationKind Kind,
    string Mmu,
    ulong Address,
    ulong SecondaryPfn,
    ulong? CpuPfn,
    string Message)
{
    /// <inheritdoc/>
    public override string ToString() => Message;
}
