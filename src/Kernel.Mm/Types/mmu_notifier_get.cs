namespace Kernel.Mm;

/// <summary>
/// <c>-&gt;alloc_notifier</c> (5.4): allocate the driver's notifier for <paramref name="mm"/> when
/// <c>mmu_notifier_get</c> finds none with these ops on it. Called with mmap_sem held for write;
/// return the notifier, or null for -ENOMEM. C's caller sets <c>mn-&gt;ops</c>; <c>ops</c> is init-only
/// here, so the notifier returned is built with this very table (<c>mmu_notifier_get_locked</c> checks).
/// </summary>
public delegate mmu_notifier? alloc_notifier_fn(mm_struct mm);

/// <summary>
/// <c>-&gt;free_notifier</c> (5.4): free a notifier whose last <c>mmu_notifier_put</c> reference is gone.
/// Called from an SRCU callback after a grace period, outside any notifier callback.
/// </summary>
public delegate void free_notifier_fn(mmu_notifier mn);

// The 5.4 get/put scheme's members of struct mmu_notifier_ops (2c7933f53f6b).
public sealed partial class mmu_notifier_ops
{
    /// <inheritdoc cref="alloc_notifier_fn"/>
    public alloc_notifier_fn? alloc_notifier { get; init; }

    /// <inheritdoc cref="free_notifier_fn"/>
    public free_notifier_fn? free_notifier { get; init; }
}

// struct mmu_notifier's 5.4 reference count of mmu_notifier_get/put.
public partial class mmu_notifier
{
    // mn->users: __mmu_notifier_register sets it to 1, mmu_notifier_get adds one; guarded by mm.notifier_lock.
    internal uint users = 1;
}
