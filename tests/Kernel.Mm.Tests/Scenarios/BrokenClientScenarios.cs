using System;
using System.Linq;
using Kernel.Mm;
using Kernel.Mm.SecondaryMmu;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Scenarios;

/// <summary>
/// The deliberately broken clients of Kernel.Mm.SecondaryMmu, one per protocol mistake, beside
/// the three correct secondary MMUs: where the mistake makes a translation stale, the coherence
/// checker catches it (COHERENCE, and MMU010 when the page is then freed) next to the runtime
/// twin's report of the mistake itself.
/// </summary>
[Collection(ScenarioCollection.Name)]
public class BrokenClientScenarios
{
    private const ulong Base = ScenarioRig.Base;
    private const ulong Size = 16 * PAGE_SIZE;
    private const ulong A = Base + (2 * PAGE_SIZE);

    /// <summary>
    /// The broken client faults on A; in its window (its cond_resched) the page is unmapped
    /// properly (zap_page_range: start/end) and the CPU faults a new page in. Returns the page
    /// the client looked up (now freed) after its fault returned.
    /// </summary>
    private static page RaceUnmapIntoFault(ScenarioRig rig, vm_area_struct vma, Func<SecondaryFaultResult> fault)
    {
        page old = rig.CpuPage(A)!;
        bool fired = false;
        using (MmRuntime.OnPreemptionPoint(name =>
        {
            if (name == nameof(cond_resched) && !fired)
            {
                fired = true;
                zap_page_range(vma, A, PAGE_SIZE);
                rig.CpuFault(A, write: true);
            }
        }))
        {
            Assert.Equal(SecondaryFaultResult.Installed, fault());
        }

        Assert.True(fired);
        return old;
    }

    private static void AssertStale(ScenarioRig rig, string mmu, page old)
    {
        Assert.True(rig.Checker.CheckAll() > 0 || rig.Checker.Violations.Any(v => v.Mmu == mmu));
        Assert.Contains(rig.Checker.Violations, v => v.Kind == CoherenceViolationKind.StaleTranslation && v.Mmu == mmu && v.Address == A);
        Assert.Contains(rig.Checker.Violations, v => v.Kind == CoherenceViolationKind.FreedWhileMapped && v.Mmu == mmu && v.SecondaryPfn == page_to_pfn(old));
        // The correct clients never mapped A stale.
        Assert.DoesNotContain(rig.Checker.Violations, v => v.Mmu is "kvm" or "odp" or "iommu");
    }

    [Fact]
    public void NoRetryMirror_installs_with_a_stale_sequence_MMU012_and_keeps_the_unmapped_page()
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        var mirror = rig.AttachExtra(new NoRetryMirror(rig.Mm, Base, Size));
        rig.CpuFault(A, write: true);

        var old = RaceUnmapIntoFault(rig, vma, () => mirror.Fault(A, write: false));

