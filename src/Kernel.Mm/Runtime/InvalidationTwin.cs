using System;
using System.Collections.Generic;
using static Kernel.Mm.Linux;

namespace Kernel.Mm;

/// <summary>
/// The twins of the invalidation bracket, kept out of the ported kernel code: the ranges each
/// thread has open (MMU002 / MMU003), whether a notification or a page-table change is covered by
/// one (MMU006, MMU009, MMU013), the non-blockable starts a notifier refused (MMU014), and the
/// cleared entries still waiting for their invalidation (MMU010). <c>Linux/*.cs</c> calls one hook
/// per event, as the kernel calls lockdep annotations.
/// </summary>
internal static class InvalidationTwin
{
    /// <summary>Guards the accounting of every mm (open ranges, pending clears).</summary>
    internal static readonly object Lock = new();

    /// <summary>How many refused non-blockable starts a thread remembers: an OOM reaper that handles
    /// -EAGAIN correctly never ends them, so the list must not grow with every refusal.</summary>
    private const int RefusedKept = 8;

    // ---- the bracket: start, refusal, end ----------------------------------------------------

    /// <summary>A start opened [start, end) (as the caller passed it; the notifiers were told
    /// <paramref name="cover"/>). <paramref name="range"/> is null for the legacy (mm, start, end) form.</summary>
    internal static OpenInvalidation Started(mm_struct mm, ulong start, ulong end, (ulong start, ulong end) cover, mmu_notifier_range? range)
    {
        ReportUncoveredChanges();
        var open = new OpenInvalidation(mm, start, end, cover.start, cover.end, range);
        lock (Lock)
        {
            mm.open_ranges.Add(open);
        }

        var state = AtomicContext.State;
        state.OpenRanges.Add(open);
        if (range is not null)
        {
            state.RefusedRanges.Remove(range);
        }

        return open;
    }

    /// <summary>A start that some notifier refused (or that failed): the range counts as never
    /// opened. A non-blockable one is remembered, so that ending it, or changing page tables under
    /// it, is reported as MMU014.</summary>
    internal static void Refused(OpenInvalidation open, bool nonBlockable)
    {
        Close(open);
        if (nonBlockable && open.range is { } range)
        {
            var refused = AtomicContext.State.RefusedRanges;
            if (refused.Count == RefusedKept)
            {
                refused.RemoveAt(0);
            }

            refused.Add(range);
        }
    }

    /// <summary>Pairs an end with the start it closes: MMU014 for the end of a refused
    /// non-blockable start, MMU003 for a range changed in between, MMU002 for no start at all.</summary>
    internal static void Ended(mm_struct mm, ulong start, ulong end, mmu_notifier_range? range, string function)
    {
        ReportUncoveredChanges();
        var mine = AtomicContext.State.OpenRanges;
        OpenInvalidation? exact = null;
        OpenInvalidation? innermost = null;
        for (int i = mine.Count - 1; i >= 0; i--)
        {
            var o = mine[i];
            if (!ReferenceEquals(o.mm, mm))
            {
                continue;
            }

            innermost ??= o;
            if (range is not null && ReferenceEquals(o.range, range))
            {
                exact = o;
                break;
            }

            if (range is null && o.range is null && o.start == start && o.end == end)
            {
                exact = o;
                break;
            }

            if (exact is null && o.start == start && o.end == end)
            {
                exact = o;
            }
        }

        if (exact is not null)
        {
            Close(exact);
            if (exact.start != start || exact.end != end)
            {
                MmRuntime.Report(
                    RuleIdentifiers.RangeArgumentsChanged,
                    $"{function}({mm}, 0x{start:x}, 0x{end:x}) closes a range started as [0x{exact.start:x}, 0x{exact.end:x}): the mmu_notifier_range was changed between start and end; capture the range once (mmun_start/mmun_end) and pass the same values to both");
            }

            return;
        }

        if (range is not null && AtomicContext.State.RefusedRanges.Remove(range))
        {
            MmRuntime.Report(
                RuleIdentifiers.NonBlockableMisuse,
                $"{function}({range}) ends a range whose mmu_notifier_invalidate_range_start_nonblock returned -EAGAIN: the range was never started (the notifiers that had started were already ended); on -EAGAIN give up without calling end, as __oom_reap_task_mm does");
            return;
        }

        if (innermost is not null)
        {
            Close(innermost);
            MmRuntime.Report(
                RuleIdentifiers.RangeArgumentsChanged,
                $"{function}({mm}, 0x{start:x}, 0x{end:x}) does not match its start [0x{innermost.start:x}, 0x{innermost.end:x}): end must get the same range as start (capture it in mmun_start/mmun_end)");
            return;
        }

        // Started on another thread (a handoff the kernel allows): accept an exact match.
        lock (Lock)
        {
            foreach (var o in mm.open_ranges)
            {
                if (o.start == start && o.end == end && (range is null || o.range is null || ReferenceEquals(o.range, range)))
                {
                    mm.open_ranges.Remove(o);
                    return;
                }
            }
        }

        MmRuntime.Report(
            RuleIdentifiers.UnbalancedRange,
            $"{function}({mm}, 0x{start:x}, 0x{end:x}) has no matching mmu_notifier_invalidate_range_start open on this mm: unbalanced start/end");
    }

