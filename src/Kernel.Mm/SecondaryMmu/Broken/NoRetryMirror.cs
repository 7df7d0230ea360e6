using System;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// A deliberately broken interval-notifier mirror (MMU012): its <c>-&gt;invalidate</c> is right
/// (driver lock, <c>mmu_interval_set_seq</c>, zap), but its fault path reads the sequence with
/// <c>mmu_interval_read_begin</c> and installs without <c>mmu_interval_read_retry</c>. An
/// invalidation that runs between the page lookup and the install is undone: the device keeps
/// the page the CPU unmapped. The runtime reports the install (the sequence it read is stale);
/// the coherence checker reports the stale translation once the invalidation has ended.
/// </summary>
public sealed class NoRetryMirror : SecondaryMmuBase
{
    private sealed class mirror_interval : mmu_interval_notifier
    {
        internal mirror_interval(NoRetryMirror mirror) => this.mirror = mirror;

        internal readonly NoRetryMirror mirror;
    }

    private static readonly mmu_interval_notifier_ops mirror_ops = new()
    {
        invalidate = mirror_invalidate,
    };

    private readonly mirror_interval _interval;
    private readonly mutex _lock;
    private int _inserted;

    /// <summary>Mirrors [<paramref name="start"/>, start + <paramref name="length"/>) of <paramref name="mm"/>.</summary>
    public NoRetryMirror(mm_struct mm, ulong start, ulong length, string name = "no-retry")
        : base(mm, name)
    {
        _lock = new mutex(name + "->lock");
        _interval = new mirror_interval(this);
        int ret = mmu_interval_notifier_insert(_interval, mm, start, length, mirror_ops);
        if (ret != 0)
        {
            throw new InvalidOperationException($"{name}: mmu_interval_notifier_insert failed with {ret}");
        }

        _inserted = 1;
    }

    /// <summary>
    /// The broken device fault: sequence read, page lookup, driver lock, install — and no retry
    /// check in between (the analyzer's MMU012 fires here).
    /// </summary>
    public SecondaryFaultResult Fault(ulong address, bool write)
    {
        ulong hva = address & PAGE_MASK;
        ulong seq = mmu_interval_read_begin(_interval);
        page? page = secondary_walk.get_user_page(Mm, hva, write, out bool writable);
        if (page is null)
        {
            Steps.Add($"fault 0x{hva:x} -> no page, failed");
            return SecondaryFaultResult.Failed;
        }

        // The window the sequence exists for: an invalidation may run right here.
        cond_resched();

        mutex_lock(_lock);
        install(hva, new secondary_pte(page, writable));   // expect: MMU012 (no mmu_interval_read_retry(_interval, seq))
        mutex_unlock(_lock);
        put_page(page);
        Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, installed with seq {seq} (no retry check)");
        return SecondaryFaultResult.Installed;
    }

    /// <summary>Removes the interval notifier. Idempotent.</summary>
    public override void Dispose()
    {
        if (System.Threading.Interlocked.Exchange(ref _inserted, 0) == 1)
        {
            mmu_interval_notifier_remove(_interval);
        }

        base.Dispose();
    }

    private static bool mirror_invalidate(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        NoRetryMirror mirror = ((mirror_interval)mni).mirror;
        if (mmu_notifier_range_blockable(range))
        {
            mutex_lock(mirror._lock);
        }
        else if (!mutex_trylock(mirror._lock))
        {
            return false;
        }

        mmu_interval_set_seq(mni, cur_seq);
        int zapped = mirror.zap(range.start, range.end);
        mutex_unlock(mirror._lock);
        mirror.Steps.Add($"invalidate {MmuStepLog.Range(range.start, range.end)}: seq={cur_seq}, zapped {zapped}");
        return true;
    }
}