        Assert.True(mirror.TryGetTranslation(A, out var mapped));
        Assert.Same(old, mapped);
        Assert.NotSame(old, rig.CpuPage(A));
        AssertStale(rig, "no-retry", old);
        var twin = Assert.Single(rig.Sink.Violations, v => v.RuleId == "MMU012");
        Assert.Contains(nameof(NoRetryMirror.Fault), twin.StackTrace);
        rig.AssertIds("COHERENCE", "MMU010", "MMU012");
    }

    [Fact]
    public void OdpLikeMirror_under_the_same_race_retries_and_stays_coherent()
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        rig.CpuFault(A, write: true);
        bool fired = false;
        using (MmRuntime.OnPreemptionPoint(name =>
        {
            if (name == nameof(cond_resched) && !fired)
            {
                fired = true;
                zap_page_range(vma, A, PAGE_SIZE);
                rig.CpuFault(A, write: true);
            }
        }))
        {
            Assert.Equal(SecondaryFaultResult.Retry, rig.Odp.Fault(A, write: false));
        }

        Assert.Same(rig.CpuPage(A), rig.Odp.Access(A, write: false));
        Assert.Equal(0, rig.Checker.CheckAll());
        rig.AssertIds();
    }

    [Fact]
    public void MixedModelMmu_is_reported_at_registration_MMU011_and_its_flush_does_not_stop_the_stale_install()
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        var mixed = rig.AttachExtra(new MixedModelMmu(rig.Mm));
        var registration = Assert.Single(rig.Sink.Violations);
        Assert.Equal("MMU011", registration.RuleId);
        Assert.Contains("mmu_notifier_register(mixed_notifier", registration.Message);
        rig.CpuFault(A, write: true);

        var old = RaceUnmapIntoFault(rig, vma, () => mixed.Fault(A, write: false));

        Assert.Contains(mixed.Steps.Lines, l => l.StartsWith("invalidate_range [", StringComparison.Ordinal));   // the flush ran, before the install
        AssertStale(rig, "mixed", old);
        rig.AssertIds("COHERENCE", "MMU010", "MMU011");
    }

    [Fact]
    public void BrokenSecondaryMmu_start_without_end_is_MMU011_and_reinstalls_the_unmapped_page()
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        var broken = rig.AttachExtra(new BrokenSecondaryMmu(rig.Mm));
        Assert.Contains("invalidate_range_start without invalidate_range_end", Assert.Single(rig.Sink.Violations).Message);
        rig.CpuFault(A, write: true);

        var old = RaceUnmapIntoFault(rig, vma, () => broken.Fault(A, write: false));

        AssertStale(rig, "broken", old);
        rig.AssertIds("COHERENCE", "MMU010", "MMU011");
    }

    [Fact]
    public void SleepingNonblockMmu_sleeps_in_the_oom_reapers_start_MMU014_with_nothing_stale()
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        var sleeping = rig.AttachExtra(new SleepingNonblockMmu(rig.Mm));
        rig.CpuFault(A, write: true);
        rig.SecondariesMap(A, write: true);
        Assert.Equal(SecondaryFaultResult.Installed, sleeping.Fault(A, write: true));

        // __oom_reap_task_mm: a non-blockable range over the vma, unmapped only if every notifier agreed.
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, rig.Mm, vma.vm_start, vma.vm_end);
        if (mmu_notifier_invalidate_range_start_nonblock(range) == 0)
        {
            mmu_notifier_invalidate_range_end(range);
        }

        var twin = Assert.Single(rig.Sink.Violations);
        Assert.Equal("MMU014", twin.RuleId);
        Assert.Contains("sleeping_notifier", twin.Message);
        Assert.Contains("sleeping_invalidate_range_start", twin.StackTrace);
        Assert.Equal(0, rig.Checker.CheckAll());
        rig.AssertIds("MMU014");
    }

    [Fact]
    public void SelfUnregisteringMmu_unregisters_from_its_release_MMU015_and_stays_registered()
    {
        using var rig = new ScenarioRig();
        rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        var self = rig.AttachExtra(new SelfUnregisteringMmu(rig.Mm));
        int before = rig.Mm.Notifiers.Count;

        self.Dispose();   // unbind: unregister -> ->release -> unregister again, inside the SRCU section

        Assert.True(self.Released);
        var twin = Assert.Single(rig.Sink.Violations);
        Assert.Equal("MMU015", twin.RuleId);
        Assert.Contains("context_release", twin.StackTrace);
        Assert.Equal(before - 1, rig.Mm.Notifiers.Count);   // the outer unregister still completed
        rig.AssertIds("MMU015");
    }

    [Fact]
    public void UnnotifiedZap_clears_ptes_no_notifier_hears_MMU013_and_every_secondary_keeps_the_freed_page()
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        rig.CpuFault(A, write: true);
        rig.SecondariesMap(A, write: true);
        page old = rig.CpuPage(A)!;

        Assert.Equal(1, UnnotifiedZap.zap_pte_range_unnotified(vma, A, A + PAGE_SIZE));
        Assert.Null(rig.CpuPage(A));
        Assert.Equal(new[] { "kvm", "odp", "iommu" }, rig.StaleAt(A));
        Assert.True(rig.Checker.CheckAll() > 0);
        foreach (var mmu in new[] { "kvm", "odp", "iommu" })
        {
            Assert.Contains(rig.Checker.Violations, v => v.Kind == CoherenceViolationKind.StaleTranslation && v.Mmu == mmu);
            Assert.Contains(rig.Checker.Violations, v => v.Kind == CoherenceViolationKind.FreedWhileMapped && v.Mmu == mmu && v.SecondaryPfn == page_to_pfn(old));
        }

        // The twin reports the change with its own stack when the thread next opens a range.
        Assert.DoesNotContain(rig.Sink.Violations, v => v.RuleId == "MMU013");
        zap_page_range(vma, A + PAGE_SIZE, PAGE_SIZE);
        var twin = Assert.Single(rig.Sink.Violations, v => v.RuleId == "MMU013");
        Assert.Contains("ptep_get_and_clear(", twin.Message);
        Assert.Contains(nameof(UnnotifiedZap.zap_pte_range_unnotified), twin.StackTrace);
        rig.AssertIds("COHERENCE", "MMU010", "MMU013");
    }
}
