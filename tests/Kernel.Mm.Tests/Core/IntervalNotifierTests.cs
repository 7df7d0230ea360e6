using System;
using System.Collections.Generic;
using System.Threading;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

public class IntervalNotifierTests
{
    private const ulong A = TestMm.Base;

    private sealed class Mirror : mmu_interval_notifier
    {
        public readonly mutex @lock = new("mirror->lock");
        public readonly List<(ulong start, ulong end, ulong seq)> Invalidations = new();
        public Action? DuringInvalidate;

        public static readonly mmu_interval_notifier_ops Ops = new()
        {
            invalidate = (sub, range, cur_seq) =>
            {
                var m = (Mirror)sub;
                if (!mmu_notifier_range_blockable(range))
                {
                    return false;
                }

                mutex_lock(m.@lock);
                mmu_interval_set_seq(sub, cur_seq);
                m.Invalidations.Add((range.start, range.end, cur_seq));
                mutex_unlock(m.@lock);
                m.DuringInvalidate?.Invoke();
                return true;
            },
        };
    }

    [Fact]
    public void Only_overlapping_interval_notifiers_are_invalidated_with_an_odd_sequence()
    {
        var (mm, _) = TestMm.Anon(size: 64 * PAGE_SIZE);
        var low = new Mirror();
        var high = new Mirror();
        Assert.Equal(0, mmu_interval_notifier_insert(low, mm, A, 4 * PAGE_SIZE, Mirror.Ops));
        Assert.Equal(0, mmu_interval_notifier_insert(high, mm, A + (32 * PAGE_SIZE), 4 * PAGE_SIZE, Mirror.Ops));
        Assert.Equal(A + (4 * PAGE_SIZE) - 1, low.last);

        mmu_notifier_invalidate_range_start(mm, A + (3 * PAGE_SIZE), A + (5 * PAGE_SIZE));
        mmu_notifier_invalidate_range_end(mm, A + (3 * PAGE_SIZE), A + (5 * PAGE_SIZE));
        var inv = Assert.Single(low.Invalidations);
        Assert.Equal(1UL, inv.seq & 1);
        Assert.Empty(high.Invalidations);

        Assert.Equal(-75, mmu_interval_notifier_insert(new Mirror(), mm, A, 0, Mirror.Ops)); // -EOVERFLOW
        mmu_interval_notifier_remove(low);
        mmu_interval_notifier_remove(high);
        mmput(mm);
    }

    [Fact]
    public void Read_retry_is_true_exactly_when_an_invalidation_hit_after_read_begin()
    {
        var (mm, _) = TestMm.Anon();
        var m = new Mirror();
        mmu_interval_notifier_insert(m, mm, A, PAGE_SIZE, Mirror.Ops);
        ulong seq = mmu_interval_read_begin(m);
        Assert.False(mmu_interval_read_retry(m, seq));
        Assert.False(mmu_interval_check_retry(m, seq));

        mmu_notifier_invalidate_range_start(mm, A + PAGE_SIZE, A + (2 * PAGE_SIZE));  // does not overlap
        mmu_notifier_invalidate_range_end(mm, A + PAGE_SIZE, A + (2 * PAGE_SIZE));
        Assert.False(mmu_interval_read_retry(m, seq));

        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
        Assert.True(mmu_interval_check_retry(m, seq));
        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        Assert.True(mmu_interval_read_retry(m, seq));

        ulong seq2 = mmu_interval_read_begin(m);   // invalidation over: does not wait
        Assert.False(mmu_interval_read_retry(m, seq2));
        mmu_interval_notifier_remove(m);
        mmput(mm);
    }

    [Fact]
    public void Read_begin_sleeps_until_the_invalidation_in_progress_has_ended()
    {
        var (mm, _) = TestMm.Anon();
        var m = new Mirror();
        mmu_interval_notifier_insert(m, mm, A, PAGE_SIZE, Mirror.Ops);
        var inCallback = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        m.DuringInvalidate = () =>
        {
            inCallback.Set();
            release.Wait();
        };
        var invalidator = Worker.Start(() =>
        {
            mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
            mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        });
        Assert.True(inCallback.Wait(TimeSpan.FromSeconds(10)));
        m.DuringInvalidate = null;

        var order = new List<string>();
        var reader = Worker.Start(() =>
        {
            ulong s = mmu_interval_read_begin(m);
            lock (order)
            {
                order.Add("read_begin returned");
            }

            Assert.False(mmu_interval_read_retry(m, s));
        });
        Assert.False(reader.TryJoin(TimeSpan.FromMilliseconds(100))); // blocked while the invalidation is in progress
        lock (order)
        {
            order.Add("invalidation released");
        }

        release.Set();
        invalidator.Join();
        reader.Join();
        Assert.Equal(new[] { "invalidation released", "read_begin returned" }, order);
        mmu_interval_notifier_remove(m);
        mmput(mm);
    }