    /// <summary>True when the current thread has an open start/end on <paramref name="mm"/> covering [start, end).</summary>
    internal static bool Covers(mm_struct mm, ulong start, ulong end)
    {
        var mine = AtomicContext.State.OpenRanges;
        for (int i = mine.Count - 1; i >= 0; i--)
        {
            var o = mine[i];
            if (ReferenceEquals(o.mm, mm) && o.cover_start <= start && end <= o.cover_end)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when a start with exactly these (unrounded) values is open on <paramref name="mm"/>
    /// (on any thread): its MMU007 / MMU008 report, if any, was made then.</summary>
    internal static bool OpenedWith(mm_struct mm, ulong start, ulong end)
    {
        lock (Lock)
        {
            foreach (var o in mm.open_ranges)
            {
                if (o.start == start && o.end == end)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>mmput with a start still open on the mm: the MMU002 message, reported by the caller
    /// after the teardown (so a throwing sink leaves no half-torn-down mm); null when all closed.</summary>
    internal static string? OpenAtTeardown(mm_struct mm)
    {
        ReportUncoveredChanges();
        lock (Lock)
        {
            if (mm.open_ranges.Count == 0)
            {
                return null;
            }

            var o = mm.open_ranges[^1];
            return $"{RuleIdentifiers.UnbalancedRange}: mmput({mm}) tears down the mm with mmu_notifier_invalidate_range_start(start=0x{o.start:x}, end=0x{o.end:x}) still open ({mm.open_ranges.Count} open range(s)): every start needs its invalidate_range_end";
        }
    }

    /// <summary>A kthread exits: a start it left open is MMU002.</summary>
    internal static void ThreadExiting(string name)
    {
        ReportUncoveredChanges();
        var open = AtomicContext.State.OpenRanges;
        if (open.Count > 0)
        {
            var o = open[^1];
            MmRuntime.Report(
                RuleIdentifiers.UnbalancedRange,
                $"kthread '{name}' exited with mmu_notifier_invalidate_range_start(mm={o.mm}, start=0x{o.start:x}, end=0x{o.end:x}) still open ({open.Count} open range(s)): every start needs its invalidate_range_end");
        }
    }

    // ---- notifications that must be inside the bracket ---------------------------------------

    /// <summary><c>-&gt;invalidate_range</c> (or a <c>*_clear_flush_notify</c>) for the page-rounded
    /// [start, end): MMU006 when no open start/end of the thread covers it.</summary>
    internal static void InvalidateRangeCalled(mm_struct mm, ulong start, ulong end, (ulong start, ulong end) cover, string function)
    {
        Notified(mm, cover.start, cover.end);
        if (!Covers(mm, cover.start, cover.end))
        {
            MmRuntime.Report(
                RuleIdentifiers.InvalidateRangeOutsideRange,
                $"{function}({mm}, 0x{start:x}, 0x{end:x}) is not inside an open mmu_notifier_invalidate_range_start/end covering the range: ->invalidate_range alone is a no-op for start/end notifiers (KVM); bracket the update with start/end outside the PT lock");
        }
    }

    /// <summary><c>-&gt;change_pte</c> for <paramref name="address"/>: MMU009 when no open start/end covers it.</summary>
    internal static void ChangePteCalled(mm_struct mm, ulong address, string function)
    {
        ulong start = address & PAGE_MASK;
        Notified(mm, start, start + PAGE_SIZE);
        if (!Covers(mm, start, start + PAGE_SIZE))
        {
            MmRuntime.Report(
                RuleIdentifiers.ChangePteOutsideRange,
                $"{function}({mm}, 0x{address:x}) is not inside an open mmu_notifier_invalidate_range_start/end covering the address: bracket the PTE change with start/end (as do_wp_page does since 2014)");
        }
    }

    /// <summary>The legacy <c>mmu_notifier_invalidate_page</c> was called: MMU001.</summary>
    internal static void InvalidatePageCalled(mm_struct mm, ulong address)
    {
        Notified(mm, address & PAGE_MASK, (address & PAGE_MASK) + PAGE_SIZE);
        MmRuntime.Report(
            RuleIdentifiers.InvalidatePageRemoved,
            $"mmu_notifier_invalidate_page({mm}, 0x{address:x}) is the legacy API removed in 4.13: bracket the page-table update with mmu_notifier_invalidate_range_start/end (and mmu_notifier_invalidate_range under the PT lock)");
    }

    // ---- page-table changes (MMU013, MMU014, MMU010) -----------------------------------------

    /// <summary>
    /// A present entry of <paramref name="mm"/> at [address, address + size) was cleared, replaced
    /// by one mapping another page, or downgraded (write or dirty bit dropped): the page-table
    /// primitives call this after the change. With notifiers registered (a user mm: a kernel mm
    /// has none), a change no open start/end of the thread covers is MMU013 (MMU014 when it lies
    /// in a range whose non-blockable start was refused). <paramref name="notified"/>: the caller
    /// tells the notifiers itself (a <c>*_notify</c> helper), judged by MMU006 / MMU009 instead.
    /// <paramref name="cleared"/>: the entry no longer maps <paramref name="old"/>'s page, which
    /// then waits for its invalidation (MMU010).
    /// </summary>
    /// <remarks>
    /// The report waits (with the stack of the change) until the thread next opens or closes a
    /// range, or exits, or tears an mm down (mmput): pre-4.13 code notifies after the change,
    /// with <c>invalidate_page</c> (or <c>invalidate_range</c>) once the PT lock is dropped, and
    /// such a change belongs to the rule that judges that notification (MMU001 / MMU006 / MMU009),
    /// as for the analyzer: MMU013 is the change no notifier hears at all.
    /// </remarks>
    internal static void EntryChanged(mm_struct mm, ulong address, ulong size, pte_t old, bool cleared, bool notified, string function)
    {
        if (!notified && mm_has_notifiers(mm) && !Covers(mm, address, address + size))
        {
            var stack = new System.Diagnostics.StackTrace(1, true).ToString();
            AtomicContext.State.UncoveredChanges.Add(new UncoveredChange(mm, address, size, cleared, function, stack));
        }

        if (cleared)
        {
            RecordClear(mm, address, size, old, function);
        }
    }

    /// <summary>Reports the thread's uncovered changes that no notification followed (MMU013, or
    /// MMU014 inside a refused non-blockable range), each with the stack of its change.</summary>
    internal static void ReportUncoveredChanges()
    {
        var state = AtomicContext.State;
        var changes = state.UncoveredChanges;
        if (changes.Count == 0)
        {
            return;
        }

        var pending = changes.ToArray();
        changes.Clear();
        foreach (var c in pending)
        {
            string what = c.Cleared ? "clears" : "downgrades";
            var refused = state.RefusedRanges.Find(r => ReferenceEquals(r.mm, c.Mm) && r.start <= c.Address && c.Address + c.Size <= r.end);
            if (refused is not null)
            {
                MmRuntime.Report(
                    RuleIdentifiers.NonBlockableMisuse,
                    $"{c.Function}({c.Mm}, 0x{c.Address:x}) {what} an entry in {refused}, whose mmu_notifier_invalidate_range_start_nonblock returned -EAGAIN: the notifiers were not told, a secondary MMU keeps the old translation; on -EAGAIN skip the range (the OOM reaper retries later)",
                    c.Stack);
                continue;
            }

            MmRuntime.Report(
                RuleIdentifiers.EntryChangedWithoutInvalidation,
                $"{c.Function}({c.Mm}, 0x{c.Address:x}) {what} a present entry of a user mm with MMU notifiers registered while no mmu_notifier_invalidate_range_start/end covers [0x{c.Address:x}, 0x{c.Address + c.Size:x}), and no notifier heard of it: a secondary MMU keeps the old translation; bracket the walk with start/end outside the page-table lock (as the soft-dirty, THP NUMA and khugepaged fixes did)",
                c.Stack);
        }
    }

    /// <summary>A notification (invalidate_page, invalidate_range, change_pte) reached the notifiers
    /// for [start, end): the thread's uncovered changes in it are judged by that call's rule.</summary>
    private static void Notified(mm_struct mm, ulong start, ulong end)
    {
        // No closure: the dispatch paths allocate nothing per call.
        var changes = AtomicContext.State.UncoveredChanges;
        for (int i = changes.Count - 1; i >= 0; i--)
        {
            var c = changes[i];
            if (ReferenceEquals(c.Mm, mm) && start <= c.Address && c.Address + c.Size <= end)
            {
                changes.RemoveAt(i);
            }
        }
    }

    private static void RecordClear(mm_struct mm, ulong address, ulong size, pte_t old, string function)
    {
        ulong pfn = pte_pfn(old);
        if (!pfn_valid(pfn))
        {
            return;
        }

        var head = compound_head(pfn_to_page(pfn));
        if (head.IsFree || (head.flags & pageflags.PG_table) != 0)
        {
            return;
        }

        var record = new pte_clear_record(mm, address, size, pfn, head, function);
        lock (Lock)
        {
            (head.pending_clears ??= new List<pte_clear_record>()).Add(record);
            mm.pending_clears.Add(record);
        }
    }

    /// <summary>[start, end) of <paramref name="mm"/> was invalidated in every secondary MMU: the
    /// entries cleared in it no longer wait (MMU010).</summary>
    internal static void Invalidated(mm_struct mm, ulong start, ulong end)
    {
        lock (Lock)
        {
            var list = mm.pending_clears;
            for (int i = list.Count - 1; i >= 0; i--)
            {
                var r = list[i];
                if (start <= r.address && r.address + r.size <= end)
                {
                    list.RemoveAt(i);
                    r.head.pending_clears?.Remove(r);
                }
            }
        }
    }

    /// <summary>The MMU010 message for a page being freed, or null; forgets its pending clears.</summary>
    internal static string? FreedBeforeInvalidation(page head, string function)
    {
        pte_clear_record? first = null;
        lock (Lock)
        {
            var list = head.pending_clears;
            if (list is null || list.Count == 0)
            {
                return null;
            }

            first = list[0];
            foreach (var r in list)
            {
                r.mm.pending_clears.Remove(r);
            }

            head.pending_clears = null;
        }

        return
            $"{RuleIdentifiers.PageReleasedBeforeInvalidation}: {function}(pfn 0x{head.pfn:x}) frees the page while the PTE that mapped it ({first.mm}, address 0x{first.address:x}, cleared by {first.function}) is not yet covered by a completed invalidation (mmu_notifier_invalidate_range, invalidate_range_end or invalidate_page): a secondary MMU may still map the page; must invalidate _before_ freeing the page";
    }

    internal sealed record UncoveredChange(mm_struct Mm, ulong Address, ulong Size, bool Cleared, string Function, string Stack);

    private static void Close(OpenInvalidation open)
    {
        lock (Lock)
        {
            open.mm.open_ranges.Remove(open);
        }

        AtomicContext.State.OpenRanges.Remove(open);
    }
}

/// <summary>An invalidation opened by mmu_notifier_invalidate_range_start and not yet ended.</summary>
internal sealed class OpenInvalidation
{
    public OpenInvalidation(mm_struct mm, ulong start, ulong end, ulong cover_start, ulong cover_end, mmu_notifier_range? range)
    {
        this.mm = mm;
        this.start = start;
        this.end = end;
        this.cover_start = cover_start;
        this.cover_end = cover_end;
        this.range = range;
    }

    public readonly mm_struct mm;

    // The values start was called with: an end must pass the same (MMU002 / MMU003).
    public readonly ulong start;
    public readonly ulong end;

    // The range the notifiers were told about: [start, end) rounded out to whole pages.
    public readonly ulong cover_start;
    public readonly ulong cover_end;
    public readonly mmu_notifier_range? range;
}

/// <summary>A PTE/PMD that mapped a page was cleared; pending until an invalidation covers it (MMU010).</summary>
internal sealed class pte_clear_record
{
    public pte_clear_record(mm_struct mm, ulong address, ulong size, ulong pfn, page head, string function)
    {
        this.mm = mm;
        this.address = address;
        this.size = size;
        this.pfn = pfn;
        this.head = head;
        this.function = function;
    }

    public readonly mm_struct mm;
    public readonly ulong address;
    public readonly ulong size;
    public readonly ulong pfn;          // the pfn the entry mapped at address (the first one, for a huge entry)
    public readonly page head;
    public readonly string function;
}
