using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Threading;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// An ODP-like device mirror (drivers/infiniband/core/umem_odp.c since 5.5): each registered
/// region is a <c>mmu_interval_notifier</c>; the device page table is filled by the fault path
/// <c>mmu_interval_read_begin</c> → look the CPU pages up → take the driver lock
/// (<c>umem_mutex</c>) → <c>mmu_interval_read_retry</c> → install, and the invalidate callback
/// takes the same lock, calls <c>mmu_interval_set_seq</c> and zaps. Non-blockable ranges
/// (<c>mmu_notifier_range_blockable</c> false) only try the lock and return false when it is busy.
/// </summary>
public sealed class OdpLikeMirror : SecondaryMmuBase
{
    /// <summary>One registered region: <c>struct ib_umem_odp</c>, which embeds its
    /// <c>mmu_interval_notifier</c> (the callback finds the umem with container_of; here, a cast).</summary>
    public sealed class ib_umem_odp : mmu_interval_notifier
    {
        internal ib_umem_odp(OdpLikeMirror mirror, ulong start, ulong length)
        {
            this.mirror = mirror;
            ib_umem_start = start;
            ib_umem_end = start + length;
            umem_mutex = new mutex($"{mirror.Name}->umem_mutex[0x{start:x}]");
        }

        internal readonly OdpLikeMirror mirror;

        /// <summary>First byte of the region.</summary>
        public ulong ib_umem_start { get; }

        /// <summary>End of the region (exclusive).</summary>
        public ulong ib_umem_end { get; }

        /// <summary>umem_odp->umem_mutex: serialises the fault path's install against invalidate.</summary>
        public mutex umem_mutex { get; }

        internal long invalidations;
        internal long failed_nonblocking;
        internal bool removed;
    }

    private static readonly mmu_interval_notifier_ops ib_umem_notifiers = new()
    {
        invalidate = ib_umem_notifier_invalidate,
    };

    // The device page table (dma_list) is the base's translation table, written under the
    // region's umem_mutex.
    private ib_umem_odp[] _regions = [];
    private long _retries;

    /// <summary>Creates a mirror of <paramref name="mm"/>; regions are added with <see cref="RegisterRegion"/>.</summary>
    public OdpLikeMirror(mm_struct mm, string name = "odp")
        : base(mm, name)
    {
    }

    /// <summary>The registered regions.</summary>
    public IReadOnlyList<ib_umem_odp> Regions => Volatile.Read(ref _regions);

    /// <summary>Faults that had to retry because an invalidation raced with them.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Invalidate callbacks that returned false (non-blockable range, lock busy).</summary>
    public long FailedNonBlocking
    {
        get
        {
            long n = 0;
            foreach (var umem in Regions)
            {
                n += Interlocked.Read(ref umem.failed_nonblocking);
            }

            return n;
        }
    }

    /// <summary>Invalidate callbacks that ran to completion, over every region.</summary>
    public long Invalidations
    {
        get
        {
            long n = 0;
            foreach (var umem in Regions)
            {
                n += Interlocked.Read(ref umem.invalidations);
            }

            return n;
        }
    }

    /// <summary>
    /// Registers [<paramref name="start"/>, start + <paramref name="length"/>) with the device:
    /// <c>ib_umem_odp_get</c> → <c>mmu_interval_notifier_insert</c>. May sleep.
    /// </summary>
    public ib_umem_odp RegisterRegion(ulong start, ulong length)
    {
        if (length == 0 || (start & ~PAGE_MASK) != 0 || (length & ~PAGE_MASK) != 0)
        {
            throw new ArgumentException($"{Name}: RegisterRegion [0x{start:x},+0x{length:x}) must be page aligned and not empty", nameof(length));
        }

        foreach (var other in Regions)
        {
            if (start < other.ib_umem_end && other.ib_umem_start < start + length)
            {
                // One device page table for every region: overlapping regions would share entries.
                throw new ArgumentException($"{Name}: RegisterRegion [0x{start:x},0x{start + length:x}) overlaps the registered region [0x{other.ib_umem_start:x},0x{other.ib_umem_end:x})", nameof(start));
            }
        }

        var umem = new ib_umem_odp(this, start, length);
        int ret = mmu_interval_notifier_insert(umem, Mm, start, length, ib_umem_notifiers);
        if (ret != 0)
        {
            throw new InvalidOperationException($"{Name}: mmu_interval_notifier_insert [0x{start:x},0x{start + length:x}) failed with {ret}");
        }

        ib_umem_odp[] old, next;
        do
        {
            old = Volatile.Read(ref _regions);
            next = [.. old, umem];
        }
        while (Interlocked.CompareExchange(ref _regions, next, old) != old);

        Steps.Add($"register {MmuStepLog.Range(start, start + length)}");
        return umem;
    }

