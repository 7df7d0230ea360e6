using System;
using System.Linq;
using Kernel.Mm.SecondaryMmu;
using Xunit;
using static Kernel.Mm.Linux;
using static Kernel.Mm.Tests.SecondaryMmu.TestAddressSpace;

namespace Kernel.Mm.Tests.SecondaryMmu;

public sealed class OdpLikeMirrorTests : IDisposable
{
    private readonly CollectingViolationSink _sink = new();
    private readonly IDisposable _useSink;
    private readonly TestAddressSpace _space = new(16);
    private readonly CoherenceChecker _checker;
    private readonly OdpLikeMirror _odp;
    private readonly OdpLikeMirror.ib_umem_odp _low;
    private readonly OdpLikeMirror.ib_umem_odp _high;

    public OdpLikeMirrorTests()
    {
        _useSink = MmRuntime.UseSink(_sink);
        _checker = new CoherenceChecker(_space.mm);
        _odp = new OdpLikeMirror(_space.mm);
        _checker.Attach(_odp);
        _low = _odp.RegisterRegion(Addr(0), 4 * PAGE_SIZE);
        _high = _odp.RegisterRegion(Addr(8), 4 * PAGE_SIZE);
    }

    public void Dispose()
    {
        _odp.Dispose();
        _checker.Dispose();
        _space.Dispose();
        _useSink.Dispose();
    }

