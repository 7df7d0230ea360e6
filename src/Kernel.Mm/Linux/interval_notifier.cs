using System;
using System.Collections.Generic;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

/// <summary>The interval-notifier state of an mm (5.5's <c>struct mmu_notifier_subscriptions</c>).</summary>
internal sealed class mmu_notifier_subscriptions
{
    internal readonly object @lock = new();          // the kernel's subscriptions->lock + wq
    internal readonly rb_root_cached itree = new();
    internal ulong invalidate_seq = 2;                 // odd while an invalidation is in progress
    internal long active_invalidate_ranges;
    internal bool has_itree;
    internal readonly List<mmu_interval_notifier> deferred_list = new();
    /// <summary>Benchmark switch: find overlapping notifiers by a linear walk instead of the tree.</summary>
    internal bool linear_lookup;
    internal readonly List<mmu_interval_notifier> all = new();
    internal long linear_visits;
}

// include/linux/mmu_notifier.h (5.5+ interval notifiers), mm/mmu_notifier.c
public static partial class Linux
{
    private const int EOVERFLOW = 75;

    private static mmu_notifier_subscriptions subscriptions_of(mm_struct mm)
    {
        var s = Volatile.Read(ref mm.subscriptions);
        if (s is not null)
        {
            return s;
        }

        Interlocked.CompareExchange(ref mm.subscriptions, new mmu_notifier_subscriptions(), null);
        return mm.subscriptions!;
    }

    /// <summary>
    /// Registers <paramref name="sub"/> for [start, start+length) of <paramref name="mm"/>. Its
    /// <c>-&gt;invalidate</c> runs for every invalidation overlapping the interval. Inserted during an
    /// invalidation it takes effect when that ends (and <c>mmu_interval_read_begin</c> waits for it).
    /// Returns 0, or -EOVERFLOW for an empty or wrapping interval. May sleep.
    /// </summary>
    [MaySleep]
    public static int mmu_interval_notifier_insert(mmu_interval_notifier sub, mm_struct mm, ulong start, ulong length,
        mmu_interval_notifier_ops ops)
    {
        ArgumentNullException.ThrowIfNull(sub);
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(ops);
        might_sleep_in(nameof(mmu_interval_notifier_insert));
        if (length == 0 || start + (length - 1) < start)
        {
            return -EOVERFLOW;
        }

        if (sub.mm is not null)
        {
            throw new InvalidOperationException($"mmu_interval_notifier_insert: the notifier is already inserted on {sub.mm}");
        }

        var subs = subscriptions_of(mm);
        sub.interval_tree.start = start;
        sub.interval_tree.last = start + (length - 1);
        sub.ops_ = ops;
        sub.mm = mm;
        mmgrab(mm);
        lock (subs.@lock)
        {
            subs.has_itree = true;
            if (subs.active_invalidate_ranges != 0)
            {
                // An invalidation is running: make read_begin wait for it, link in at its end.
                subs.invalidate_seq |= 1;
                sub.deferred_insert = true;
                subs.deferred_list.Add(sub);
                sub.invalidate_seq = subs.invalidate_seq;
            }
            else
            {
                sub.invalidate_seq = subs.invalidate_seq - 1;
                itree_insert(subs, sub);
            }
        }

        return 0;
    }

    /// <summary>
    /// Unregisters <paramref name="sub"/>; if an invalidation is running, waits (sleeps) until it has
    /// ended, so no <c>-&gt;invalidate</c> of it runs after this returns.
    /// </summary>
    [MaySleep]
    public static void mmu_interval_notifier_remove(mmu_interval_notifier sub)
    {
        ArgumentNullException.ThrowIfNull(sub);
        might_sleep_in(nameof(mmu_interval_notifier_remove));
        var mm = sub.mm ?? throw new InvalidOperationException("mmu_interval_notifier_remove: the notifier is not inserted");
        var subs = mm.subscriptions!;
        lock (subs.@lock)
        {
            if ((subs.invalidate_seq & 1) != 0)
            {
                if (!sub.in_tree)
                {
                    subs.deferred_list.Remove(sub);
                    sub.deferred_insert = false;
                }
                else
                {
                    sub.deferred_remove = true;
                    subs.deferred_list.Add(sub);
                    ulong seq = subs.invalidate_seq;
                    while (subs.invalidate_seq == seq)
                    {
                        Monitor.Wait(subs.@lock);
                    }
                }
            }
            else if (sub.in_tree)
            {
                itree_remove(subs, sub);
            }
            else
            {
                subs.deferred_list.Remove(sub);
                sub.deferred_insert = false;
            }
        }

        sub.mm = null;
        mmdrop(mm);
    }

