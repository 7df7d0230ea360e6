using System;
using System.Threading;
using Kernel.Mm;
using Kernel.Mm.SecondaryMmu;
using Kernel.Mm.Tests.Core;
using Seeds.Common;
using Xunit;
using static Kernel.Mm.Linux;
using After = Seeds.After;
using Before000 = Seeds.Before.Seed000;

namespace Kernel.Mm.Tests.Scenarios;

/// <summary>
/// A KVM fault paused between its CPU page-table lookup and its install (at the fault path's
/// cond_resched, where the protocol expects invalidations to run), on a thread of its own.
/// Deterministic: two events hand control back and forth, nothing sleeps.
/// </summary>
internal sealed class PausedKvmFault
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private readonly ManualResetEventSlim _lookedUp = new();
    private readonly ManualResetEventSlim _proceed = new();
    private readonly Thread _thread;
    private SecondaryFaultResult _result;
    private Exception? _error;

    public PausedKvmFault(KvmLikeMmu kvm, ulong address, bool write)
    {
        _thread = new Thread(() =>
        {
            bool paused = false;
            using var hook = MmRuntime.OnPreemptionPoint(name =>
            {
                if (name == nameof(cond_resched) && !paused)
                {
                    paused = true;
                    _lookedUp.Set();
                    Assert.True(_proceed.Wait(Limit), "the unmapping side never released the KVM fault");
                }
            });
            try
            {
                _result = kvm.Fault(address, write);
            }
            catch (Exception e)
            {
                _error = e;
            }
            finally
            {
                _lookedUp.Set();
            }
        })
        { IsBackground = true, Name = "kvm vcpu fault" };
    }

    /// <summary>Starts the fault and returns once it has looked the CPU page up.</summary>
    public void StartAndPauseAfterLookup()
    {
        _thread.Start();
        Assert.True(_lookedUp.Wait(Limit), "the KVM fault never reached its cond_resched");
    }

    /// <summary>Lets the fault check the sequence/count and install (or retry); waits for it.</summary>
    public SecondaryFaultResult Finish()
    {
        _proceed.Set();
        Assert.True(_thread.Join(Limit), "the KVM fault did not finish");
        if (_error is not null)
        {
            throw new InvalidOperationException("the KVM fault failed", _error);
        }

        return _result;
    }
}

/// <summary>
/// The 2017 race (seeds 000/001, Jérôme Glisse: invalidate_page "used to happen after page
/// table lock was release and thus a new page might have been setup for the virtual address
/// before the call to invalidate_page()"), replayed deterministically: a KVM fault looks the page
/// up, the rmap code clears the pte, and the fault completes right after pte_unmap_unlock.
/// </summary>
[Collection(ScenarioCollection.Name)]
public sealed class Race2017Tests
{
    private const ulong Base = ScenarioRig.Base;
    private const ulong Size = 16 * PAGE_SIZE;
    private const ulong A = Base + 4 * PAGE_SIZE;
    private const ttu_flags Flags = ttu_flags.TTU_UNMAP | ttu_flags.TTU_IGNORE_MLOCK | ttu_flags.TTU_IGNORE_ACCESS;

    private sealed record Window(SecondaryFaultResult Fault, int ViolationsFound, page? KvmMaps, page? CpuMaps);

    /// <summary>
    /// Runs <paramref name="form"/> with a KVM fault on <see cref="A"/> paused after its lookup;
    /// at the first pte_unmap_unlock after <paramref name="changed"/> holds, the fault completes,
    /// the CPU touches the address again when <paramref name="cpuRefaults"/>, and the checker
    /// looks at everything.
    /// </summary>
    private static Window RunRace(ScenarioRig rig, bool write, Func<bool> changed, Action form, bool cpuRefaults)
    {
        var fault = new PausedKvmFault(rig.Kvm, A, write);
        fault.StartAndPauseAfterLookup();
        Window? window = null;
        bool fired = false;
        using (MmRuntime.OnPreemptionPoint(name =>
        {
            // Once: the CPU fault below reaches pte_unmap_unlock too.
            if (name != nameof(pte_unmap_unlock) || fired || !changed())
            {
                return;
            }

            fired = true;
            var result = fault.Finish();
            if (cpuRefaults)
            {
                rig.CpuFault(A, write);                          // "a new page might have been setup"
            }

            int found = rig.Checker.CheckAll();
            rig.Kvm.TryGetTranslation(A, out page? kvmMaps);
            window = new Window(result, found, kvmMaps, rig.CpuPage(A));
        }))
        {
            form();
        }

        Assert.NotNull(window);
        return window!;
    }

