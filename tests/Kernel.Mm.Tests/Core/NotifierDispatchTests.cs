using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

public class NotifierDispatchTests
{
    private const ulong A = TestMm.Base;

    [Fact]
    public void Start_end_and_the_implicit_invalidate_range_reach_every_notifier()
    {
        var (mm, _) = TestMm.Anon();
        var a = RecordingNotifier.Create(withInvalidateRange: false);
        var b = RecordingNotifier.Create(withInvalidateRange: true, startEnd: false);
        mmu_notifier_register(a, mm);
        mmu_notifier_register(b, mm);
        Assert.Equal(2, mm.Notifiers.Count);
        var ended = new List<(ulong, ulong)>();
        mm.InvalidationEnded += (m, s, e) => ended.Add((s, e));

        mmu_notifier_invalidate_range_start(mm, A, A + (2 * PAGE_SIZE));
        Assert.Empty(ended);
        mmu_notifier_invalidate_range_end(mm, A, A + (2 * PAGE_SIZE));

        Assert.Equal(new[] { "start 10000000-10002000", "end 10000000-10002000" }, a.Snapshot());
        Assert.Equal(new[] { "range 10000000-10002000" }, b.Snapshot());  // implicit from end
        Assert.Equal(new[] { (A, A + (2 * PAGE_SIZE)) }, ended);
        Assert.Equal(1, mm.InvalidateRangeStartCalls);
        Assert.Equal(1, mm.InvalidateRangeEndCalls);
        Assert.Equal(0, mm.OpenInvalidations);
        mmu_notifier_unregister(a, mm);
        mmu_notifier_unregister(b, mm);
        mmput(mm);
    }