    [Fact]
    public void Insert_during_an_invalidation_is_deferred_and_remove_waits_for_it()
    {
        var (mm, _) = TestMm.Anon();
        var first = new Mirror();
        mmu_interval_notifier_insert(first, mm, A, PAGE_SIZE, Mirror.Ops);
        var late = new Mirror();
        Worker? remover = null;
        bool removedBeforeEnd = false;
        bool ended = false;
        first.DuringInvalidate = () =>
        {
            first.DuringInvalidate = null;
            mmu_interval_notifier_insert(late, mm, A, PAGE_SIZE, Mirror.Ops);
            remover = Worker.Start(() =>
            {
                mmu_interval_notifier_remove(first);
                removedBeforeEnd = !Volatile.Read(ref ended);
            });
        };
        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
        Assert.Empty(late.Invalidations);          // not in the tree yet
        Assert.True(remover!.IsAlive || !removedBeforeEnd);
        Volatile.Write(ref ended, true);
        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        remover.Join();
        Assert.False(removedBeforeEnd);

        mmu_notifier_invalidate_range_start(mm, A, A + PAGE_SIZE);
        mmu_notifier_invalidate_range_end(mm, A, A + PAGE_SIZE);
        Assert.Single(late.Invalidations);         // linked in when the first invalidation ended
        Assert.Single(first.Invalidations);        // removed: no second call
        mmu_interval_notifier_remove(late);
        mmput(mm);
    }

    [Fact]
    public void Non_blockable_invalidation_can_be_refused_and_closes_itself()
    {
        var (mm, vma) = TestMm.Anon();
        var m = new Mirror();
        mmu_interval_notifier_insert(m, mm, A, PAGE_SIZE, Mirror.Ops);
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, A, A + PAGE_SIZE);
        Assert.Equal(-EAGAIN, mmu_notifier_invalidate_range_start_nonblock(range));
        Assert.Equal(0, mm.OpenInvalidations);
        ulong seq = mmu_interval_read_begin(m); // not stuck: the refused invalidation ended
        Assert.False(mmu_interval_read_retry(m, seq));
        mmu_interval_notifier_remove(m);
        mmput(mm);
    }

    [Fact]
    public void Linear_lookup_gives_the_same_invalidations_with_more_visits()
    {
        long Visits(bool linear, out int hits)
        {
            var (mm, _) = TestMm.Anon(size: 1024 * PAGE_SIZE);
            mmu_interval_use_linear_lookup(mm, linear);
            var subs = new List<Mirror>();
            for (int i = 0; i < 512; i++)
            {
                var m = new Mirror();
                mmu_interval_notifier_insert(m, mm, A + ((ulong)i * 2 * PAGE_SIZE), PAGE_SIZE, Mirror.Ops);
                subs.Add(m);
            }

            for (int q = 0; q < 50; q++)
            {
                ulong s = A + ((ulong)(q * 13 % 1000) * PAGE_SIZE);
                mmu_notifier_invalidate_range_start(mm, s, s + (2 * PAGE_SIZE));
                mmu_notifier_invalidate_range_end(mm, s, s + (2 * PAGE_SIZE));
            }

            hits = 0;
            foreach (var m in subs)
            {
                hits += m.Invalidations.Count;
                mmu_interval_notifier_remove(m);
            }

            long v = mmu_interval_nodes_visited(mm);
            mmput(mm);
            return v;
        }

        long tree = Visits(false, out int treeHits);
        long lin = Visits(true, out int linHits);
        Assert.Equal(linHits, treeHits);
        Assert.True(treeHits > 0);
        Assert.True(tree * 10 < lin, $"tree {tree} linear {lin}");
    }

    [Fact]
    public void Mmput_invalidates_every_interval_notifier_with_a_release_event()
    {
        var (mm, _) = TestMm.Anon();
        var events = new List<mmu_notifier_event>();
        var sub = new mmu_interval_notifier();
        mmu_interval_notifier_insert(sub, mm, A, PAGE_SIZE, new mmu_interval_notifier_ops
        {
            invalidate = (s, range, seq) =>
            {
                events.Add(range.@event);
                mmu_interval_set_seq(s, seq);
                return true;
            },
        });
        mmput(mm);
        Assert.Contains(mmu_notifier_event.MMU_NOTIFY_RELEASE, events);
        mmu_interval_notifier_remove(sub);
    }
}
