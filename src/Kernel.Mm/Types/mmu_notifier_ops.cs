using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

/// <summary>
/// <c>->release</c>: the mm is going away (<c>exit_mmap</c>) or the notifier is being unregistered.
/// Called once, from <c>mmput</c> or <c>mmu_notifier_unregister</c>, in an SRCU read-side section,
/// with no spinlock held: it may sleep. After it returns the driver must stop touching the mm's
/// pages through its secondary MMU; the notifier is then unlinked (no further callbacks once
/// <c>synchronize_srcu</c> returned).
/// </summary>
public delegate void release_fn(mmu_notifier mn, mm_struct mm);

/// <summary>
/// <c>->invalidate_range_start</c>: the primary MMU is about to change or tear down the mappings of
/// [start, end). Called by <c>mmu_notifier_invalidate_range_start</c> before the page-table lock
/// is taken, with no spinlock held: it MAY SLEEP (unless the range is non-blockable). The driver
/// must drop its secondary mappings of the range now and must not establish new ones until the
/// matching <c>->invalidate_range_end</c> (KVM: an in-progress count plus a sequence number its
/// fault path re-checks).
/// </summary>
public delegate void invalidate_range_start_fn(mmu_notifier mn, mm_struct mm, ulong start, ulong end);

/// <summary>
/// <c>->invalidate_range_end</c>: the primary page tables of [start, end) are updated; secondary
/// mappings may be re-established. Called by <c>mmu_notifier_invalidate_range_end</c> after the
/// page-table lock was dropped, with no spinlock held: it MAY SLEEP. Exactly one end follows each
/// start, with the same range.
/// </summary>
public delegate void invalidate_range_end_fn(mmu_notifier mn, mm_struct mm, ulong start, ulong end);

/// <summary>
/// <c>->invalidate_range_start</c> in the form it has since 4.20 (<c>int (*)(struct mmu_notifier *,
/// const struct mmu_notifier_range *)</c>): the range arrives whole, with its event and flags. When
/// <c>mmu_notifier_range_blockable(range)</c> is false (the OOM reaper's
/// <c>mmu_notifier_invalidate_range_start_nonblock</c>) the callback must not sleep: it returns
/// <c>-EAGAIN</c> if it would have to, and 0 otherwise. C# cannot give one member two signatures, so
/// this form is the ops member <c>invalidate_range_start_range</c>; a table sets one form or the other.
/// </summary>
public delegate int invalidate_range_start_range_fn(mmu_notifier mn, mmu_notifier_range range);

/// <summary>
/// <c>->invalidate_range_end</c> in its 4.20+ form (<c>void (*)(struct mmu_notifier *, const struct
/// mmu_notifier_range *)</c>), the ops member <c>invalidate_range_end_range</c>: the same contract as
/// <see cref="invalidate_range_end_fn"/>, and it must not sleep either when the range is not blockable.
/// </summary>
public delegate void invalidate_range_end_range_fn(mmu_notifier mn, mmu_notifier_range range);

/// <summary>
/// <c>->invalidate_range</c>: for secondary MMUs that share the CPU page table (an IOMMU walking it):
/// flush the device TLB for [start, end). Called right after the page table was updated, UNDER THE
/// PAGE-TABLE SPINLOCK (by <c>mmu_notifier_invalidate_range</c>, <c>ptep_clear_flush_notify</c>,
/// <c>pmdp_huge_clear_flush_notify</c>) and implicitly from <c>invalidate_range_end</c>: it runs in
/// atomic context and MUST NOT SLEEP. It is not a replacement for start/end: a notifier implements
/// either this or the start/end pair ("either ... not both").
/// </summary>
[AtomicContext]
public delegate void invalidate_range_fn(mmu_notifier mn, mm_struct mm, ulong start, ulong end);

