using System;
using System.Collections.Generic;
using System.Threading;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

/// <summary>
/// The mm's notifier list as the kernel keeps it (an RCU hlist, newest first, linked and unlinked
/// in O(1)) and the dispatch over it, which allocates nothing per notifier. Allocation is counted
/// with <see cref="GC.GetAllocatedBytesForCurrentThread"/> (bytes, not time).
/// </summary>
public class NotifierListTests
{
    private const ulong A = TestMm.Base;

    // Every callback set over the two models (a notifier implements one: MMU011), none allocating.
    private static readonly mmu_notifier_ops s_startEndOps = new()
    {
        invalidate_range_start = (mn, mm, start, end) => { },
        invalidate_range_end = (mn, mm, start, end) => { },
        change_pte = (mn, mm, address, pte) => { },
        clear_flush_young = (mn, mm, start, end) => 0,
        clear_young = (mn, mm, start, end) => 0,
        test_young = (mn, mm, address) => 0,
    };

    private static readonly mmu_notifier_ops s_rangeOps = new()
    {
        invalidate_range = (mn, mm, start, end) => { },
        change_pte = (mn, mm, address, pte) => { },
        clear_flush_young = (mn, mm, start, end) => 0,
        clear_young = (mn, mm, start, end) => 0,
        test_young = (mn, mm, address) => 0,
    };

    [Fact]
    public void Dispatch_allocates_nothing_per_notifier()
    {
        int[] counts = [1, 8, 64];
        var mms = new mm_struct[counts.Length];
        var ranges = new mmu_notifier_range[counts.Length];
        for (int i = 0; i < counts.Length; i++)
        {
            (mms[i], var vma) = TestMm.Anon();
            for (int k = 0; k < counts[i]; k++)
            {
                mmu_notifier_register(new mmu_notifier { ops = k % 2 == 0 ? s_startEndOps : s_rangeOps }, mms[i]);
            }

            ranges[i] = new mmu_notifier_range();
            mmu_notifier_range_init(ranges[i], mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mms[i], A, A + PAGE_SIZE);
        }

        var legacy = new long[counts.Length];
        var rangeForm = new long[counts.Length];
        var atomic = new long[counts.Length];
        Array.Fill(legacy, long.MaxValue);
        Array.Fill(rangeForm, long.MaxValue);
        Array.Fill(atomic, long.MaxValue);

        // Round-robin over n, keeping each path's least count: any allocation of the first calls
        // (statics, the thread's runtime state, list growth) is gone after the first rounds, and
        // every n is measured with the same code.
        for (int round = 0; round < 20; round++)
        {
            for (int i = 0; i < counts.Length; i++)
            {
                var mm = mms[i];
                long before = GC.GetAllocatedBytesForCurrentThread();
                mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
                mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
                legacy[i] = Math.Min(legacy[i], GC.GetAllocatedBytesForCurrentThread() - before);

                before = GC.GetAllocatedBytesForCurrentThread();
                mmu_notifier_invalidate_range_start(ranges[i]);
                mmu_notifier_invalidate_range_end(ranges[i]);
                rangeForm[i] = Math.Min(rangeForm[i], GC.GetAllocatedBytesForCurrentThread() - before);

                mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
                before = GC.GetAllocatedBytesForCurrentThread();
                mmu_notifier_invalidate_range(mm, A, A + PAGE_SIZE);
                mmu_notifier_change_pte(mm, A, __pte(0));
                _ = mmu_notifier_clear_flush_young(mm, A, A + PAGE_SIZE);
                _ = mmu_notifier_clear_young(mm, A, A + PAGE_SIZE);
                _ = mmu_notifier_test_young(mm, A);
                atomic[i] = Math.Min(atomic[i], GC.GetAllocatedBytesForCurrentThread() - before);
                mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
            }
        }

        // start + end keep a constant of their own (the open range's record, and the legacy form's
        // mmu_notifier_range): the same at 1, 8 and 64 notifiers.
        Assert.Equal(legacy[0], legacy[1]);
        Assert.Equal(legacy[0], legacy[2]);
        Assert.Equal(rangeForm[0], rangeForm[1]);
        Assert.Equal(rangeForm[0], rangeForm[2]);
        Assert.InRange(legacy[0], 0, 512);
        Assert.InRange(rangeForm[0], 0, 512);
        // The atomic calls allocate nothing at all.
        Assert.Equal(new long[] { 0, 0, 0 }, atomic);
        foreach (var mm in mms)
        {
            mmput(mm);
        }
    }