    private static (ScenarioRig rig, vm_area_struct vma, page page) Setup(bool write)
    {
        var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        rig.CpuFault(A, write: true);
        page page = rig.CpuPage(A)!;
        Assert.False(rig.Kvm.TryGetTranslation(A, out _));
        get_page(page);                                          // try_to_unmap's caller's reference
        return (rig, vma, page);
    }

    [Fact]
    public void seed000_try_to_unmap_one_lets_kvm_install_the_unmapped_page_in_the_window()
    {
        var (rig, vma, page) = Setup(write: false);
        using (rig)
        {
            var w = RunRace(rig, write: false, () => rig.CpuPage(A) != page,
                () => Before000.rmap.try_to_unmap_one(page, vma, A, Flags), cpuRefaults: true);

            // Nothing told KVM yet (no start, invalidate_page still to come): the fault installs
            // the page the CPU just unmapped, and the CPU already maps a new page there.
            Assert.Equal(SecondaryFaultResult.Installed, w.Fault);
            Assert.Same(page, w.KvmMaps);
            Assert.NotNull(w.CpuMaps);
            Assert.NotSame(page, w.CpuMaps);
            Assert.True(w.ViolationsFound > 0);
            Assert.Contains(rig.Checker.Violations, v => v.Kind == CoherenceViolationKind.StaleTranslation && v.Mmu == "kvm" && v.Address == A);

            // vmscan frees the page: KVM (which has no invalidate_page) still maps it.
            Assert.Contains(page, TestMm.Freed(() => put_page(page)));
            Assert.Contains(rig.Checker.Violations, v => v.Kind == CoherenceViolationKind.FreedWhileMapped && v.Mmu == "kvm");
            rig.AssertIds("COHERENCE", "MMU001", "MMU010");
        }
    }

    [Fact]
    public void after_try_to_unmap_one_makes_the_same_fault_retry()
    {
        var (rig, vma, page) = Setup(write: false);
        using (rig)
        {
            var w = RunRace(rig, write: false, () => rig.CpuPage(A) != page,
                () => Assert.True(After.rmap.try_to_unmap_one(page, vma, A, Flags)), cpuRefaults: true);

            // invalidate_range_start ran before the pte was cleared: count != 0, the fault retries.
            Assert.Equal(SecondaryFaultResult.Retry, w.Fault);
            Assert.Null(w.KvmMaps);
            Assert.Equal(0, w.ViolationsFound);

            // After the end the guest faults again and gets the CPU's new page.
            Assert.Same(rig.CpuPage(A), rig.Kvm.Access(A, write: false));
            Assert.Contains(page, TestMm.Freed(() => put_page(page)));
            rig.Checker.CheckAll();
            Assert.Empty(rig.Checker.Violations);
            rig.AssertIds();
        }
    }

    [Fact]
    public void seed000_page_mkclean_one_lets_kvm_install_a_writable_translation_in_the_window()
    {
        var (rig, vma, page) = Setup(write: true);
        using (rig)
        {
            var w = RunRace(rig, write: true, () => !pte_write(rig.CpuPte(A)),
                () => Assert.Equal(1, Before000.rmap.page_mkclean_one(page, vma, A)), cpuRefaults: false);

            // The CPU pte is clean and read-only (writeback may start), but KVM installed the
            // writable translation it looked up before: guest writes bypass the write-protect
            // and never dirty the CPU pte. The checker compares pages, not permissions, so this
            // one is seen by the test only.
            Assert.Equal(SecondaryFaultResult.Installed, w.Fault);
            Assert.Same(page, w.KvmMaps);
            Assert.True(rig.Kvm.IsWritable(A));
            put_page(page);
            rig.AssertIds("MMU001");
        }
    }

    [Fact]
    public void after_page_mkclean_one_makes_the_same_fault_retry()
    {
        var (rig, vma, page) = Setup(write: true);
        using (rig)
        {
            int cleaned = 0;
            var w = RunRace(rig, write: true, () => !pte_write(rig.CpuPte(A)),
                () => Assert.True(After.rmap.page_mkclean_one(page, vma, A, ref cleaned)), cpuRefaults: false);

            Assert.Equal(1, cleaned);
            Assert.Equal(SecondaryFaultResult.Retry, w.Fault);
            Assert.Null(w.KvmMaps);
            Assert.False(rig.Kvm.IsWritable(A));
            put_page(page);
            rig.Checker.CheckAll();
            rig.AssertIds();
        }
    }
}
