using System;
using System.Linq;
using Kernel.Mm.SecondaryMmu;
using Xunit;
using static Kernel.Mm.Linux;
using static Kernel.Mm.Tests.SecondaryMmu.TestAddressSpace;

namespace Kernel.Mm.Tests.SecondaryMmu;

public sealed class KvmLikeMmuTests : IDisposable
{
    private readonly CollectingViolationSink _sink = new();
    private readonly IDisposable _useSink;
    private readonly TestAddressSpace _space = new(16);
    private readonly CoherenceChecker _checker;
    private readonly KvmLikeMmu _kvm;

    public KvmLikeMmuTests()
    {
        _useSink = MmRuntime.UseSink(_sink);
        _checker = new CoherenceChecker(_space.mm);
        _kvm = new KvmLikeMmu(_space.mm);
        _checker.Attach(_kvm);
    }

    public void Dispose()
    {
        _kvm.Dispose();
        _checker.Dispose();
        _space.Dispose();
        _useSink.Dispose();
    }

    [Fact]
    public void Fault_installs_the_page_the_cpu_maps()
    {
        Assert.Equal(SecondaryFaultResult.Installed, _kvm.Fault(Addr(1), write: true));

        Assert.True(_kvm.TryGetTranslation(Addr(1), out page? mapped));
        Assert.Same(_space.CpuPage(Addr(1)), mapped);
        Assert.True(_kvm.IsWritable(Addr(1)));
        Assert.Equal($"fault 0x{Addr(1):x} -> pfn 0x{page_to_pfn(mapped):x}, installed", _kvm.Steps.Lines[^1]);
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Fault_outside_every_vma_fails_and_installs_nothing()
    {
        Assert.Equal(SecondaryFaultResult.Failed, _kvm.Fault(Base - PAGE_SIZE, write: false));
        Assert.Empty(_kvm.Translations());
    }

    [Fact]
    public void Invalidation_zaps_the_range_and_bumps_the_sequence()
    {
        _kvm.Fault(Addr(1), write: true);
        _kvm.Fault(Addr(2), write: true);
        long seq = _kvm.MmuNotifierSeq;

        Assert.Equal(1, _space.Zap(Addr(1), Addr(2)));

        Assert.False(_kvm.TryGetTranslation(Addr(1), out _));
        Assert.True(_kvm.TryGetTranslation(Addr(2), out _));
        Assert.Equal(seq + 1, _kvm.MmuNotifierSeq);
        Assert.Equal(0, _kvm.MmuNotifierCount);
        Assert.Equal(1, _kvm.StartsSeen);
        Assert.Equal(1, _kvm.EndsSeen);
        string[] tail = _kvm.Steps.Lines.TakeLast(2).ToArray();
        Assert.StartsWith($"invalidate_range_start [0x{Addr(1):x},0x{Addr(2):x}): count=1, zapped 1", tail[0]);
        Assert.StartsWith($"invalidate_range_end [0x{Addr(1):x},0x{Addr(2):x}): seq={seq + 1}, count=0", tail[1]);
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Fault_retries_while_an_invalidation_is_in_progress()
    {
        _space.Touch(Addr(3), write: true);
        mmu_notifier_invalidate_range_start(_space.mm, Addr(3), Addr(4));
        try
        {
            Assert.Equal(1, _kvm.MmuNotifierCount);
            Assert.Equal(SecondaryFaultResult.Retry, _kvm.Fault(Addr(3), write: true));
            Assert.False(_kvm.TryGetTranslation(Addr(3), out _));
            Assert.EndsWith(", retry", _kvm.Steps.Lines[^1]);
        }
        finally
        {
            mmu_notifier_invalidate_range_end(_space.mm, Addr(3), Addr(4));
        }

        Assert.Equal(SecondaryFaultResult.Installed, _kvm.Fault(Addr(3), write: true));
        Assert.Equal(1, _kvm.Retries);
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Fault_retries_when_an_invalidation_ran_between_lookup_and_install()
    {
        _space.Touch(Addr(4), write: true);
        page old = _space.CpuPage(Addr(4))!;
        bool fired = false;

        // Deterministic interleaving: the whole unmap runs at the fault's preemption point,
        // after the page was looked up and before mmu_lock is taken.
        using (MmRuntime.OnPreemptionPoint(name =>
        {
            if (name == nameof(cond_resched) && !fired)
            {
                fired = true;
                _space.Zap(Addr(4), Addr(5));
            }
        }))
        {
            Assert.Equal(SecondaryFaultResult.Retry, _kvm.Fault(Addr(4), write: true));
        }

        Assert.True(fired);
        Assert.False(_kvm.TryGetTranslation(Addr(4), out _));
        Assert.Null(_space.CpuPage(Addr(4)));
        string[] tail = _kvm.Steps.Lines.TakeLast(3).ToArray();
        Assert.StartsWith("invalidate_range_start", tail[0]);
        Assert.StartsWith("invalidate_range_end", tail[1]);
        Assert.Equal($"fault 0x{Addr(4):x} -> pfn 0x{page_to_pfn(old):x}, retry", tail[2]);

        // The vCPU faults again and gets the page the CPU maps now.
        Assert.Equal(SecondaryFaultResult.Installed, _kvm.Fault(Addr(4), write: true));
        Assert.True(_kvm.TryGetTranslation(Addr(4), out page? now));
        Assert.Same(_space.CpuPage(Addr(4)), now);
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_checker.Violations);
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Clear_flush_young_reports_and_clears_the_accessed_bit()
    {
        _kvm.Fault(Addr(5), write: true);
        pmd_ptr pmd = mm_find_pmd(_space.mm, Addr(5))!;
        pte_ptr ptep = pte_offset_map_lock(_space.mm, pmd, Addr(5), out spinlock_t ptl);
        int first = ptep_clear_flush_young_notify(_space.vma, Addr(5), ptep);
        int second = ptep_clear_flush_young_notify(_space.vma, Addr(5), ptep);
        pte_unmap_unlock(ptep, ptl);

        Assert.Equal(1, first);
        Assert.Equal(0, second);
        Assert.Contains($"clear_flush_young [0x{Addr(5):x},0x{Addr(6):x}) -> 1", _kvm.Steps.Lines);
        Assert.Contains($"clear_flush_young [0x{Addr(5):x},0x{Addr(6):x}) -> 0", _kvm.Steps.Lines);
        Assert.True(_kvm.TryGetTranslation(Addr(5), out _));
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Test_young_reads_the_accessed_bit_without_clearing_it()
    {
        _kvm.Fault(Addr(6), write: false);

        Assert.Equal(1, mmu_notifier_test_young(_space.mm, Addr(6)));
        Assert.Equal(1, mmu_notifier_test_young(_space.mm, Addr(6)));
        Assert.Equal(0, mmu_notifier_test_young(_space.mm, Addr(7)));
        Assert.Contains($"test_young 0x{Addr(6):x} -> 1", _kvm.Steps.Lines);
    }

    [Fact]
    public void Change_pte_inside_its_start_end_finds_the_entry_already_zapped()
    {
        _kvm.Fault(Addr(7), write: true);
        ulong mmun_start = Addr(7);
        ulong mmun_end = Addr(8);
        mmu_notifier_invalidate_range_start(_space.mm, mmun_start, mmun_end);
        pmd_ptr pmd = mm_find_pmd(_space.mm, Addr(7))!;
        pte_ptr ptep = pte_offset_map_lock(_space.mm, pmd, Addr(7), out spinlock_t ptl);
        pte_t pte = ptep_get(ptep);
        set_pte_at_notify(_space.mm, Addr(7), ptep, pte_wrprotect(pte));
        pte_unmap_unlock(ptep, ptl);
        mmu_notifier_invalidate_range_end(_space.mm, mmun_start, mmun_end);

        Assert.Contains($"change_pte 0x{Addr(7):x} -> pfn 0x{pte_pfn(pte):x}, no shadow entry", _kvm.Steps.Lines);
        Assert.False(_kvm.TryGetTranslation(Addr(7), out _));

        // A read fault now maps the write-protected page read-only.
        Assert.Equal(SecondaryFaultResult.Installed, _kvm.Fault(Addr(7), write: false));
        Assert.False(_kvm.IsWritable(Addr(7)));
        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Unregister_runs_release_and_later_invalidations_do_not_reach_it()
    {
        _kvm.Fault(Addr(8), write: true);
        _kvm.Dispose();

        Assert.True(_kvm.Released);
        Assert.Empty(_kvm.Translations());
        Assert.DoesNotContain(_kvm.Notifier, _space.mm.Notifiers);
        long starts = _kvm.StartsSeen;
        _space.Zap(Addr(8), Addr(9));
        Assert.Equal(starts, _kvm.StartsSeen);
        Assert.Equal("release: zapped 1", _kvm.Steps.Lines[^1]);
    }

    [Fact]
    public void Mmput_runs_release()
    {
        var space = new TestAddressSpace(4);
        var kvm = new KvmLikeMmu(space.mm);
        kvm.Fault(Addr(0), write: true);

        space.Dispose();

        Assert.True(kvm.Released);
        Assert.Empty(kvm.Translations());
        Assert.Empty(_sink.Violations);
    }
}