    /// <summary>
    /// Begins a read side: returns the sequence to check later with
    /// <see cref="mmu_interval_read_retry"/>. If an invalidation of this notifier is in progress,
    /// sleeps until it has ended.
    /// </summary>
    [MaySleep]
    [SequenceRead]
    public static ulong mmu_interval_read_begin(mmu_interval_notifier sub)
    {
        ArgumentNullException.ThrowIfNull(sub);
        might_sleep_in(nameof(mmu_interval_read_begin));
        var mm = sub.mm ?? throw new InvalidOperationException("mmu_interval_read_begin: the notifier is not inserted");
        var subs = mm.subscriptions!;
        lock (subs.@lock)
        {
            ulong seq = Volatile.Read(ref sub.invalidate_seq);
            if (seq == subs.invalidate_seq)
            {
                while (subs.invalidate_seq == seq)
                {
                    Monitor.Wait(subs.@lock);
                }
            }

            SequenceTwin.ReadBegun(sub, seq);
            return seq;
        }
    }

    /// <summary>True when an invalidation started after <paramref name="seq"/> was read: the caller
    /// must retry. Call it under the driver lock that <c>-&gt;invalidate</c> also takes.</summary>
    [NeverSleeps]
    [SequenceRetryCheck]
    public static bool mmu_interval_read_retry(mmu_interval_notifier sub, ulong seq)
    {
        ArgumentNullException.ThrowIfNull(sub);
        bool retry = Volatile.Read(ref sub.invalidate_seq) != seq;
        SequenceTwin.RetryChecked(sub, seq, retry);
        return retry;
    }

    /// <summary>The lockless form of <see cref="mmu_interval_read_retry"/> (an early-out hint only).</summary>
    [NeverSleeps]
    [SequenceRetryCheck]
    public static bool mmu_interval_check_retry(mmu_interval_notifier sub, ulong seq)
    {
        ArgumentNullException.ThrowIfNull(sub);
        return Volatile.Read(ref sub.invalidate_seq) != seq;
    }

    /// <summary>Called by <c>-&gt;invalidate</c>, under the driver lock, with the cur_seq it was given:
    /// makes every read side that began earlier retry.</summary>
    [NeverSleeps]
    public static void mmu_interval_set_seq(mmu_interval_notifier sub, ulong cur_seq)
    {
        ArgumentNullException.ThrowIfNull(sub);
        if ((cur_seq & 1) == 0)
        {
            throw new ArgumentException($"mmu_interval_set_seq: cur_seq {cur_seq} is even; pass the cur_seq given to ->invalidate (odd while invalidating)", nameof(cur_seq));
        }

        Volatile.Write(ref sub.invalidate_seq, cur_seq);
    }

