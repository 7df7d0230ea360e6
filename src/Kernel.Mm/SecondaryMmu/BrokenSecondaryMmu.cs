using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// A deliberately broken secondary MMU, for tests and the race demo: it implements
/// <c>invalidate_range_start</c> only (no end, no <c>invalidate_range</c>) and its fault path
/// has no sequence number or active-invalidation count. Exactly what seed 000 warns about:
/// "nothing prevent[s] them to undo what was invalidated in their range_start() callback after
/// it returns but before any CPU page table update take place". The runtime reports its ops
/// table at registration (MMU011: a start without an end) and the coherence checker catches the
/// translation it re-installs.
/// </summary>
public sealed class BrokenSecondaryMmu : SecondaryMmuBase
{
    private sealed class broken_notifier : mmu_notifier
    {
        internal broken_notifier(BrokenSecondaryMmu mmu) => this.mmu = mmu;

        internal readonly BrokenSecondaryMmu mmu;
    }

    // MMU011: a start without an end, and no count or sequence that an end would drop.
    private static readonly mmu_notifier_ops broken_ops = new()
    {
        invalidate_range_start = broken_invalidate_range_start,   // expect: MMU011
    };

    private readonly spinlock_t table_lock;

    /// <summary>Creates the MMU and registers its (start-only) notifier on <paramref name="mm"/>.</summary>
    public BrokenSecondaryMmu(mm_struct mm, string name = "broken")
        : base(mm, name)
    {
        table_lock = new spinlock_t(name + "->table_lock");
        register_notifier(new broken_notifier(this) { ops = broken_ops });
    }

    /// <summary>
    /// The broken fault path: look the page up (with a gup reference), install, drop the
    /// reference. No sequence read, no retry: an invalidation that runs between lookup and
    /// install is silently undone, and the page can be freed while still mapped here.
    /// </summary>
    public SecondaryFaultResult Fault(ulong address, bool write)
    {
        ulong hva = address & PAGE_MASK;
        page? page = secondary_walk.get_user_page(Mm, hva, write, out bool writable);
        if (page is null)
        {
            Steps.Add($"fault 0x{hva:x} -> no page, failed");
            return SecondaryFaultResult.Failed;
        }

        // The window a correct client closes with its sequence check.
        cond_resched();

        spin_lock(table_lock);
        install(hva, new secondary_pte(page, writable));
        spin_unlock(table_lock);
        Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, installed (no sequence check)");

        // Like KVM, the entry keeps no reference; unlike KVM, nothing guarantees an invalidation
        // will remove it before the page goes.
        put_page(page);
        return SecondaryFaultResult.Installed;
    }

    private static void broken_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        BrokenSecondaryMmu mmu = ((broken_notifier)mn).mmu;
        spin_lock(mmu.table_lock);
        int zapped = mmu.zap(start, end);
        spin_unlock(mmu.table_lock);
        mmu.Steps.Add($"invalidate_range_start {MmuStepLog.Range(start, end)}: zapped {zapped}");
    }
}
