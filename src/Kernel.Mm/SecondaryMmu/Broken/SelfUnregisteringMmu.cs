using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// A deliberately broken secondary MMU (MMU015): when the address space goes away its
/// <c>-&gt;release</c> tears the device context down by calling <c>mmu_notifier_unregister</c>
/// on its own notifier. <c>-&gt;release</c> runs inside the notifiers' SRCU read section and
/// unregister waits for that section (<c>synchronize_srcu</c>): in the kernel the exit path
/// hangs. The fix defers the teardown (<c>mmu_notifier_put</c>, a work item). The runtime
/// reports the call and leaves the notifier registered, as the hung kernel would.
/// </summary>
public sealed class SelfUnregisteringMmu : SecondaryMmuBase
{
    private sealed class context_notifier : mmu_notifier
    {
        internal context_notifier(SelfUnregisteringMmu mmu) => this.mmu = mmu;

        internal readonly SelfUnregisteringMmu mmu;
    }

    private static readonly mmu_notifier_ops context_ops = new()
    {
        invalidate_range = context_invalidate_range,
        release = context_release,
    };

    private readonly spinlock_t context_lock;

    /// <summary>Creates the device context and registers its notifier on <paramref name="mm"/>.</summary>
    public SelfUnregisteringMmu(mm_struct mm, string name = "self-unregistering")
        : base(mm, name)
    {
        context_lock = new spinlock_t(name + "->context_lock");
        register_notifier(new context_notifier(this) { ops = context_ops });
    }

    /// <summary>True once <c>-&gt;release</c> ran.</summary>
    public bool Released { get; private set; }

    private static void context_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        SelfUnregisteringMmu mmu = ((context_notifier)mn).mmu;
        spin_lock(mmu.context_lock);
        int flushed = mmu.zap(start, end);
        spin_unlock(mmu.context_lock);
        mmu.Steps.Add($"invalidate_range {MmuStepLog.Range(start, end)}: flushed {flushed}");
    }

    private static void context_release(mmu_notifier mn, mm_struct mm)
    {
        SelfUnregisteringMmu mmu = ((context_notifier)mn).mmu;
        spin_lock(mmu.context_lock);
        int flushed = mmu.zap(0, ulong.MaxValue);
        spin_unlock(mmu.context_lock);
        mmu.Released = true;
        mmu.Steps.Add($"release: flushed {flushed}, unregistering");
        mmu_notifier_unregister(mn, mm);   // expect: MMU015 (from inside the callback; unregister waits for it)
    }
}