    /// <summary>
    /// Benchmark hook: makes <paramref name="mm"/> find the interval notifiers an invalidation hits by
    /// a linear walk (true) or by the interval tree (false, the default).
    /// </summary>
    public static void mmu_interval_use_linear_lookup(mm_struct mm, bool linear)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var subs = subscriptions_of(mm);
        lock (subs.@lock)
        {
            subs.linear_lookup = linear;
        }
    }

    /// <summary>Interval-tree node visits made by invalidations of <paramref name="mm"/> (a measure of lookup cost).</summary>
    public static long mmu_interval_nodes_visited(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var subs = mm.subscriptions;
        if (subs is null)
        {
            return 0;
        }

        lock (subs.@lock)
        {
            return subs.itree.NodesVisited + subs.linear_visits;
        }
    }

    private static void itree_insert(mmu_notifier_subscriptions subs, mmu_interval_notifier sub)
    {
        subs.itree.insert(sub.interval_tree);
        sub.all_index = subs.all.Count;
        subs.all.Add(sub);
        sub.in_tree = true;
    }

    private static void itree_remove(mmu_notifier_subscriptions subs, mmu_interval_notifier sub)
    {
        subs.itree.remove(sub.interval_tree);
        // O(1) swap-remove: the linear baseline must not make teardown quadratic.
        var moved = subs.all[^1];
        subs.all[sub.all_index] = moved;
        moved.all_index = sub.all_index;
        subs.all.RemoveAt(subs.all.Count - 1);
        sub.in_tree = false;
    }

    /// <summary>mn_itree_invalidate: 0, or -EAGAIN when a non-blockable callback refused.</summary>
    internal static int mn_itree_invalidate(mmu_notifier_subscriptions subs, mmu_notifier_range range)
    {
        var hits = new List<mmu_interval_notifier>();
        ulong cur_seq;
        ulong last = range.end == 0 ? 0 : range.end - 1;
        lock (subs.@lock)
        {
            subs.active_invalidate_ranges++;
            if (range.end > range.start)
            {
                if (subs.linear_lookup)
                {
                    foreach (var s in subs.all)
                    {
                        subs.linear_visits++;
                        if (s.interval_tree.start <= last && s.interval_tree.last >= range.start)
                        {
                            hits.Add(s);
                        }
                    }
                }
                else
                {
                    foreach (var n in subs.itree.Overlapping(range.start, last))
                    {
                        hits.Add((mmu_interval_notifier)n.owner!);
                    }
                }
            }

            if (hits.Count > 0)
            {
                subs.invalidate_seq |= 1;
            }

            cur_seq = subs.invalidate_seq;
        }

        bool blockable = mmu_notifier_range_blockable(range);
        foreach (var sub in hits)
        {
            var f = sub.ops_?.invalidate;
            if (f is null)
            {
                continue;
            }

            bool ok;
            if (blockable)
            {
                ok = f(sub, range, cur_seq);
            }
            else
            {
                using (AtomicContext.EnterCallback(AtomicCallback.OfInterval(sub, "invalidate")))
                {
                    ok = f(sub, range, cur_seq);
                }
            }

            if (!ok)
            {
                if (blockable)
                {
                    throw new InvalidOperationException($"mmu_interval_notifier ->invalidate returned false for a blockable range {range}: only non-blockable invalidations may fail");
                }

                mn_itree_inv_end(subs);
                return -EAGAIN;
            }
        }

        return 0;
    }

    /// <summary>mn_itree_inv_end: the last active invalidation makes the sequence even again, applies
    /// deferred inserts/removes and wakes read_begin / remove waiters.</summary>
    internal static void mn_itree_inv_end(mmu_notifier_subscriptions subs)
    {
        lock (subs.@lock)
        {
            if (--subs.active_invalidate_ranges != 0 || (subs.invalidate_seq & 1) == 0)
            {
                return;
            }

            subs.invalidate_seq++;
            foreach (var sub in subs.deferred_list)
            {
                if (sub.deferred_insert)
                {
                    sub.deferred_insert = false;
                    itree_insert(subs, sub);
                }
                else if (sub.deferred_remove)
                {
                    sub.deferred_remove = false;
                    itree_remove(subs, sub);
                }
            }

            subs.deferred_list.Clear();
            Monitor.PulseAll(subs.@lock);
        }
    }

    private static void mn_itree_release(mmu_notifier_subscriptions subs, mm_struct mm)
    {
        var range = new mmu_notifier_range
        {
            mm = mm,
            start = 0,
            end = ulong.MaxValue,
            @event = mmu_notifier_event.MMU_NOTIFY_RELEASE,
            flags = MMU_NOTIFIER_RANGE_BLOCKABLE,
        };
        mn_itree_invalidate(subs, range);
        mn_itree_inv_end(subs);
    }

    /// <summary>Interval tree API (include/linux/interval_tree.h) on <see cref="rb_root_cached"/>.</summary>
    public static void interval_tree_insert(interval_tree_node node, rb_root_cached root)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(root);
        root.insert(node);
    }

    public static void interval_tree_remove(interval_tree_node node, rb_root_cached root)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(root);
        root.remove(node);
    }

    /// <summary>The first node overlapping [start, last] (lowest start), or null.</summary>
    public static interval_tree_node? interval_tree_iter_first(rb_root_cached root, ulong start, ulong last)
    {
        ArgumentNullException.ThrowIfNull(root);
        return root.first_after(null, start, last);
    }

    /// <summary>The next node after <paramref name="node"/> overlapping [start, last], or null.</summary>
    public static interval_tree_node? interval_tree_iter_next(interval_tree_node node, ulong start, ulong last)
    {
        ArgumentNullException.ThrowIfNull(node);
        var root = node.root ?? throw new InvalidOperationException("interval_tree_iter_next: node is not in a tree");
        return root.first_after(node, start, last);
    }
}