    /// <summary>
    /// Unregisters a region: <c>ib_umem_odp_release</c> → <c>mmu_interval_notifier_remove</c>
    /// (which waits for a running invalidation of it), then unmaps what the device still maps.
    /// </summary>
    public void UnregisterRegion(ib_umem_odp umem)
    {
        ArgumentNullException.ThrowIfNull(umem);
        if (umem.mirror != this)
        {
            throw new ArgumentException($"{Name}: UnregisterRegion of a region of {umem.mirror.Name}", nameof(umem));
        }

        mmu_interval_notifier_remove(umem);
        mutex_lock(umem.umem_mutex);
        umem.removed = true;
        int zapped = ib_umem_odp_unmap_dma_pages(umem, umem.ib_umem_start, umem.ib_umem_end);
        mutex_unlock(umem.umem_mutex);

        ib_umem_odp[] old, next;
        do
        {
            old = Volatile.Read(ref _regions);
            next = Array.FindAll(old, r => r != umem);
        }
        while (Interlocked.CompareExchange(ref _regions, next, old) != old);

        Steps.Add($"unregister {MmuStepLog.Range(umem.ib_umem_start, umem.ib_umem_end)}: unmapped {zapped}");
    }

    /// <summary>
    /// A device page fault at <paramref name="address"/> (<c>ib_umem_odp_map_dma_and_lock</c> +
    /// <c>pagefault_real_mr</c>): read the interval's sequence, look the CPU page up (faulting it
    /// in), take <c>umem_mutex</c>, and install only if no invalidation ran since. May sleep.
    /// </summary>
    public SecondaryFaultResult Fault(ulong address, bool write)
    {
        ulong hva = address & PAGE_MASK;
        ib_umem_odp? umem = find_umem(hva);
        if (umem is null)
        {
            Steps.Add($"fault 0x{hva:x} -> outside every registered region, failed");
            return SecondaryFaultResult.Failed;
        }

        ulong current_seq = mmu_interval_read_begin(umem);

        // hmm_range_fault: walk the CPU page table under mmap_sem, faulting in what is missing.
        // No page reference is kept: the sequence check below is what makes the result valid.
        page? page = null;
        bool writable = false;
        down_read(Mm.mmap_sem);
        try
        {
            for (int tries = 0; tries < 16 && page is null; tries++)
            {
                page = secondary_walk.follow_page(Mm, hva, write, get: false, out writable);
                if (page is null && !secondary_walk.fault_in(Mm, hva, write))
                {
                    break;
                }
            }
        }
        finally
        {
            up_read(Mm.mmap_sem);
        }

        if (page is null)
        {
            Steps.Add($"fault 0x{hva:x} -> no page, failed");
            return SecondaryFaultResult.Failed;
        }

        // The window the protocol exists for: an invalidation may run right here.
        cond_resched();

        mutex_lock(umem.umem_mutex);
        if (umem.removed || mmu_interval_read_retry(umem, current_seq))
        {
            mutex_unlock(umem.umem_mutex);
            Interlocked.Increment(ref _retries);
            Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, retry");
            return SecondaryFaultResult.Retry;
        }

        install(hva, new secondary_pte(page, writable));
        mutex_unlock(umem.umem_mutex);
        Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, installed");
        return SecondaryFaultResult.Installed;
    }

    /// <summary>
    /// A device access: uses the device page table if it maps the address, otherwise faults
    /// (at most <paramref name="maxFaults"/> times). Returns the page reached, or null.
    /// </summary>
    public page? Access(ulong address, bool write, int maxFaults = 64)
    {
        ulong hva = address & PAGE_MASK;
        for (int i = 0; i <= maxFaults; i++)
        {
            if (lookup(hva, out var entry) && (!write || entry.writable))
            {
                return entry.page;
            }

            if (i == maxFaults || Fault(hva, write) == SecondaryFaultResult.Failed)
            {
                break;
            }
        }

        return null;
    }

    /// <summary>Unregisters every region.</summary>
    public override void Dispose()
    {
        foreach (var umem in Regions)
        {
            UnregisterRegion(umem);
        }

        base.Dispose();
    }

    private ib_umem_odp? find_umem(ulong hva)
    {
        foreach (var umem in Volatile.Read(ref _regions))
        {
            if (hva >= umem.ib_umem_start && hva < umem.ib_umem_end)
            {
                return umem;
            }
        }

        return null;
    }

    // Caller holds umem_mutex.
    private int ib_umem_odp_unmap_dma_pages(ib_umem_odp umem, ulong start, ulong end) => zap(start, end);

    private static bool ib_umem_notifier_invalidate(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        ib_umem_odp umem_odp = (ib_umem_odp)mni;
        OdpLikeMirror mirror = umem_odp.mirror;
        if (mmu_notifier_range_blockable(range))
        {
            mutex_lock(umem_odp.umem_mutex);
        }
        else if (!mutex_trylock(umem_odp.umem_mutex))
        {
            Interlocked.Increment(ref umem_odp.failed_nonblocking);
            mirror.Steps.Add($"invalidate {MmuStepLog.Range(range.start, range.end)} (non-blockable): umem_mutex busy, return false");
            return false;
        }

        // Every fault that read the sequence before this point now retries.
        mmu_interval_set_seq(mni, cur_seq);
        ulong start = Math.Max(range.start, umem_odp.ib_umem_start);
        ulong end = Math.Min(range.end, umem_odp.ib_umem_end);
        int zapped = mirror.ib_umem_odp_unmap_dma_pages(umem_odp, start, end);
        mutex_unlock(umem_odp.umem_mutex);
        Interlocked.Increment(ref umem_odp.invalidations);
        mirror.Steps.Add($"invalidate {MmuStepLog.Range(start, end)}{(mmu_notifier_range_blockable(range) ? "" : " (non-blockable)")}: seq={cur_seq}, zapped {zapped}");
        return true;
    }
}
