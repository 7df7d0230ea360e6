using System.Threading;

namespace Kernel.Mm;

// include/linux/rculist.h: the hlist primitives mm/mmu_notifier.c uses on subscriptions->list.
// Writers hold the mm's notifier lock; readers hold its SRCU read side and take no lock.
public static partial class Linux
{
    /// <summary>Adds <paramref name="n"/> at the head of <paramref name="h"/> in O(1): newest first,
    /// as the kernel iterates. <paramref name="n"/>'s links are set before it is published
    /// (<c>rcu_assign_pointer</c>), so a reader that sees it sees the rest of the list behind it.</summary>
    internal static void hlist_add_head_rcu(mmu_notifier n, hlist_head h)
    {
        var first = h.first;
        n.hlist_next = first;
        n.hlist_prev = null;
        n.hlist_hashed = true;
        if (first is not null)
        {
            first.hlist_prev = n;
        }

        Volatile.Write(ref h.first, n);
    }

    /// <summary>Unlinks <paramref name="n"/> from <paramref name="h"/> in O(1), if it is linked. Its
    /// own <c>next</c> is left as it was: a reader standing on it goes on into the list. It may be
    /// linked again only after a grace period (<c>synchronize_srcu</c>).</summary>
    internal static void hlist_del_init_rcu(mmu_notifier n, hlist_head h)
    {
        if (!n.hlist_hashed)
        {
            return;
        }

        var next = n.hlist_next;
        var prev = n.hlist_prev;
        if (prev is null)
        {
            Volatile.Write(ref h.first, next);
        }
        else
        {
            Volatile.Write(ref prev.hlist_next, next);
        }

        if (next is not null)
        {
            next.hlist_prev = prev;
        }

        n.hlist_prev = null;
        n.hlist_hashed = false;
    }

    /// <summary>True when nothing is linked on <paramref name="h"/>.</summary>
    internal static bool hlist_empty(hlist_head h) => Volatile.Read(ref h.first) is null;

    /// <summary><c>hlist_for_each_entry_rcu(pos, head, member)</c>, as
    /// <c>foreach (var pos in hlist_for_each_entry_rcu(head))</c>; see <see cref="hlist_rcu_walk"/>.</summary>
    internal static hlist_rcu_walk hlist_for_each_entry_rcu(hlist_head h) => new(h);
}