/// <summary>
/// <c>->invalidate_page</c> (legacy, removed in 4.13): the page at <paramref name="address"/> was
/// unmapped. It was called after the page-table lock was released but before the page was freed;
/// since 4.13 use the range callbacks. Registering an ops table that sets it is reported (MMU001).
/// </summary>
public delegate void invalidate_page_fn(mmu_notifier mn, mm_struct mm, ulong address);

/// <summary>
/// <c>->change_pte</c>: the PTE at <paramref name="address"/> now maps a different page
/// (<c>set_pte_at_notify</c>, KSM and COW). Called under the page-table spinlock, inside a
/// start/end pair: atomic context, MUST NOT SLEEP. With more than one start outstanding the driver
/// must not act on it (it might miss a later invalidation).
/// </summary>
[AtomicContext]
public delegate void change_pte_fn(mmu_notifier mn, mm_struct mm, ulong address, pte_t pte);

/// <summary>
/// <c>->clear_flush_young</c>: test and clear the accessed bit of the secondary mappings of
/// [start, end) and flush them; return nonzero if any was young. Called under the page-table
/// spinlock by <c>ptep_clear_flush_young_notify</c>: MUST NOT SLEEP.
/// </summary>
[AtomicContext]
public delegate int clear_flush_young_fn(mmu_notifier mn, mm_struct mm, ulong start, ulong end);

/// <summary>
/// <c>->clear_young</c>: like <c>clear_flush_young</c> without the flush. MUST NOT SLEEP.
/// </summary>
[AtomicContext]
public delegate int clear_young_fn(mmu_notifier mn, mm_struct mm, ulong start, ulong end);

/// <summary>
/// <c>->test_young</c>: return nonzero if the secondary mapping of <paramref name="address"/> was
/// accessed, without clearing it. Called under the page-table spinlock: MUST NOT SLEEP.
/// </summary>
[AtomicContext]
public delegate int test_young_fn(mmu_notifier mn, mm_struct mm, ulong address);

/// <summary>
/// <c>struct mmu_notifier_ops</c>: the callbacks of one secondary MMU, set once like C's designated
/// initializer (<c>new mmu_notifier_ops { invalidate_range_start = f, ... }</c>). Any member may be
/// left null. <c>invalidate_range_start</c> / <c>_end</c> exist in two forms, the pre-4.20
/// <c>(mn, mm, start, end)</c> and the 4.20+ <c>(mn, range)</c> (members suffixed <c>_range</c>); a
/// table sets at most one form of each (registration rejects both).
/// </summary>
public sealed partial class mmu_notifier_ops
{
    /// <inheritdoc cref="release_fn"/>
    public release_fn? release { get; init; }

    /// <inheritdoc cref="clear_flush_young_fn"/>
    public clear_flush_young_fn? clear_flush_young { get; init; }

    /// <inheritdoc cref="clear_young_fn"/>
    public clear_young_fn? clear_young { get; init; }

    /// <inheritdoc cref="test_young_fn"/>
    public test_young_fn? test_young { get; init; }

    /// <inheritdoc cref="change_pte_fn"/>
    public change_pte_fn? change_pte { get; init; }

    /// <inheritdoc cref="invalidate_page_fn"/>
    public invalidate_page_fn? invalidate_page { get; init; }

    /// <inheritdoc cref="invalidate_range_start_fn"/>
    public invalidate_range_start_fn? invalidate_range_start { get; init; }

    /// <inheritdoc cref="invalidate_range_end_fn"/>
    public invalidate_range_end_fn? invalidate_range_end { get; init; }

    /// <inheritdoc cref="invalidate_range_start_range_fn"/>
    public invalidate_range_start_range_fn? invalidate_range_start_range { get; init; }

    /// <inheritdoc cref="invalidate_range_end_range_fn"/>
    public invalidate_range_end_range_fn? invalidate_range_end_range { get; init; }

    /// <inheritdoc cref="invalidate_range_fn"/>
    public invalidate_range_fn? invalidate_range { get; init; }
}
