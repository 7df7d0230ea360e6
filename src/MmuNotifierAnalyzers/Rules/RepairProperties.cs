namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// What MMU001 (ops tables), MMU004 and MMU005 (allocations) tell their code fixes: diagnostic
/// property names and values shared by the analyzers and the fixes, so a fix reads what the
/// analysis proved instead of guessing it from names. A property is absent when the analysis did
/// not prove it; the fix then offers nothing for that repair.
/// </summary>
public static class RepairProperties
{
    /// <summary>MMU001 on an ops member: the same table sets a range callback
    /// (<c>invalidate_range_start</c>, <c>_end</c> or <c>invalidate_range</c>) to something non-null,
    /// which every invalidation since 4.13 reaches: <c>invalidate_page</c> can simply go.
    /// Value <see cref="True"/>.</summary>
    public const string TableHasRangeCallback = "TableHasRangeCallback";

    /// <summary>MMU001 on an ops member: the sleep oracle proved that the assigned callback may
    /// sleep, so it cannot become the atomic <c>invalidate_range</c> (that would be an MMU004).
    /// Value <see cref="True"/>.</summary>
    public const string CallbackMaySleep = "CallbackMaySleep";

    /// <summary>
    /// MMU004 and MMU005: the call that may sleep is a gfp allocator (<c>kmalloc</c>,
    /// <c>alloc_pages</c>, ...) that sleeps only because its flags, a constant, allow direct
    /// reclaim. The value is the ordinal of its <c>gfp_t</c> parameter. For MMU005 the lock's
    /// acquisition, when the method takes it itself, is the diagnostic's first additional
    /// location (<see cref="LockAcquisition"/> says so).
    /// </summary>
    public const string GfpParameter = "GfpParameter";

    /// <summary>MMU005: the diagnostic's first additional location is the call that took the held
    /// spinlock (absent when the lock is held on entry, <c>[MustHoldLock]</c>). Value <see cref="True"/>.</summary>
    public const string LockAcquisition = "LockAcquisition";

    /// <summary>The value of the flag properties above.</summary>
    public const string True = "true";
}
