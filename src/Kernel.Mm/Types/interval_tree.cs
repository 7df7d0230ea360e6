using System;
using System.Collections.Generic;
using System.Threading;

namespace Kernel.Mm;

/// <summary><c>struct interval_tree_node</c>: an interval [start, last] (both inclusive).</summary>
public sealed class interval_tree_node
{
    private static long s_seq;

    public ulong start;
    public ulong last;

    /// <summary>What the node belongs to (C's <c>container_of</c>).</summary>
    public object? owner;

    internal interval_tree_node? left;
    internal interval_tree_node? right;
    internal int height;
    internal ulong subtree_last;
    internal readonly long seq = Interlocked.Increment(ref s_seq); // tie-break equal starts
    internal rb_root_cached? root;

    internal int compare(interval_tree_node other) =>
        start != other.start ? start.CompareTo(other.start) : seq.CompareTo(other.seq);
}

/// <summary>
/// <c>struct rb_root_cached</c> holding an interval tree: a balanced (AVL) tree ordered by start,
/// each node augmented with the largest <c>last</c> in its subtree, so the first overlap of a query
/// is found in O(log n) and the next one in O(log n) (<c>interval_tree_iter_first/next</c>), and
/// <see cref="Overlapping"/> enumerates the k overlaps pruning every subtree that cannot overlap.
/// Not thread-safe: callers hold their lock, as in the kernel.
/// </summary>
public sealed class rb_root_cached
{
    internal interval_tree_node? rb_root;

    /// <summary>Number of nodes.</summary>
    public int Count { get; private set; }

    /// <summary>Height of the tree (0 when empty): stays O(log n).</summary>
    public int Height => rb_root?.height ?? 0;

    /// <summary>Node visits made by lookups so far (to measure against a linear walk).</summary>
    public long NodesVisited { get; private set; }

    internal void insert(interval_tree_node node)
    {
        if (node.root is not null)
        {
            throw new InvalidOperationException($"interval_tree_insert: node [0x{node.start:x}, 0x{node.last:x}] is already in a tree");
        }

        if (node.last < node.start)
        {
            throw new ArgumentException($"interval_tree_insert: last 0x{node.last:x} is before start 0x{node.start:x}", nameof(node));
        }

        node.left = node.right = null;
        node.height = 1;
        node.subtree_last = node.last;
        rb_root = insert(rb_root, node);
        node.root = this;
        Count++;
    }

    internal void remove(interval_tree_node node)
    {
        if (!ReferenceEquals(node.root, this))
        {
            throw new InvalidOperationException($"interval_tree_remove: node [0x{node.start:x}, 0x{node.last:x}] is not in this tree");
        }

        rb_root = remove(rb_root, node);
        node.root = null;
        node.left = node.right = null;
        Count--;
    }

    /// <summary>The first node (lowest start) overlapping [start, last] whose key is after
    /// <paramref name="after"/> (null: from the beginning). The kernel's subtree search.</summary>
    internal interval_tree_node? first_after(interval_tree_node? after, ulong start, ulong last)
    {
        return search(rb_root, after, start, last);
    }

    private interval_tree_node? search(interval_tree_node? n, interval_tree_node? after, ulong start, ulong last)
    {
        while (n is not null)
        {
            NodesVisited++;
            if (n.subtree_last < start)
            {
                return null;
            }

            bool nAfter = after is null || n.compare(after) > 0;
            if (nAfter)
            {
                // Anything on the left comes first in order; try there.
                if (n.left is not null && n.left.subtree_last >= start)
                {
                    var l = search(n.left, after, start, last);
                    if (l is not null)
                    {
                        return l;
                    }
                }

                if (n.start > last)
                {
                    return null; // n and everything right of it start after the query
                }

                if (n.last >= start)
                {
                    return n;
                }
            }

            n = n.right;
        }

        return null;
    }

    /// <summary>Every node overlapping [start, last], in start order.</summary>
    public IEnumerable<interval_tree_node> Overlapping(ulong start, ulong last)
    {
        var stack = new Stack<interval_tree_node>();
        var n = rb_root;
        while (n is not null || stack.Count > 0)
        {
            while (n is not null)
            {
                NodesVisited++;
                if (n.subtree_last < start)
                {
                    n = null;
                    break;
                }

                stack.Push(n);
                n = n.left;
            }

            if (stack.Count == 0)
            {
                yield break;
            }

            var cur = stack.Pop();
            if (cur.start > last)
            {
                yield break; // in-order: every later node starts even later
            }

            if (cur.last >= start)
            {
                yield return cur;
            }

            n = cur.right;
        }
    }

