namespace Kernel.Mm;

/// <summary>
/// The twins of registration: an ops table the kernel no longer calls or that mixes the two
/// invalidation models (MMU001, MMU011, checked once per registration), and registration or
/// unregistration in a locking context that deadlocks or races (MMU015).
/// </summary>
internal static class RegistrationTwin
{
    /// <summary><paramref name="mn"/> is being registered on <paramref name="mm"/>: checks its ops
    /// table. MMU001 for <c>invalidate_page</c>; MMU011 for <c>invalidate_range</c> beside
    /// <c>invalidate_range_start</c>/<c>_end</c> (either form) or a start without an end.</summary>
    internal static void Registering(mmu_notifier mn, mm_struct mm, string function)
    {
        var ops = mn.ops;
        string who = $"{function}({mn.GetType().Name}, {mm})";
        if (ops.invalidate_page is not null)
        {
            MmRuntime.Report(
                RuleIdentifiers.InvalidatePageRemoved,
                $"{who}: the ops table sets invalidate_page, which was removed in 4.13 (it was called after the PT lock was dropped and ignored THP sizes): implement invalidate_range_start/end or invalidate_range instead");
        }

        bool start = ops.invalidate_range_start is not null || ops.invalidate_range_start_range is not null;
        bool end = ops.invalidate_range_end is not null || ops.invalidate_range_end_range is not null;
        if (ops.invalidate_range is not null && (start || end))
        {
            MmRuntime.Report(
                RuleIdentifiers.InconsistentNotifierOps,
                $"{who}: the ops table sets invalidate_range together with invalidate_range_{(start ? "start" : "end")}: a notifier implements one model, not both — invalidate_range for a secondary MMU that shares the CPU page table (IOMMU), start/end with a sequence for one that keeps its own (KVM, ODP)");
        }
        else if (start && !end)
        {
            MmRuntime.Report(
                RuleIdentifiers.InconsistentNotifierOps,
                $"{who}: the ops table sets invalidate_range_start without invalidate_range_end: nothing tells the driver the invalidation is over, so nothing can stop a fault from re-establishing what start zapped before the CPU page table changed (keep a count or sequence, raised in start and dropped in end)");
        }
    }

    /// <summary><c>mmu_notifier_register</c> is about to take <c>mmap_sem</c> for write: MMU015 when
    /// the caller already holds it (the kernel deadlocks; <c>__mmu_notifier_register</c> is the form
    /// for such callers). True when the caller may go on.</summary>
    internal static bool MayTakeMmapSem(mm_struct mm, string function)
    {
        if (!mm.mmap_sem.IsHeldByCurrentThread)
        {
            return true;
        }

        MmRuntime.Report(
            RuleIdentifiers.RegistrationMisuse,
            $"{function}({mm}) is called with {mm.mmap_sem.name} held by the caller ({(mm.mmap_sem.IsWriteLockedByCurrentThread ? "write" : "read")}): it takes mmap_sem for write itself, so this deadlocks; a caller that holds mmap_sem for write calls __mmu_notifier_register (the runtime returns -EDEADLK instead of hanging)");
        return false;
    }

    /// <summary>The kernel's <c>mmap_assert_write_locked</c>: MMU015 when the caller does not hold
    /// <paramref name="mm"/>'s mmap_sem for write (a registration racing the mm's other users).</summary>
    internal static void AssertMmapSemWriteLocked(mm_struct mm, string function)
    {
        if (!mm.mmap_sem.IsWriteLockedByCurrentThread)
        {
            MmRuntime.Report(
                RuleIdentifiers.RegistrationMisuse,
                $"{function}({mm}) is called without {mm.mmap_sem.name} held for write: __mmu_notifier_register is the form for callers that hold it; call mmu_notifier_register, which takes it");
        }
    }

    /// <summary><c>mmu_notifier_unregister</c> of <paramref name="mn"/>: MMU015 when called from inside
    /// a notifier callback on <paramref name="mm"/> (synchronize_srcu would wait for that callback:
    /// the kernel hangs). True when the caller may go on; after a report the runtime leaves the
    /// notifier registered, as the hung kernel would.</summary>
    internal static bool MayUnregister(mmu_notifier mn, mm_struct mm, string function)
    {
        if (!AtomicContext.State.SrcuReadSections.Contains(mm.srcu))
        {
            return true;
        }

        MmRuntime.Report(
            RuleIdentifiers.RegistrationMisuse,
            $"{function}({mn.GetType().Name}, {mm}) is called from inside a notifier callback on {mm}: it waits (synchronize_srcu) for every running callback, this one included, so it never returns; defer the teardown (mmu_notifier_put, a work item) or unregister from outside the callbacks (the runtime returns and leaves the notifier registered)");
        return false;
    }
}
