using System;
using System.Linq;
using Kernel.Mm.SecondaryMmu;
using Xunit;
using static Kernel.Mm.Linux;
using static Kernel.Mm.Tests.SecondaryMmu.TestAddressSpace;

namespace Kernel.Mm.Tests.SecondaryMmu;

public sealed class CoherenceCheckerTests : IDisposable
{
    private readonly CollectingViolationSink _sink = new();
    private readonly IDisposable _useSink;
    private readonly TestAddressSpace _space = new(16);
    private readonly CoherenceChecker _checker;

    public CoherenceCheckerTests()
    {
        _useSink = MmRuntime.UseSink(_sink);
        _checker = new CoherenceChecker(_space.mm);
    }

    public void Dispose()
    {
        _checker.Dispose();
        _space.Dispose();
        _useSink.Dispose();
    }

    [Fact]
    public void Broken_client_that_installs_after_the_invalidation_is_reported_stale_and_freed_while_mapped()
    {
        using var broken = new BrokenSecondaryMmu(_space.mm);
        _checker.Attach(broken);
        _space.Touch(Addr(1), write: true);
        page old = _space.CpuPage(Addr(1))!;
        bool fired = false;

        // The race seed 000 describes: the invalidation runs between the broken fault's lookup
        // and its install; nothing makes the fault retry.
        using (MmRuntime.OnPreemptionPoint(name =>
        {
            if (name == nameof(cond_resched) && !fired)
            {
                fired = true;
                _space.Zap(Addr(1), Addr(2));
            }
        }))
        {
            Assert.Equal(SecondaryFaultResult.Installed, broken.Fault(Addr(1), write: true));
        }

        Assert.True(fired);
        Assert.True(broken.TryGetTranslation(Addr(1), out page? stale));
        Assert.Same(old, stale);
        Assert.Null(_space.CpuPage(Addr(1)));

        // The fault dropped its gup reference after installing: the page was freed while mapped.
        CoherenceViolation freed = Assert.Single(_checker.Violations);
        Assert.Equal(CoherenceViolationKind.FreedWhileMapped, freed.Kind);
        Assert.Equal("MMU010", freed.RuleId);
        Assert.Equal(Addr(1), freed.Address);
        Assert.Equal(page_to_pfn(old), freed.SecondaryPfn);
        Assert.StartsWith("MMU010: put_page freed pfn", freed.Message);

        // The next invalidation's end (anywhere near) or CheckAll finds the stale translation.
        Assert.Equal(1, _checker.CheckAll());
        CoherenceViolation staleReport = _checker.Violations[^1];
        Assert.Equal(CoherenceViolationKind.StaleTranslation, staleReport.Kind);
        Assert.Equal(CoherenceChecker.StaleTranslationId, staleReport.RuleId);
        Assert.Null(staleReport.CpuPfn);
        Assert.Contains("broken still translates", staleReport.Message);

        Assert.True(_sink.Has("MMU010"));
        Assert.True(_sink.Has("COHERENCE"));

        // Reported once, not again on every later check.
        Assert.Equal(0, _checker.CheckAll());
    }

    [Fact]
    public void Stale_translation_is_reported_when_the_invalidation_covering_it_ends()
    {
        using var broken = new BrokenSecondaryMmu(_space.mm);
        _checker.Attach(broken);
        _space.Touch(Addr(2), write: true);
        broken.Fault(Addr(2), write: true);

        // A CPU COW-like replacement bracketed by start/end: the broken client zaps at start, then
        // re-faults the old page before the pte changes (it has no count to stop it).
        page old = _space.CpuPage(Addr(2))!;
        ulong mmun_start = Addr(2);
        ulong mmun_end = Addr(3);
        get_page(old);
        mmu_notifier_invalidate_range_start(_space.mm, mmun_start, mmun_end);
        broken.Fault(Addr(2), write: true);
        _space.ZapOne(Addr(2));
        Assert.Empty(_checker.Violations);
        mmu_notifier_invalidate_range_end(_space.mm, mmun_start, mmun_end);

        CoherenceViolation v = Assert.Single(_checker.Violations);
        Assert.Equal(CoherenceViolationKind.StaleTranslation, v.Kind);
        Assert.Equal("broken", v.Mmu);
        Assert.Equal(Addr(2), v.Address);
        Assert.Equal(page_to_pfn(old), v.SecondaryPfn);
        Assert.True(_sink.Has("COHERENCE"));
        _checker.Detach(broken);
        broken.Dispose();
        put_page(old);
    }

