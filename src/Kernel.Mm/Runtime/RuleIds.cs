namespace Kernel.Mm;

/// <summary>
/// The one place the runtime twins take their rule ids from: the same ids (and names) as the
/// analyzers' <c>RuleIdentifiers</c>, so a runtime report and a build diagnostic of the same defect
/// carry the same id. Reports pass the constant to <see cref="MmRuntime.Report"/> and start their
/// message with it.
/// </summary>
internal static class RuleIds
{
    /// <summary><c>invalidate_page</c> is removed: use the range API.</summary>
    public const string InvalidatePageRemoved = "MMU001";

    /// <summary><c>invalidate_range_start</c> / <c>_end</c> unbalanced.</summary>
    public const string UnbalancedRange = "MMU002";

    /// <summary>Range arguments change between start and end.</summary>
    public const string RangeArgumentsChanged = "MMU003";

    /// <summary>A call that may sleep inside a callback that must not sleep.</summary>
    public const string SleepInAtomicCallback = "MMU004";

    /// <summary>A call that may sleep under a spinlock (or with preemption disabled).</summary>
    public const string SleepUnderSpinlock = "MMU005";

    /// <summary><c>invalidate_range</c> used without an enclosing start/end.</summary>
    public const string InvalidateRangeWithoutStartEnd = "MMU006";

    /// <summary>Range length counted in pages, not bytes.</summary>
    public const string RangeLengthInPages = "MMU007";

    /// <summary>Huge-page range start not aligned to the huge page.</summary>
    public const string HugePageRangeNotAligned = "MMU008";

    /// <summary><c>set_pte_at_notify</c> / <c>change_pte</c> outside start/end.</summary>
    public const string ChangePteWithoutStartEnd = "MMU009";

    /// <summary>Page released before its invalidation.</summary>
    public const string PageReleasedBeforeInvalidation = "MMU010";
}
