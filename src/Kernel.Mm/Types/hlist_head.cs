using System.Threading;

namespace Kernel.Mm;

/// <summary>
/// <c>struct hlist_head</c> of an mm's <see cref="mmu_notifier"/>s (<c>subscriptions-&gt;list</c>):
/// the first entry; each notifier carries its own links (<c>struct hlist_node hlist</c>). Changed
/// with <c>hlist_add_head_rcu</c> / <c>hlist_del_init_rcu</c> under the mm's notifier lock, walked
/// with <c>hlist_for_each_entry_rcu</c> under its SRCU without any lock (Linux/rculist.cs).
/// </summary>
internal sealed class hlist_head
{
    internal mmu_notifier? first;
}

/// <summary>
/// <c>hlist_for_each_entry_rcu</c>: a lockless walk of an <see cref="hlist_head"/>, for
/// <c>foreach</c> (a struct: no allocation). Each link is read once, when the walk moves on
/// (<c>rcu_dereference</c>): an entry added meanwhile at the head is not seen, one unlinked meanwhile
/// is either skipped or still visited, and the entry the walk stands on keeps its <c>next</c> when
/// it is unlinked, so the walk goes on into the list. The caller holds the SRCU read side that
/// keeps unlinked entries from being reused (<c>synchronize_srcu</c> in unregister).
/// </summary>
internal struct hlist_rcu_walk
{
    private readonly hlist_head _head;
    private mmu_notifier? _pos;
    private bool _started;

    internal hlist_rcu_walk(hlist_head head)
    {
        _head = head;
        _pos = null;
        _started = false;
    }

    public readonly hlist_rcu_walk GetEnumerator() => this;

    public readonly mmu_notifier Current => _pos!;

    public bool MoveNext()
    {
        if (!_started)
        {
            _started = true;
            _pos = Volatile.Read(ref _head.first);
        }
        else if (_pos is not null)
        {
            _pos = Volatile.Read(ref _pos.hlist_next);
        }

        return _pos is not null;
    }
}