    [Fact]
    public void Correct_clients_under_unmap_and_refault_produce_no_violation()
    {
        using var kvm = new KvmLikeMmu(_space.mm);
        using var iommu = new IommuLikeClient(_space.mm);
        using var odp = new OdpLikeMirror(_space.mm);
        odp.RegisterRegion(Base, 16 * PAGE_SIZE);
        _checker.Attach(kvm);
        _checker.Attach(iommu);
        _checker.Attach(odp);

        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 8; i++)
            {
                Assert.NotNull(kvm.Access(Addr(i), write: (i & 1) == 0));
                Assert.NotNull(iommu.Translate(Addr(i), write: false));
                Assert.NotNull(odp.Access(Addr(i), write: true));
            }

            _space.Zap(Addr(0), Addr(8));
        }

        // Fault everything back: the checker compares each translation with the CPU table.
        for (int i = 0; i < 8; i++)
        {
            kvm.Access(Addr(i), write: false);
            iommu.Translate(Addr(i), write: false);
            odp.Access(Addr(i), write: false);
        }

        Assert.Equal(0, _checker.CheckAll());
        Assert.Equal(24, _checker.TranslationsChecked);
        Assert.Empty(_checker.Violations);
        Assert.Empty(_sink.Violations);
    }

    [Fact]
    public void Freed_while_mapped_is_reported_for_a_caller_that_frees_before_invalidating()
    {
        using var iommu = new IommuLikeClient(_space.mm);
        _checker.Attach(iommu);
        iommu.Translate(Addr(3), write: true);
        page page = _space.CpuPage(Addr(3))!;

        // The bug filemap_xip had: clear without notify, release, and only then invalidate.
        ulong mmun_start = Addr(3);
        ulong mmun_end = Addr(4);
        mmu_notifier_invalidate_range_start(_space.mm, mmun_start, mmun_end);
        pmd_ptr pmd = mm_find_pmd(_space.mm, Addr(3))!;
        pte_ptr ptep = pte_offset_map_lock(_space.mm, pmd, Addr(3), out spinlock_t ptl);
        ptep_clear_flush(_space.vma, Addr(3), ptep);
        page_remove_rmap(page);
        pte_unmap_unlock(ptep, ptl);
        put_page(page);
        mmu_notifier_invalidate_range_end(_space.mm, mmun_start, mmun_end);

        CoherenceViolation v = Assert.Single(_checker.Violations, x => x.Kind == CoherenceViolationKind.FreedWhileMapped);
        Assert.Equal("iommu", v.Mmu);
        Assert.Equal(Addr(3), v.Address);
        Assert.Contains(_sink.Violations, x => x.RuleId == "MMU010" && x.Message.Contains("iommu still maps it"));
    }

    [Fact]
    public void Detached_mmu_is_no_longer_checked()
    {
        using var broken = new BrokenSecondaryMmu(_space.mm);
        _checker.Attach(broken);
        _checker.Detach(broken);
        _space.Touch(Addr(4), write: true);
        broken.Fault(Addr(4), write: true);
        mmu_notifier_invalidate_range_start(_space.mm, Addr(4), Addr(5));
        broken.Fault(Addr(4), write: true);
        _space.ZapOne(Addr(4));
        mmu_notifier_invalidate_range_end(_space.mm, Addr(4), Addr(5));

        Assert.Equal(0, _checker.CheckAll());
        Assert.Empty(_checker.Violations);
    }

    [Fact]
    public void Attach_rejects_an_mmu_of_another_mm()
    {
        using var other = new TestAddressSpace(1);
        using var kvm = new KvmLikeMmu(other.mm);
        var ex = Assert.Throws<ArgumentException>(() => _checker.Attach(kvm));
        Assert.Contains("another mm", ex.Message);
    }
}
