namespace MmuNotifierAnalyzers;

/// <summary>
/// The rule ids: the one list, compiled into both the analyzers and Kernel.Mm (a linked source
/// file, since the analyzer assembly can load no dependency), so a build diagnostic and the
/// runtime twin's report of the same defect carry the same id.
/// </summary>
internal static partial class RuleIdentifiers
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

    /// <summary><c>invalidate_range</c> (or a <c>*_notify</c> helper) outside start/end.</summary>
    public const string InvalidateRangeOutsideRange = "MMU006";

    /// <summary>Range length counted in pages, not bytes.</summary>
    public const string RangeLengthInPages = "MMU007";

    /// <summary>Huge-page range start not aligned to the huge page.</summary>
    public const string HugeRangeNotAligned = "MMU008";

    /// <summary><c>set_pte_at_notify</c> / <c>change_pte</c> outside start/end.</summary>
    public const string ChangePteOutsideRange = "MMU009";

    /// <summary>Page released before its invalidation.</summary>
    public const string PageReleasedBeforeInvalidation = "MMU010";

    /// <summary>A present page-table entry of a user mm changed with no invalidation window.</summary>
    public const string EntryChangedWithoutInvalidation = "MMU013";

    /// <summary>A malformed line in a configuration file (a may-sleep list).</summary>
    public const string InvalidConfiguration = "MMU900";
}
