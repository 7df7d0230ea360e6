using System;
using System.Linq;
using Kernel.Mm.SecondaryMmu;
using Xunit;
using static Kernel.Mm.Linux;
using static Kernel.Mm.Tests.SecondaryMmu.TestAddressSpace;

namespace Kernel.Mm.Tests.SecondaryMmu;

public sealed class IommuLikeClientTests : IDisposable
{
    private readonly CollectingViolationSink _sink = new();
    private readonly IDisposable _useSink;
    private readonly TestAddressSpace _space = new(16);
    private readonly CoherenceChecker _checker;
    private readonly IommuLikeClient _iommu;

    public IommuLikeClientTests()
    {
        _useSink = MmRuntime.UseSink(_sink);
        _checker = new CoherenceChecker(_space.mm);
        _iommu = new IommuLikeClient(_space.mm);
        _checker.Attach(_iommu);
    }

    public void Dispose()
    {
        _iommu.Dispose();
        _checker.Dispose();
        _space.Dispose();
        _useSink.Dispose();
    }

    [Fact]
    public void Implements_only_invalidate_range()
    {
        mmu_notifier_ops ops = _iommu.Notifier.ops;
        Assert.NotNull(ops.invalidate_range);
        Assert.Null(ops.invalidate_range_start);
        Assert.Null(ops.invalidate_range_end);
    }

    [Fact]
    public void Translate_walks_the_shared_table_and_fills_the_iotlb()
    {
        _space.Touch(Addr(1), write: true);

        page? page = _iommu.Translate(Addr(1), write: true);

        Assert.Same(_space.CpuPage(Addr(1)), page);
        Assert.Equal(0, _iommu.PageRequests);
        Assert.True(_iommu.TryGetTranslation(Addr(1), out page? cached));
        Assert.Same(page, cached);
        Assert.Equal($"translate 0x{Addr(1):x} -> pfn 0x{page_to_pfn(page!):x}, iotlb fill", _iommu.Steps.Lines[^1]);
    }

    [Fact]
    public void Translate_of_an_unmapped_address_raises_a_page_request()
    {
        page? page = _iommu.Translate(Addr(2), write: false);

        Assert.NotNull(page);
        Assert.Same(_space.CpuPage(Addr(2)), page);
        Assert.Equal(1, _iommu.PageRequests);
        Assert.Contains($"translate 0x{Addr(2):x} -> not present, page request", _iommu.Steps.Lines);
    }

    [Fact]
    public void Translate_outside_every_vma_fails()
    {
        Assert.Null(_iommu.Translate(Base - PAGE_SIZE, write: false));
        Assert.Empty(_iommu.Translations());
    }

    [Fact]
    public void Clear_flush_notify_flushes_the_iotlb_under_the_page_table_lock()
    {
        _iommu.Translate(Addr(3), write: true);
        bool? atomicInCallback = null;
        _iommu.Steps.StepAdded += line =>
        {
            if (line.StartsWith("invalidate_range", StringComparison.Ordinal))
            {
                atomicInCallback ??= MmRuntime.InAtomicContext;
            }
        };

        _space.Zap(Addr(3), Addr(4));

        Assert.True(atomicInCallback);
        Assert.False(_iommu.TryGetTranslation(Addr(3), out _));
        Assert.Contains($"invalidate_range [0x{Addr(3):x},0x{Addr(4):x}): flushed 1", _iommu.Steps.Lines);
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Start_alone_does_not_flush_end_does()
    {
        _iommu.Translate(Addr(4), write: true);
        page old = _space.CpuPage(Addr(4))!;
        ulong mmun_start = Addr(4);
        ulong mmun_end = Addr(5);

        mmu_notifier_invalidate_range_start(_space.mm, mmun_start, mmun_end);
        Assert.True(_iommu.TryGetTranslation(Addr(4), out _));

        // Plain ptep_clear_flush: the IOTLB still holds the old page until end calls
        // invalidate_range; the checker must not call that stale while the range is open.
        pmd_ptr pmd = mm_find_pmd(_space.mm, Addr(4))!;
        pte_ptr ptep = pte_offset_map_lock(_space.mm, pmd, Addr(4), out spinlock_t ptl);
        ptep_clear_flush(_space.vma, Addr(4), ptep);
        page_remove_rmap(old);
        pte_unmap_unlock(ptep, ptl);
        Assert.True(_iommu.TryGetTranslation(Addr(4), out _));
        Assert.Equal(0, _checker.CheckAll());

        mmu_notifier_invalidate_range_end(_space.mm, mmun_start, mmun_end);
        put_page(old);

        Assert.False(_iommu.TryGetTranslation(Addr(4), out _));
        Assert.Equal(1, _iommu.Flushes);
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Unbind_runs_release_and_flushes_everything()
    {
        _iommu.Translate(Addr(5), write: true);
        _iommu.Dispose();

        Assert.True(_iommu.Released);
        Assert.Empty(_iommu.Translations());
        Assert.DoesNotContain(_iommu.Notifier, _space.mm.Notifiers);
    }
}
