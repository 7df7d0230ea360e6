using System;
using System.Collections.Generic;
using System.Linq;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

public class IntervalTreeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(2026)]
    public void Random_inserts_removes_and_queries_match_a_brute_force_oracle(int seed)
    {
        var rng = new Random(seed);
        var root = new rb_root_cached();
        var oracle = new LinearIntervalIndex();
        var live = new List<interval_tree_node>();
        for (int step = 0; step < 3000; step++)
        {
            int op = rng.Next(10);
            if (op < 5 || live.Count == 0)
            {
                ulong start = (ulong)rng.Next(0, 100_000);
                ulong len = (ulong)rng.Next(0, 2_000);
                var n = new interval_tree_node { start = start, last = start + len };
                interval_tree_insert(n, root);
                oracle.Insert(n);
                live.Add(n);
            }
            else if (op < 7)
            {
                int i = rng.Next(live.Count);
                interval_tree_remove(live[i], root);
                Assert.True(oracle.Remove(live[i]));
                live.RemoveAt(i);
            }
            else
            {
                ulong qs = (ulong)rng.Next(0, 102_000);
                ulong ql = qs + (ulong)rng.Next(0, 3_000);
                var expected = oracle.Overlapping(qs, ql).ToList();
                Assert.Equal(expected, root.Overlapping(qs, ql).ToList());

                // the kernel-style iterator finds the same nodes in the same order
                var viaIter = new List<interval_tree_node>();
                for (var n = interval_tree_iter_first(root, qs, ql); n is not null; n = interval_tree_iter_next(n, qs, ql))
                {
                    viaIter.Add(n);
                }

                Assert.Equal(expected, viaIter);
            }

            if (step % 500 == 0)
            {
                root.validate();
            }
        }

        root.validate();
        Assert.Equal(live.Count, root.Count);
    }

    [Fact]
    public void Tree_stays_logarithmic_and_visits_far_fewer_nodes_than_a_linear_walk()
    {
        var root = new rb_root_cached();
        var linear = new LinearIntervalIndex();
        const int N = 4096;
        for (int i = 0; i < N; i++)
        {
            // sorted inserts: the worst case for an unbalanced tree
            var n = new interval_tree_node { start = (ulong)i * 0x1000, last = ((ulong)i * 0x1000) + 0xfff };
            interval_tree_insert(n, root);
            linear.Insert(n);
        }

        Assert.True(root.Height <= 1.45 * Math.Log2(N) + 2, $"height {root.Height}");
        long before = root.NodesVisited;
        for (int q = 0; q < 100; q++)
        {
            ulong s = (ulong)(q * 37 % N) * 0x1000;
            Assert.Equal(linear.Overlapping(s, s + 0x1fff).ToList(), root.Overlapping(s, s + 0x1fff).ToList());
        }

        long treeVisits = root.NodesVisited - before;
        Assert.True(treeVisits * 20 < linear.NodesVisited, $"tree {treeVisits} vs linear {linear.NodesVisited}");
    }

    [Fact]
    public void Misuse_is_reported()
    {
        var root = new rb_root_cached();
        var n = new interval_tree_node { start = 10, last = 5 };
        Assert.Contains("interval_tree_insert: last 0x5 is before start 0xa", Assert.Throws<ArgumentException>(() => interval_tree_insert(n, root)).Message);
        n.last = 20;
        interval_tree_insert(n, root);
        Assert.Contains("already in a tree", Assert.Throws<InvalidOperationException>(() => interval_tree_insert(n, root)).Message);
        interval_tree_remove(n, root);
        Assert.Contains("not in this tree", Assert.Throws<InvalidOperationException>(() => interval_tree_remove(n, root)).Message);
        Assert.Null(interval_tree_iter_first(root, 0, ulong.MaxValue));
    }
}
