namespace Kernel.Mm;

/// <summary>
/// <c>struct mmu_notifier</c>: one secondary MMU's registration on an mm. Create it with
/// <c>new mmu_notifier { ops = my_ops }</c>, or subclass it to carry the driver's state (callbacks
/// receive it as <c>mn</c>; C's <c>container_of</c> becomes a cast).
/// </summary>
public partial class mmu_notifier
{
    /// <summary>The callbacks; an empty table unless set.</summary>
    public mmu_notifier_ops ops { get; init; } = new();

    /// <summary>The mm this notifier is registered on (null before registration).</summary>
    public mm_struct? mm { get; internal set; }

    internal bool registered;
    internal bool released;

    // struct hlist_node hlist: the link in mm.notifier_list. hlist_next is read without a lock by
    // the SRCU walkers; all three are written under mm.notifier_lock.
    internal mmu_notifier? hlist_next;
    internal mmu_notifier? hlist_prev;   // null for the first entry (the kernel's pprev at the head)
    internal bool hlist_hashed;          // !hlist_unhashed: linked on a list
}

/// <summary><c>enum mmu_notifier_event</c> (4.20): why the range is invalidated.</summary>
public enum mmu_notifier_event
{
    MMU_NOTIFY_UNMAP = 0,
    MMU_NOTIFY_CLEAR,
    MMU_NOTIFY_PROTECTION_VMA,
    MMU_NOTIFY_PROTECTION_PAGE,
    MMU_NOTIFY_SOFT_DIRTY,
    MMU_NOTIFY_RELEASE,
    MMU_NOTIFY_MIGRATE,
}

/// <summary><c>struct mmu_notifier_range</c> (4.20): the range being invalidated and why.
/// Fill it with <c>mmu_notifier_range_init</c>; do not change it between start and end (MMU003).</summary>
public sealed class mmu_notifier_range
{
    public vm_area_struct? vma { get; set; }

    public mm_struct mm { get; set; } = null!;

    public ulong start { get; set; }

    public ulong end { get; set; }

    /// <summary><c>MMU_NOTIFIER_RANGE_BLOCKABLE</c> when the callbacks may sleep.</summary>
    public uint flags { get; set; }

    public mmu_notifier_event @event { get; set; }

    /// <summary>The <c>migrate_pgmap_owner</c> of a <c>MMU_NOTIFY_MIGRATE</c> invalidation (5.9+): a
    /// device driver may ignore the invalidation of its own device-private pages, which the
    /// migration itself takes care of.</summary>
    public object? owner { get; set; }

    /// <summary>The values the runtime last checked this range with (MMU007 / MMU008), so the same
    /// bad range is reported once, not again at its start and end.</summary>
    internal (ulong start, ulong end)? checked_values;

    public override string ToString() => $"[0x{start:x}, 0x{end:x}) on {mm} ({@event})";
}

/// <summary>
/// <c>-&gt;invalidate</c> of an interval notifier (5.5): [range.start, range.end) overlapping the
/// notifier's interval is being invalidated. The driver takes its lock, calls
/// <c>mmu_interval_set_seq(sub, cur_seq)</c> and drops its mappings. It may sleep only when
/// <c>mmu_notifier_range_blockable(range)</c>; otherwise it returns false if it would have to.
/// </summary>
public delegate bool mmu_interval_invalidate_fn(mmu_interval_notifier sub, mmu_notifier_range range, ulong cur_seq);

/// <summary><c>struct mmu_interval_notifier_ops</c>.</summary>
public sealed class mmu_interval_notifier_ops
{
    /// <inheritdoc cref="mmu_interval_invalidate_fn"/>
    public mmu_interval_invalidate_fn? invalidate { get; init; }
}

/// <summary>
/// <c>struct mmu_interval_notifier</c> (5.5): a notifier for one interval [start, start+length) of an
/// mm, with the invalidation sequence of the read_begin / read_retry protocol. Subclass it to carry
/// the driver's state.
/// </summary>
public class mmu_interval_notifier
{
    internal readonly interval_tree_node interval_tree = new();
    internal mmu_interval_notifier_ops? ops_;
    internal ulong invalidate_seq;
    internal bool in_tree;
    internal bool deferred_insert;
    internal bool deferred_remove;
    internal int all_index;   // position in the mm's flat list (the linear-lookup baseline)

    public mmu_interval_notifier()
    {
        interval_tree.owner = this;
    }

    public mm_struct? mm { get; internal set; }

    public mmu_interval_notifier_ops? ops => ops_;

    /// <summary>First byte of the interval.</summary>
    public ulong start => interval_tree.start;

    /// <summary>Last byte of the interval (inclusive, like the kernel's <c>last</c>).</summary>
    public ulong last => interval_tree.last;
}
