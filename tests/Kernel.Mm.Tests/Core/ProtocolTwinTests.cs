using System;
using System.Linq;
using Kernel.Mm;
using Kernel.Mm.SecondaryMmu;
using MmuNotifierAnalyzers;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

/// <summary>The runtime twins of the protocol rules MMU011–MMU015: each fires on the mistake, with
/// the call stack of where it happened, and stays silent on the correct form.</summary>
public class ProtocolTwinTests
{
    private const ulong A = TestMm.Base;

    private static CollectingViolationSink Run(Action body)
    {
        var sink = new CollectingViolationSink();
        using (MmRuntime.UseSink(sink))
        {
            body();
        }

        return sink;
    }

    private static void Nothing(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
    }

    [Fact]
    [TwinOf(RuleIdentifiers.InconsistentNotifierOps)]
    public void MMU011_ops_that_mix_invalidate_range_with_start_end_or_start_without_end()
    {
        var (mm, _) = TestMm.Anon();
        var mixedLegacy = new mmu_notifier { ops = new mmu_notifier_ops { invalidate_range_start = Nothing, invalidate_range_end = Nothing, invalidate_range = Nothing } };
        var mixedRangeForm = new mmu_notifier { ops = new mmu_notifier_ops { invalidate_range_end_range = (_, _) => { }, invalidate_range = Nothing } };
        var startOnly = new mmu_notifier { ops = new mmu_notifier_ops { invalidate_range_start_range = (_, _) => 0 } };
        var sink = Run(() =>
        {
            mmu_notifier_register(mixedLegacy, mm);
            mmu_notifier_register(mixedRangeForm, mm);
            mmu_notifier_register(startOnly, mm);
        });
        Assert.Equal(new[] { "MMU011", "MMU011", "MMU011" }, sink.Violations.Select(v => v.RuleId));
        Assert.StartsWith("MMU011: mmu_notifier_register(mmu_notifier, mm#", sink.Violations[0].Message);
        Assert.Contains("invalidate_range together with invalidate_range_start", sink.Violations[0].Message);
        Assert.Contains("invalidate_range together with invalidate_range_end", sink.Violations[1].Message);
        Assert.Contains("invalidate_range_start without invalidate_range_end", sink.Violations[2].Message);
        Assert.Contains(nameof(MMU011_ops_that_mix_invalidate_range_with_start_end_or_start_without_end), sink.Violations[0].StackTrace);

        // One model each: silent.
        var startEnd = new mmu_notifier { ops = new mmu_notifier_ops { invalidate_range_start_range = (_, _) => 0, invalidate_range_end = Nothing } };
        var shared = new mmu_notifier { ops = new mmu_notifier_ops { invalidate_range = Nothing } };
        Assert.Empty(Run(() =>
        {
            mmu_notifier_register(startEnd, mm);
            mmu_notifier_register(shared, mm);
        }).Violations);
        foreach (var mn in new[] { mixedLegacy, mixedRangeForm, startOnly, startEnd, shared })
        {
            mmu_notifier_unregister(mn, mm);
        }

        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.MappingWithoutRetryCheck)]
    public void MMU012_an_install_with_a_sequence_an_invalidation_moved()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, A, FAULT_FLAG_WRITE);
        var broken = new NoRetryMirror(mm, A, 4 * PAGE_SIZE);
        var odp = new OdpLikeMirror(mm);
        odp.RegisterRegion(A + (8 * PAGE_SIZE), 4 * PAGE_SIZE);
        handle_mm_fault(vma, A + (8 * PAGE_SIZE), FAULT_FLAG_WRITE);

        // An invalidation runs in the fault's window (at its cond_resched), on the same thread.
        void InvalidateAt(ulong address)
        {
            bool fired = false;
            using (MmRuntime.OnPreemptionPoint(name =>
            {
                if (name == nameof(cond_resched) && !fired)
                {
                    fired = true;
                    mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE);
                    mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE);
                }
            }))
            {
                if (address == A)
                {
                    Assert.Equal(SecondaryFaultResult.Installed, broken.Fault(address, write: false));
                }
                else
                {
                    Assert.Equal(SecondaryFaultResult.Retry, odp.Fault(address, write: false));
                }
            }
        }

        var sink = Run(() => InvalidateAt(A));
        var v = Assert.Single(sink.Violations);
        Assert.Equal("MMU012", v.RuleId);
        Assert.Contains("no-retry installs a secondary mapping of 0x10000000", v.Message);
        Assert.Contains("no mmu_interval_read_retry was called since mmu_interval_read_begin", v.Message);
        Assert.Contains(nameof(NoRetryMirror.Fault), v.StackTrace);

        // No race: the same install is silent; the ODP mirror retries the raced fault: silent.
        Assert.Empty(Run(() => broken.Fault(A + PAGE_SIZE, write: false)).Violations);
        Assert.Empty(Run(() => InvalidateAt(A + (8 * PAGE_SIZE))).Violations);
        broken.Dispose();
        odp.Dispose();
        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.EntryChangedWithoutInvalidation)]
    public void MMU013_an_entry_cleared_or_write_protected_with_no_bracket_and_no_notification()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, A, FAULT_FLAG_WRITE);
        handle_mm_fault(vma, A + PAGE_SIZE, FAULT_FLAG_WRITE);
        var pmd = mm_find_pmd(mm, A)!;

        // No notifier registered yet: nobody to tell, silent.
        Assert.Empty(Run(() =>
        {
            var pte = pte_offset_map_lock(mm, pmd, A + PAGE_SIZE, out var ptl);
            ptep_set_wrprotect(mm, A + PAGE_SIZE, pte);
            pte_unmap_unlock(pte, ptl);
            mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
            mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        }).Violations);

        var rec = RecordingNotifier.Create();
        mmu_notifier_register(rec, mm);
        var sink = Run(() =>
        {
            var pte = pte_offset_map_lock(mm, pmd, A, out var ptl);
            var old = ptep_get_and_clear(mm, A, pte);
            set_pte_at(mm, A, pte, pte_wrprotect(old));          // put back read-only: still a downgrade nobody hears
            pte_unmap_unlock(pte, ptl);
            mmu_notifier_invalidate_range_start(mm, A + (4 * PAGE_SIZE), A + (5 * PAGE_SIZE));   // the next bracket reports
            mmu_notifier_invalidate_range_end(mm, A + (4 * PAGE_SIZE), A + (5 * PAGE_SIZE));
        });
        Assert.Equal(new[] { "MMU013" }, sink.Violations.Select(v => v.RuleId).Distinct());
        Assert.StartsWith($"MMU013: ptep_get_and_clear({mm}, 0x10000000) clears a present entry", sink.Violations[0].Message);
        Assert.Contains(nameof(MMU013_an_entry_cleared_or_write_protected_with_no_bracket_and_no_notification), sink.Violations[0].StackTrace);
        Assert.DoesNotContain(nameof(mmu_notifier_invalidate_range_start), sink.Violations[0].StackTrace);   // the stack of the change

        // Bracketed: silent. Notified afterwards by invalidate_page: that call's rule (MMU001), not MMU013.
        Assert.Empty(Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
            var pte = pte_offset_map_lock(mm, pmd, A, out var ptl);
            ptep_set_wrprotect(mm, A, pte);
            pte_unmap_unlock(pte, ptl);
            mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        }).Violations);
        var page = TestMm.PageAt(mm, A + PAGE_SIZE);
        var legacy = Run(() =>
        {
            var pte = pte_offset_map_lock(mm, pmd, A + PAGE_SIZE, out var ptl);
            ptep_clear_flush(vma, A + PAGE_SIZE, pte);
            pte_unmap_unlock(pte, ptl);
            mmu_notifier_invalidate_page(mm, A + PAGE_SIZE);
            page_remove_rmap(page);
            put_page(page);
            mmu_notifier_unregister(rec, mm);
            mmput(mm);
        });
        Assert.Equal(new[] { "MMU001" }, legacy.Violations.Select(v => v.RuleId));
    }

    [Fact]
    [TwinOf(RuleIdentifiers.NonBlockableMisuse)]
    public void MMU014_sleeping_in_a_nonblockable_start_and_ending_or_unmapping_after_a_refusal()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, A, FAULT_FLAG_WRITE);
        var sleeper = new SleepingNonblockMmu(mm);
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, A, A + PAGE_SIZE);

        // (b) The OOM reaper's start: the callback sleeps (MMU014, not MMU004).
        var sink = Run(() =>
        {
            Assert.Equal(0, mmu_notifier_invalidate_range_start_nonblock(range));
            mmu_notifier_invalidate_range_end(range);
        });
        var v = Assert.Single(sink.Violations);
        Assert.Equal("MMU014", v.RuleId);
        Assert.Contains("might_sleep() called from mutex_lock() inside the atomic ->invalidate_range_start (non-blockable range) callback of notifier sleeping_notifier", v.Message);
        Assert.Contains("mmu_notifier_range_blockable(range)", v.Message);
        sleeper.Dispose();

        // (a) A notifier refuses: ending the range, or clearing its entries, is MMU014.
        var refuser = new mmu_notifier
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range_start_range = (_, r) => mmu_notifier_range_blockable(r) ? 0 : -EAGAIN,
                invalidate_range_end_range = (_, _) => { },
            },
        };
        mmu_notifier_register(refuser, mm);
        var pmd = mm_find_pmd(mm, A)!;
        sink = Run(() =>
        {
            Assert.Equal(-EAGAIN, mmu_notifier_invalidate_range_start_nonblock(range));
            var pte = pte_offset_map_lock(mm, pmd, A, out var ptl);
            ptep_get_and_clear(mm, A, pte);          // unmap_page_range anyway
            pte_unmap_unlock(pte, ptl);
            mmu_notifier_invalidate_range_end(range);
        });
        Assert.Equal(new[] { "MMU014", "MMU014" }, sink.Violations.Select(x => x.RuleId));
        Assert.Contains("clears an entry in [0x10000000, 0x10001000)", sink.Violations[0].Message);
        Assert.Contains("ends a range whose mmu_notifier_invalidate_range_start_nonblock returned -EAGAIN", sink.Violations[1].Message);

        // The fixed reaper gives up on -EAGAIN: silent.
        Assert.Empty(Run(() => Assert.Equal(-EAGAIN, mmu_notifier_invalidate_range_start_nonblock(range))).Violations);
        mmu_notifier_unregister(refuser, mm);
        mmput(mm);
    }

    [Fact]
    [TwinOf(RuleIdentifiers.RegistrationMisuse)]
    public void MMU015_register_with_mmap_sem_held_or_not_held_and_unregister_from_a_callback()
    {
        var (mm, _) = TestMm.Anon();
        var a = RecordingNotifier.Create();
        var b = RecordingNotifier.Create();
        var sink = Run(() =>
        {
            down_read(mm.mmap_sem);
            Assert.Equal(-35, mmu_notifier_register(a, mm));      // -EDEADLK instead of hanging
            up_read(mm.mmap_sem);
            __mmu_notifier_register(b, mm);                        // without mmap_sem held for write
        });
        Assert.Equal(new[] { "MMU015", "MMU015" }, sink.Violations.Select(v => v.RuleId));
        Assert.Contains($"mmu_notifier_register({mm}) is called with {mm}->mmap_sem held by the caller (read)", sink.Violations[0].Message);
        Assert.Contains($"__mmu_notifier_register({mm}) is called without {mm}->mmap_sem held for write", sink.Violations[1].Message);
        Assert.Equal(new[] { b }, mm.Notifiers);

        // The right forms: silent.
        Assert.Empty(Run(() =>
        {
            mmu_notifier_register(a, mm);
            mmu_notifier_unregister(b, mm);
            down_write(mm.mmap_sem);
            __mmu_notifier_register(b, mm);
            up_write(mm.mmap_sem);
        }).Violations);

        // Unregister from one of the notifier's callbacks: reported, and it stays registered.
        var self = new mmu_notifier
        {
            ops = new mmu_notifier_ops { invalidate_range_start = (mn, m, _, _) => mmu_notifier_unregister(mn, m), invalidate_range_end = Nothing },
        };
        mmu_notifier_register(self, mm);
        sink = Run(() =>
        {
            mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
            mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        });
        var v = Assert.Single(sink.Violations);
        Assert.Equal("MMU015", v.RuleId);
        Assert.Contains("is called from inside a notifier callback", v.Message);
        Assert.Contains(self, mm.Notifiers);
        foreach (var mn in new[] { self, a, b })
        {
            mmu_notifier_unregister(mn, mm);
        }

        mmput(mm);
    }
}
