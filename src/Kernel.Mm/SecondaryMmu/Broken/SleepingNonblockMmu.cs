using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// A deliberately broken secondary MMU (MMU014) in the 4.20 callback form: its coherence
/// protocol is KVM's (count raised in start, sequence bumped in end, faults retry), but its
/// <c>invalidate_range_start</c> takes a sleeping lock without checking
/// <c>mmu_notifier_range_blockable(range)</c>, so the OOM reaper's non-blockable invalidation
/// (<c>mmu_notifier_invalidate_range_start_nonblock</c>) makes it sleep in atomic context — the
/// 4.19 bug class. The fix returns <c>-EAGAIN</c> first when the range is not blockable. No
/// translation goes stale: the runtime's report is the whole finding.
/// </summary>
public sealed class SleepingNonblockMmu : SecondaryMmuBase
{
    private sealed class sleeping_notifier : mmu_notifier
    {
        internal sleeping_notifier(SleepingNonblockMmu mmu) => this.mmu = mmu;

        internal readonly SleepingNonblockMmu mmu;
    }

    private static readonly mmu_notifier_ops sleeping_ops = new()
    {
        invalidate_range_start_range = sleeping_invalidate_range_start,
        invalidate_range_end_range = sleeping_invalidate_range_end,
    };

    private readonly mutex dev_lock;
    private long invalidate_seq;
    private long active_invalidations;

    /// <summary>Creates the MMU and registers its notifier on <paramref name="mm"/>.</summary>
    public SleepingNonblockMmu(mm_struct mm, string name = "sleeping")
        : base(mm, name)
    {
        dev_lock = new mutex(name + "->dev_lock");
        register_notifier(new sleeping_notifier(this) { ops = sleeping_ops });
    }

    /// <summary>KVM's fault protocol with a mutex: read the sequence, look up, lock, retry if an
    /// invalidation ran or runs, else install.</summary>
    public SecondaryFaultResult Fault(ulong address, bool write)
    {
        ulong hva = address & PAGE_MASK;
        long seq = System.Threading.Volatile.Read(ref invalidate_seq);
        page? page = secondary_walk.get_user_page(Mm, hva, write, out bool writable);
        if (page is null)
        {
            return SecondaryFaultResult.Failed;
        }

        mutex_lock(dev_lock);
        bool retry = active_invalidations != 0 || invalidate_seq != seq;
        if (!retry)
        {
            install(hva, new secondary_pte(page, writable));
        }

        mutex_unlock(dev_lock);
        put_page(page);
        Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, {(retry ? "retry" : "installed")}");
        return retry ? SecondaryFaultResult.Retry : SecondaryFaultResult.Installed;
    }

    private static int sleeping_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        SleepingNonblockMmu mmu = ((sleeping_notifier)mn).mmu;
        mutex_lock(mmu.dev_lock);   // expect: MMU014 (may sleep; no mmu_notifier_range_blockable(range) check first)
        mmu.active_invalidations++;
        int zapped = mmu.zap(range.start, range.end);
        mutex_unlock(mmu.dev_lock);
        mmu.Steps.Add($"invalidate_range_start {MmuStepLog.Range(range.start, range.end)}{(mmu_notifier_range_blockable(range) ? "" : " (non-blockable)")}: zapped {zapped}");
        return 0;
    }

    private static void sleeping_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        SleepingNonblockMmu mmu = ((sleeping_notifier)mn).mmu;
        mutex_lock(mmu.dev_lock);   // expect: MMU014 (the end of a refused non-blockable start is non-blockable too)
        mmu.invalidate_seq++;
        mmu.active_invalidations--;
        mutex_unlock(mmu.dev_lock);
        mmu.Steps.Add($"invalidate_range_end {MmuStepLog.Range(range.start, range.end)}: seq={mmu.invalidate_seq}");
    }
}