    [Fact]
    public void Fault_installs_the_page_the_cpu_maps()
    {
        Assert.Equal(SecondaryFaultResult.Installed, _odp.Fault(Addr(1), write: true));

        Assert.True(_odp.TryGetTranslation(Addr(1), out page? mapped));
        Assert.Same(_space.CpuPage(Addr(1)), mapped);
        Assert.Equal($"fault 0x{Addr(1):x} -> pfn 0x{page_to_pfn(mapped):x}, installed", _odp.Steps.Lines[^1]);
        Assert.Same(mapped, _odp.Access(Addr(1), write: true));
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Fault_outside_every_region_fails()
    {
        Assert.Equal(SecondaryFaultResult.Failed, _odp.Fault(Addr(5), write: false));
        Assert.Empty(_odp.Translations());
    }

    [Fact]
    public void Invalidation_reaches_only_the_regions_it_overlaps()
    {
        _odp.Fault(Addr(1), write: true);
        _odp.Fault(Addr(9), write: true);

        _space.Zap(Addr(0), Addr(4));

        Assert.False(_odp.TryGetTranslation(Addr(1), out _));
        Assert.True(_odp.TryGetTranslation(Addr(9), out _));
        Assert.Equal(1, _low.invalidations);
        Assert.Equal(0, _high.invalidations);
        Assert.StartsWith($"invalidate [0x{Addr(0):x},0x{Addr(4):x}): seq=", _odp.Steps.Lines[^1]);
        Assert.EndsWith("zapped 1", _odp.Steps.Lines[^1]);
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Fault_retries_when_an_invalidation_ran_between_read_begin_and_install()
    {
        _space.Touch(Addr(2), write: true);
        page old = _space.CpuPage(Addr(2))!;
        bool fired = false;
        using (MmRuntime.OnPreemptionPoint(name =>
        {
            if (name == nameof(cond_resched) && !fired)
            {
                fired = true;
                _space.Zap(Addr(2), Addr(3));
            }
        }))
        {
            Assert.Equal(SecondaryFaultResult.Retry, _odp.Fault(Addr(2), write: true));
        }

        Assert.True(fired);
        Assert.Equal(1, _odp.Retries);
        Assert.False(_odp.TryGetTranslation(Addr(2), out _));
        string[] tail = _odp.Steps.Lines.TakeLast(2).ToArray();
        Assert.StartsWith($"invalidate [0x{Addr(2):x},0x{Addr(3):x})", tail[0]);
        Assert.Equal($"fault 0x{Addr(2):x} -> pfn 0x{page_to_pfn(old):x}, retry", tail[1]);

        Assert.Equal(SecondaryFaultResult.Installed, _odp.Fault(Addr(2), write: true));
        Assert.True(_odp.TryGetTranslation(Addr(2), out page? now));
        Assert.Same(_space.CpuPage(Addr(2)), now);
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_checker.Violations);
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Fault_waits_in_read_begin_while_an_invalidation_of_its_region_runs()
    {
        _space.Touch(Addr(3), write: true);
        page old = _space.CpuPage(Addr(3))!;
        bool ended = false;
        bool endedWhenFaultReturned = false;
        SecondaryFaultResult result = SecondaryFaultResult.Failed;
        ulong mmun_start = Addr(3);
        ulong mmun_end = Addr(4);

        mmu_notifier_invalidate_range_start(_space.mm, mmun_start, mmun_end);
        var device = new System.Threading.Thread(() =>
        {
            result = _odp.Fault(Addr(3), write: true);
            endedWhenFaultReturned = System.Threading.Volatile.Read(ref ended);
        });
        device.Start();

        // Give the device thread every chance to run ahead (it must not get past read_begin).
        for (int i = 0; i < 200 && device.IsAlive; i++)
        {
            System.Threading.Thread.Yield();
        }

        get_page(old);
        _space.ZapOne(Addr(3));
        System.Threading.Volatile.Write(ref ended, true);
        mmu_notifier_invalidate_range_end(_space.mm, mmun_start, mmun_end);
        device.Join();

        Assert.True(endedWhenFaultReturned, "the fault completed while the invalidation was still running");
        Assert.Equal(SecondaryFaultResult.Installed, result);
        Assert.True(_odp.TryGetTranslation(Addr(3), out page? mapped));
        Assert.NotSame(old, mapped);
        Assert.Same(_space.CpuPage(Addr(3)), mapped);
        put_page(old);
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Non_blockable_invalidation_returns_false_when_the_driver_lock_is_busy()
    {
        _odp.Fault(Addr(1), write: true);
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, _space.vma, _space.mm, Addr(0), Addr(4));
        Assert.False(mmu_notifier_range_blockable(range));

        mutex_lock(_low.umem_mutex);
        int ret;
        try
        {
            ret = mmu_notifier_invalidate_range_start_nonblock(range);
        }
        finally
        {
            mutex_unlock(_low.umem_mutex);
        }

        Assert.NotEqual(0, ret);
        Assert.Equal(1, _odp.FailedNonBlocking);
        Assert.True(_odp.TryGetTranslation(Addr(1), out _));
        Assert.EndsWith("(non-blockable): umem_mutex busy, return false", _odp.Steps.Lines[^1]);

        // Lock free: the same non-blockable range now succeeds and zaps.
        Assert.Equal(0, mmu_notifier_invalidate_range_start_nonblock(range));
        mmu_notifier_invalidate_range_end(range);
        Assert.False(_odp.TryGetTranslation(Addr(1), out _));
        Assert.EndsWith("zapped 1", _odp.Steps.Lines[^1]);
        Assert.Contains("(non-blockable)", _odp.Steps.Lines[^1]);
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Unregistered_region_is_unmapped_and_no_longer_invalidated()
    {
        _odp.Fault(Addr(9), write: true);
        _odp.UnregisterRegion(_high);

        Assert.False(_odp.TryGetTranslation(Addr(9), out _));
        Assert.Equal(SecondaryFaultResult.Failed, _odp.Fault(Addr(9), write: true));
        _space.Zap(Addr(8), Addr(12));
        Assert.Equal(0, _high.invalidations);
        Assert.DoesNotContain(_high, _odp.Regions);
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Overlapping_regions_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => _odp.RegisterRegion(Addr(2), 4 * PAGE_SIZE));
        Assert.Contains("overlaps", ex.Message);
    }
}