    [Fact]
    public void The_newest_notifier_is_called_first_and_is_first_in_the_snapshot()
    {
        var (mm, _) = TestMm.Anon();
        var order = new List<string>();
        mmu_notifier Named(string name) => new()
        {
            ops = new mmu_notifier_ops { invalidate_range_start = (_, _, _, _) => order.Add(name), invalidate_range_end = (_, _, _, _) => { } },
        };
        var a = Named("a");
        var b = Named("b");
        var c = Named("c");
        mmu_notifier_register(a, mm);
        mmu_notifier_register(b, mm);
        mmu_notifier_register(c, mm);
        Assert.Equal(new[] { c, b, a }, mm.Notifiers);

        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        Assert.Equal(new[] { "c", "b", "a" }, order);

        // Unlinking the middle, then the head, then the last keeps the others linked in order.
        mmu_notifier_unregister(b, mm);
        Assert.Equal(new[] { c, a }, mm.Notifiers);
        mmu_notifier_unregister(c, mm);
        Assert.Equal(new[] { a }, mm.Notifiers);
        mmu_notifier_register(b, mm);   // again, after its grace period
        Assert.Equal(new[] { b, a }, mm.Notifiers);
        mmu_notifier_unregister(a, mm);
        Assert.Equal(new[] { b }, mm.Notifiers);
        Assert.True(mm_has_notifiers(mm));
        mmu_notifier_unregister(b, mm);
        Assert.Empty(mm.Notifiers);
        Assert.False(mm_has_notifiers(mm));
        mmput(mm);
    }

    [Fact]
    public void A_notifier_registered_from_a_callback_is_not_called_by_the_running_walk_but_by_the_next()
    {
        var (mm, _) = TestMm.Anon();
        int lateStarts = 0;
        var late = new mmu_notifier
        {
            ops = new mmu_notifier_ops { invalidate_range_start = (_, _, _, _) => lateStarts++, invalidate_range_end = (_, _, _, _) => { } },
        };
        bool registered = false;
        var first = new mmu_notifier
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range_start = (_, m, _, _) =>
                {
                    if (!registered)
                    {
                        registered = true;
                        mmu_notifier_register(late, m);   // linked at the head, behind the walk
                    }
                },
                invalidate_range_end = (_, _, _, _) => { },
            },
        };
        mmu_notifier_register(first, mm);

        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
        Assert.Equal(0, lateStarts);
        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
        Assert.Equal(1, lateStarts);
        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);

        mmu_notifier_unregister(late, mm);
        mmu_notifier_unregister(first, mm);
        mmput(mm);
    }

    [Fact]
    public void A_notifier_unlinked_by_another_thread_during_a_walk_is_skipped_and_the_walk_goes_on()
    {
        var (mm, _) = TestMm.Anon();
        var called = new List<string>();
        using var inFirst = new ManualResetEventSlim();
        using var secondUnlinked = new ManualResetEventSlim();
        mmu_notifier Named(string name, Action? during = null) => new()
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range_start = (_, _, _, _) =>
                {
                    lock (called)
                    {
                        called.Add(name);
                    }

                    during?.Invoke();
                },
                invalidate_range_end = (_, _, _, _) => { },
            },
        };
        var last = Named("last");
        var second = Named("second");
        var first = Named("first", () =>
        {
            inFirst.Set();
            Assert.True(secondUnlinked.Wait(TimeSpan.FromSeconds(30)), "the unregister did not unlink in time");
        });
        mmu_notifier_register(last, mm);
        mmu_notifier_register(second, mm);
        mmu_notifier_register(first, mm);   // the walk: first, second, last

        var walker = Worker.Start(() =>
        {
            mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
            mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        });
        Assert.True(inFirst.Wait(TimeSpan.FromSeconds(30)), "the walk did not reach the first notifier");
        var unregister = Worker.Start(() => mmu_notifier_unregister(second, mm));
        // The unregister unlinks, then waits in synchronize_srcu for the walk standing on `first`.
        while (Array.IndexOf([.. mm.Notifiers], second) >= 0)
        {
            if (!unregister.IsAlive)
            {
                unregister.Join();   // rethrows its failure
                Assert.Fail("the unregister ended without unlinking the notifier");
            }

            Thread.Yield();
        }

        Assert.False(unregister.TryJoin(TimeSpan.Zero));   // still in its grace period
        secondUnlinked.Set();
        walker.Join();
        unregister.Join();

        Assert.Equal(new[] { "first", "last" }, called);
        Assert.Equal(new[] { first, last }, mm.Notifiers);
        mmu_notifier_unregister(first, mm);
        mmu_notifier_unregister(last, mm);
        mmput(mm);
    }
}