    [Fact]
    public void Range_form_passes_the_range_and_only_end_skips_invalidate_range()
    {
        var (mm, vma) = TestMm.Anon();
        var b = RecordingNotifier.Create(withInvalidateRange: true);
        b.RegisterOn(mm);
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_PROTECTION_VMA, 0, vma, mm, A, A + PAGE_SIZE);
        Assert.False(mmu_notifier_range_blockable(range));
        mmu_notifier_invalidate_range_start(range);
        Assert.True(mmu_notifier_range_blockable(range));
        mmu_notifier_invalidate_range_only_end(range);
        Assert.Equal(new[] { "start 10000000-10001000", "end 10000000-10001000" }, b.Snapshot());
        b.UnregisterFrom(mm);
        mmput(mm);
    }

    [Fact]
    public void The_4_20_callback_form_gets_the_range_and_mixes_with_the_old_form_on_one_mm()
    {
        var (mm, vma) = TestMm.Anon();
        var log = new List<string>();
        var modern = new mmu_notifier
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range_start_range = (_, r) => { log.Add($"start {r.@event} {r.start:x}-{r.end:x} blockable={mmu_notifier_range_blockable(r)}"); return 0; },
                invalidate_range_end_range = (_, r) => log.Add($"end {r.@event} {r.start:x}-{r.end:x}"),
            },
        };
        var old = RecordingNotifier.Create(withInvalidateRange: false);
        mmu_notifier_register(modern, mm);
        mmu_notifier_register(old, mm);

        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_PROTECTION_PAGE, MMU_NOTIFIER_RANGE_BLOCKABLE, vma, mm, A, A + PAGE_SIZE);
        mmu_notifier_invalidate_range_start(range);
        mmu_notifier_invalidate_range_end(range);
        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);  // the legacy caller form reaches both too (as a CLEAR)
        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);

        Assert.Equal(
            new[]
            {
                "start MMU_NOTIFY_PROTECTION_PAGE 10000000-10001000 blockable=True", "end MMU_NOTIFY_PROTECTION_PAGE 10000000-10001000",
                "start MMU_NOTIFY_CLEAR 10000000-10001000 blockable=True", "end MMU_NOTIFY_CLEAR 10000000-10001000",
            },
            log);
        Assert.Equal(new[] { "start 10000000-10001000", "end 10000000-10001000", "start 10000000-10001000", "end 10000000-10001000" }, old.Snapshot());
        mmu_notifier_unregister(modern, mm);
        mmu_notifier_unregister(old, mm);
        mmput(mm);
    }

    [Fact]
    public void A_nonblock_start_refused_with_EAGAIN_ends_every_notifier_and_leaves_no_range_open()
    {
        var (mm, vma) = TestMm.Anon();
        var log = new List<string>();
        var refuses = new mmu_notifier
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range_start_range = (_, r) => mmu_notifier_range_blockable(r) ? 0 : -EAGAIN,
                invalidate_range_end_range = (_, _) => log.Add("refuser end"),
            },
        };
        var accepts = new mmu_notifier
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range_start_range = (_, _) => { log.Add("accepter start"); return 0; },
                invalidate_range_end_range = (_, _) => log.Add("accepter end"),
            },
        };
        mmu_notifier_register(refuses, mm);
        mmu_notifier_register(accepts, mm);
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, MMU_NOTIFIER_RANGE_BLOCKABLE, vma, mm, A, A + PAGE_SIZE);

        Assert.Equal(-EAGAIN, mmu_notifier_invalidate_range_start_nonblock(range));

        // mn_hlist_invalidate_range_start: a notifier that started expects its end, so all get one.
        Assert.Contains("accepter start", log);
        Assert.Contains("accepter end", log);
        Assert.Contains("refuser end", log);
        Assert.Equal(0, mm.OpenInvalidations);
        mmu_notifier_unregister(refuses, mm);
        mmu_notifier_unregister(accepts, mm);
        mmput(mm);
    }

    [Fact]
    public void A_start_may_refuse_only_a_nonblockable_range()
    {
        var (mm, _) = TestMm.Anon();
        var mn = new mmu_notifier { ops = new mmu_notifier_ops { invalidate_range_start_range = (_, _) => -EAGAIN, invalidate_range_end_range = (_, _) => { } } };
        mmu_notifier_register(mn, mm);
        var e = Assert.Throws<InvalidOperationException>(() => mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE));
        Assert.Contains("only -EAGAIN, and only when the range is not blockable", e.Message, StringComparison.Ordinal);
        mmu_notifier_unregister(mn, mm);
        mmput(mm);
    }

    [Fact]
    public void An_ops_table_that_sets_both_forms_of_start_is_rejected_at_registration()
    {
        var (mm, _) = TestMm.Anon();
        var mn = new mmu_notifier
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range_start = (_, _, _, _) => { },
                invalidate_range_start_range = (_, _) => 0,
            },
        };
        var e = Assert.Throws<ArgumentException>(() => mmu_notifier_register(mn, mm));
        Assert.Contains("both forms", e.Message, StringComparison.Ordinal);
        mmput(mm);
    }

    [Fact]
    public void Young_change_pte_and_clear_flush_notify_callbacks_run_in_atomic_context()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, A, FAULT_FLAG_WRITE);
        var atomicSeen = new List<bool>();
        var mn = new mmu_notifier
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range = (_, _, _, _) => atomicSeen.Add(MmRuntime.InAtomicContext),
                change_pte = (_, _, _, _) => atomicSeen.Add(MmRuntime.InAtomicContext),
                clear_flush_young = (_, _, _, _) => { atomicSeen.Add(MmRuntime.InAtomicContext); return 1; },
                clear_young = (_, _, _, _) => { atomicSeen.Add(MmRuntime.InAtomicContext); return 0; },
                test_young = (_, _, _) => { atomicSeen.Add(MmRuntime.InAtomicContext); return 1; },
                invalidate_range_start = (_, _, _, _) => atomicSeen.Add(MmRuntime.InAtomicContext),
            },
        };
        // One notifier with every callback, on purpose: it mixes the models (MMU011).
        var sink = new CollectingViolationSink();
        using (MmRuntime.UseSink(sink))
        {
            mmu_notifier_register(mn, mm);
        }

        Assert.Equal("MMU011", Assert.Single(sink.Violations).RuleId);
        Assert.Equal(1, mmu_notifier_test_young(mm, A));
        Assert.Equal(0, mmu_notifier_clear_young(mm, A, A + PAGE_SIZE));

        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);       // not atomic
        var pmd = mm_find_pmd(mm, A)!;
        var pte = pte_offset_map_lock(mm, pmd, A, out var ptl);
        Assert.Equal(1, ptep_clear_flush_young_notify(vma, A, pte));    // CPU pte young, and the notifier
        var old = ptep_clear_flush_notify(vma, A, pte);
        Assert.True(pte_present(old));
        set_pte_at_notify(mm, A, pte, old);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);         // invalidate_range again
        Assert.Equal(new[] { true, true, false, true, true, true, true }, atomicSeen);
        Assert.False(MmRuntime.InAtomicContext);
        mmu_notifier_unregister(mn, mm);
        mmput(mm);
    }

    [Fact]
    public void Release_runs_once_from_mmput_and_from_unregister()
    {
        var (mm, _) = TestMm.Anon();
        var a = RecordingNotifier.Create();
        var b = RecordingNotifier.Create();
        mmu_notifier_register(a, mm);
        mmu_notifier_register(b, mm);
        mmu_notifier_unregister(a, mm);
        Assert.Equal(new[] { "release" }, a.Snapshot());
        Assert.Single(mm.Notifiers);

        mmput(mm);
        Assert.Equal(new[] { "release" }, b.Snapshot());
        Assert.Empty(mm.Notifiers);
        mmu_notifier_unregister(b, mm);  // after exit_mmap: no second ->release
        Assert.Equal(new[] { "release" }, b.Snapshot());
        Assert.Contains("not registered", Assert.Throws<InvalidOperationException>(() => mmu_notifier_unregister(b, mm)).Message);
    }

    [Fact]
    public void Registering_twice_is_refused()
    {
        var (mm, _) = TestMm.Anon();
        var a = RecordingNotifier.Create();
        mmu_notifier_register(a, mm);
        Assert.Contains("already registered", Assert.Throws<InvalidOperationException>(() => mmu_notifier_register(a, mm)).Message);
        mmu_notifier_unregister(a, mm);
        mmput(mm);
    }

    [Fact]
    public void A_notifier_registered_before_a_start_sees_it_and_none_runs_after_unregister_returns()
    {
        var (mm, _) = TestMm.Anon();
        const int Rounds = 100;
        using var stop = new CancellationTokenSource();
        var gate = new object();
        long invalidations = 0;
        var invalidator = Worker.Start(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
                mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
                lock (gate)
                {
                    invalidations++;
                    Monitor.PulseAll(gate);
                }
            }
        });
        int lateCallbacks = 0;
        try
        {
            for (int i = 0; i < Rounds; i++)
            {
                int starts = 0;
                int unregistered = 0;
                var mn = new mmu_notifier
                {
                    ops = new mmu_notifier_ops
                    {
                        invalidate_range_start = (_, _, _, _) =>
                        {
                            if (Volatile.Read(ref unregistered) != 0)
                            {
                                Interlocked.Increment(ref lateCallbacks);
                            }

                            Interlocked.Increment(ref starts);
                        },
                        invalidate_range_end = (_, _, _, _) =>
                        {
                            if (Volatile.Read(ref unregistered) != 0)
                            {
                                Interlocked.Increment(ref lateCallbacks);
                            }
                        },
                    },
                };
                mmu_notifier_register(mn, mm);
                // Every invalidation that starts after registration returned must reach it.
                lock (gate)
                {
                    long target = invalidations + 2;
                    while (invalidations < target)
                    {
                        // A blocking wait for progress, not a timed sleep: the timeout only
                        // notices an invalidator that died, whose failure Join rethrows.
                        if (!Monitor.Wait(gate, TimeSpan.FromSeconds(1)) && !invalidator.IsAlive)
                        {
                            invalidator.Join();
                            throw new InvalidOperationException("the invalidator stopped without a failure");
                        }
                    }
                }

                Assert.True(Volatile.Read(ref starts) >= 1);
                mmu_notifier_unregister(mn, mm);
                Volatile.Write(ref unregistered, 1);
            }
        }
        finally
        {
            stop.Cancel();
            invalidator.Join();
        }

        Assert.Equal(0, lateCallbacks);
        Assert.Empty(mm.Notifiers);
        Assert.Equal(0, mm.OpenInvalidations);
        mmput(mm);
    }

    [Fact]
    public void Concurrent_register_and_unregister_never_tear_the_list()
    {
        var (mm, _) = TestMm.Anon();
        const int PerThread = 300;
        var threads = new Thread[3];
        var unregistered = new List<(RecordingNotifier Notifier, int CallsAtReturn)>[threads.Length];
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        for (int t = 0; t < threads.Length; t++)
        {
            var mine = unregistered[t] = new List<(RecordingNotifier, int)>(PerThread);
            threads[t] = new Thread(() =>
            {
                try
                {
                    for (int i = 0; i < PerThread; i++)
                    {
                        var mn = RecordingNotifier.Create();
                        mmu_notifier_register(mn, mm);
                        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
                        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
                        mmu_notifier_unregister(mn, mm);
                        var calls = mn.Snapshot();
                        // Its own invalidation ran entirely while it was registered, and
                        // ->release ran once. As in the kernel, an invalidation another thread
                        // began before the unregister may still reach the notifier after
                        // ->release, but only until unregister returns (synchronize_srcu).
                        Assert.Contains("start 10000000-10001000", calls);
                        Assert.Single(calls, c => c == "release");
                        mine.Add((mn, calls.Length));
                    }
                }
                catch (Exception exception)
                {
                    // Reported on the test thread: an assertion thrown here would crash the host.
                    failures.Enqueue(exception);
                }
            });
            threads[t].Start();
        }

        foreach (var t in threads)
        {
            t.Join();
        }

        Assert.Empty(failures);
        foreach (var (notifier, callsAtReturn) in unregistered.SelectMany(list => list))
        {
            Assert.Equal(callsAtReturn, notifier.Snapshot().Length);
        }

        Assert.Empty(mm.Notifiers);
        mmput(mm);
    }
}