    /// <summary>Checks the AVL and augmentation invariants (tests).</summary>
    internal void validate()
    {
        int count = 0;
        validate(rb_root, ref count);
        if (count != Count)
        {
            throw new InvalidOperationException($"interval tree: count {Count} but {count} nodes reachable");
        }
    }

    private static (int h, ulong max) validate(interval_tree_node? n, ref int count)
    {
        if (n is null)
        {
            return (0, 0);
        }

        count++;
        var (lh, lm) = validate(n.left, ref count);
        var (rh, rm) = validate(n.right, ref count);
        if (n.left is not null && n.left.compare(n) >= 0 || n.right is not null && n.right.compare(n) <= 0)
        {
            throw new InvalidOperationException("interval tree: order violated");
        }

        if (Math.Abs(lh - rh) > 1 || n.height != Math.Max(lh, rh) + 1)
        {
            throw new InvalidOperationException("interval tree: balance violated");
        }

        ulong max = Math.Max(n.last, Math.Max(n.left is null ? 0 : lm, n.right is null ? 0 : rm));
        if (n.subtree_last != max)
        {
            throw new InvalidOperationException("interval tree: subtree_last wrong");
        }

        return (n.height, max);
    }

    private static int h(interval_tree_node? n) => n?.height ?? 0;

    private static void update(interval_tree_node n)
    {
        n.height = Math.Max(h(n.left), h(n.right)) + 1;
        ulong m = n.last;
        if (n.left is not null && n.left.subtree_last > m)
        {
            m = n.left.subtree_last;
        }

        if (n.right is not null && n.right.subtree_last > m)
        {
            m = n.right.subtree_last;
        }

        n.subtree_last = m;
    }

    private static interval_tree_node rotate_right(interval_tree_node n)
    {
        var l = n.left!;
        n.left = l.right;
        l.right = n;
        update(n);
        update(l);
        return l;
    }

    private static interval_tree_node rotate_left(interval_tree_node n)
    {
        var r = n.right!;
        n.right = r.left;
        r.left = n;
        update(n);
        update(r);
        return r;
    }

    private static interval_tree_node balance(interval_tree_node n)
    {
        update(n);
        int bf = h(n.left) - h(n.right);
        if (bf > 1)
        {
            if (h(n.left!.left) < h(n.left.right))
            {
                n.left = rotate_left(n.left);
            }

            return rotate_right(n);
        }

        if (bf < -1)
        {
            if (h(n.right!.right) < h(n.right.left))
            {
                n.right = rotate_right(n.right);
            }

            return rotate_left(n);
        }

        return n;
    }

    private static interval_tree_node insert(interval_tree_node? n, interval_tree_node node)
    {
        if (n is null)
        {
            return node;
        }

        if (node.compare(n) < 0)
        {
            n.left = insert(n.left, node);
        }
        else
        {
            n.right = insert(n.right, node);
        }

        return balance(n);
    }

    private static interval_tree_node? remove(interval_tree_node? n, interval_tree_node node)
    {
        if (n is null)
        {
            throw new InvalidOperationException("interval_tree_remove: node not found");
        }

        int c = node.compare(n);
        if (c < 0)
        {
            n.left = remove(n.left, node);
            return balance(n);
        }

        if (c > 0)
        {
            n.right = remove(n.right, node);
            return balance(n);
        }

        if (n.left is null)
        {
            return n.right;
        }

        if (n.right is null)
        {
            return n.left;
        }

        var right = remove_min(n.right, out var min);
        min.right = right;
        min.left = n.left;
        return balance(min);
    }

    private static interval_tree_node? remove_min(interval_tree_node n, out interval_tree_node min)
    {
        if (n.left is null)
        {
            min = n;
            return n.right;
        }

        n.left = remove_min(n.left, out min);
        return balance(n);
    }
}

/// <summary>
/// The same interval lookups as <see cref="rb_root_cached"/>, by a linear walk of an unsorted list:
/// the baseline the interval tree is benchmarked against (and a test oracle).
/// </summary>
public sealed class LinearIntervalIndex
{
    private readonly List<interval_tree_node> _nodes = new();

    public int Count => _nodes.Count;

    /// <summary>Node visits made by lookups so far.</summary>
    public long NodesVisited { get; private set; }

    public void Insert(interval_tree_node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        _nodes.Add(node);
    }

    public bool Remove(interval_tree_node node) => _nodes.Remove(node);

    /// <summary>Every node overlapping [start, last], in start order.</summary>
    public IEnumerable<interval_tree_node> Overlapping(ulong start, ulong last)
    {
        var hits = new List<interval_tree_node>();
        foreach (var n in _nodes)
        {
            NodesVisited++;
            if (n.start <= last && n.last >= start)
            {
                hits.Add(n);
            }
        }

        hits.Sort((a, b) => a.compare(b));
        return hits;
    }
}
