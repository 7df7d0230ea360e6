using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Threading;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// An IOMMU-like client that shares the CPU page table (drivers/iommu/amd_iommu_v2.c): the
/// device's walker reads the CPU page table on demand and caches translations in an IOTLB; a
/// missing or read-only entry becomes a page request (PPR) that faults the page in through the
/// CPU. It implements ONLY <c>invalidate_range</c>, which flushes the IOTLB: the callback runs
/// in atomic context right after the CPU page table was changed (and again from
/// <c>invalidate_range_end</c>), so nothing stale can be refilled from the shared table.
/// </summary>
public sealed class IommuLikeClient : SecondaryMmuBase
{
    /// <summary>The per-device notifier: <c>struct pasid_state</c> carries its mn.</summary>
    private sealed class pasid_state : mmu_notifier
    {
        internal pasid_state(IommuLikeClient iommu) => this.iommu = iommu;

        internal readonly IommuLikeClient iommu;
    }

    private static readonly mmu_notifier_ops iommu_mn = new()
    {
        invalidate_range = mn_invalidate_range,
        release = mn_release,
    };

    /// <summary>Serialises IOTLB fills (walk + insert) against flushes, as the hardware orders a
    /// walk against an invalidation command.</summary>
    internal readonly spinlock_t iommu_lock;

    // The IOTLB is the base's translation table: filled and flushed under iommu_lock.
    private readonly pasid_state mn;
    private long _flushes;
    private long _pageRequests;

    /// <summary>Binds the device to <paramref name="mm"/> (<c>amd_iommu_bind_pasid</c>).</summary>
    public IommuLikeClient(mm_struct mm, string name = "iommu")
        : base(mm, name)
    {
        iommu_lock = new spinlock_t(name + "->iommu_lock");
        mn = new pasid_state(this) { ops = iommu_mn };
        register_notifier(mn);
    }

    /// <summary>The registered notifier.</summary>
    public mmu_notifier Notifier => mn;

    /// <summary>invalidate_range callbacks seen (IOTLB flushes).</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>Page requests (PPR faults) the device raised.</summary>
    public long PageRequests => Interlocked.Read(ref _pageRequests);

    /// <summary>True once ->release ran.</summary>
    public bool Released { get; private set; }

    /// <summary>
    /// A DMA to <paramref name="address"/>: IOTLB hit, or a walk of the shared CPU page table
    /// that fills the IOTLB, or a page request that faults the page in and walks again (at most
    /// <paramref name="maxPageRequests"/> times). Returns the page reached, or null (the device
    /// would get an invalid-PPR response). May sleep (the page request does).
    /// </summary>
    public page? Translate(ulong address, bool write, int maxPageRequests = 16)
    {
        ulong hva = address & PAGE_MASK;
        for (int i = 0; ; i++)
        {
            spin_lock(iommu_lock);
            if (lookup(hva, out var hit) && (!write || hit.writable))
            {
                spin_unlock(iommu_lock);
                return hit.page;
            }

            // The hardware walk: no CPU lock, the table is shared.
            page? page = secondary_walk.peek_page(Mm, hva, out bool writable);
            if (page is not null && (!write || writable))
            {
                install(hva, new secondary_pte(page, writable));
                spin_unlock(iommu_lock);
                Steps.Add($"translate 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, iotlb fill");
                return page;
            }

            spin_unlock(iommu_lock);
            if (i == maxPageRequests)
            {
                Steps.Add($"translate 0x{hva:x} -> page request limit reached, failed");
                return null;
            }

            // do_fault(): the PPR work item faults the page in under mmap_sem.
            Interlocked.Increment(ref _pageRequests);
            Steps.Add($"translate 0x{hva:x} -> not present{(write ? " or read-only" : "")}, page request");
            down_read(Mm.mmap_sem);
            bool ok = secondary_walk.fault_in(Mm, hva, write);
            up_read(Mm.mmap_sem);
            if (!ok)
            {
                Steps.Add($"translate 0x{hva:x} -> page request failed");
                return null;
            }
        }
    }

    private static IommuLikeClient mn_to_iommu(mmu_notifier mn) => ((pasid_state)mn).iommu;

    // Atomic: called under the CPU page-table lock. Only spinlocks here.
    private static void mn_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        IommuLikeClient iommu = mn_to_iommu(mn);
        spin_lock(iommu.iommu_lock);
        int flushed = iommu.zap(start, end);
        spin_unlock(iommu.iommu_lock);
        Interlocked.Increment(ref iommu._flushes);
        iommu.Steps.Add($"invalidate_range {MmuStepLog.Range(start, end)}: flushed {flushed}");
    }

    private static void mn_release(mmu_notifier mn, mm_struct mm)
    {
        IommuLikeClient iommu = mn_to_iommu(mn);
        spin_lock(iommu.iommu_lock);
        int flushed = iommu.zap(0, ulong.MaxValue);
        spin_unlock(iommu.iommu_lock);
        iommu.Released = true;
        iommu.Steps.Add($"release: flushed {flushed}");
    }
}
