using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// A deliberately broken secondary MMU (MMU011) that mixes the two invalidation models, as seed
/// 003 says no notifier may: it keeps its own table (so it needs start/end with a sequence) but
/// implements <c>invalidate_range_start</c> to zap and <c>invalidate_range</c> to flush, trusting
/// the flush under the page-table lock to catch what a fault installed in between. It cannot: a
/// fault that looked the page up before the PTE changed installs it after the flush, and no end
/// or sequence stops it. The runtime reports the ops table at registration; the coherence checker
/// reports the stale translation.
/// </summary>
public sealed class MixedModelMmu : SecondaryMmuBase
{
    private sealed class mixed_notifier : mmu_notifier
    {
        internal mixed_notifier(MixedModelMmu mmu) => this.mmu = mmu;

        internal readonly MixedModelMmu mmu;
    }

    // MMU011: invalidate_range together with invalidate_range_start.
    private static readonly mmu_notifier_ops mixed_ops = new()
    {
        invalidate_range_start = mixed_invalidate_range_start,
        invalidate_range = mixed_invalidate_range,   // expect: MMU011
    };

    private readonly spinlock_t table_lock;

    /// <summary>Creates the MMU and registers its notifier on <paramref name="mm"/>.</summary>
    public MixedModelMmu(mm_struct mm, string name = "mixed")
        : base(mm, name)
    {
        table_lock = new spinlock_t(name + "->table_lock");
        register_notifier(new mixed_notifier(this) { ops = mixed_ops });
    }

    /// <summary>The fault path: look up, install (no sequence: the model it chose has none).</summary>
    public SecondaryFaultResult Fault(ulong address, bool write)
    {
        ulong hva = address & PAGE_MASK;
        page? page = secondary_walk.get_user_page(Mm, hva, write, out bool writable);
        if (page is null)
        {
            Steps.Add($"fault 0x{hva:x} -> no page, failed");
            return SecondaryFaultResult.Failed;
        }

        cond_resched();

        spin_lock(table_lock);
        install(hva, new secondary_pte(page, writable));
        spin_unlock(table_lock);
        put_page(page);
        Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, installed");
        return SecondaryFaultResult.Installed;
    }

    private static void mixed_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        MixedModelMmu mmu = ((mixed_notifier)mn).mmu;
        spin_lock(mmu.table_lock);
        int zapped = mmu.zap(start, end);
        spin_unlock(mmu.table_lock);
        mmu.Steps.Add($"invalidate_range_start {MmuStepLog.Range(start, end)}: zapped {zapped}");
    }

    private static void mixed_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        MixedModelMmu mmu = ((mixed_notifier)mn).mmu;
        spin_lock(mmu.table_lock);
        int flushed = mmu.zap(start, end);
        spin_unlock(mmu.table_lock);
        mmu.Steps.Add($"invalidate_range {MmuStepLog.Range(start, end)}: flushed {flushed}");
    }
}
