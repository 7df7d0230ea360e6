using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// mm/mmu_notifier.c, Linux v5.4: the get/put scheme of 2c7933f53f6b ("mm/mmu_notifiers: add a
// get/put scheme for the registration", Jason Gunthorpe). One notifier per (mm, ops), reference
// counted; the last put unlinks it and frees it after an SRCU grace period, so a driver may drop
// its reference from inside ->release, where mmu_notifier_unregister would wait for itself.
public static partial class Linux
{
    // The frees mmu_notifier_put queued (call_srcu) and mmu_notifier_synchronize waits for.
    private static readonly List<Task> s_pending_frees = new();

    private static mmu_notifier? find_get_mmu_notifier(mm_struct mm, mmu_notifier_ops ops)
    {
        lock (mm.notifier_lock)
        {
            foreach (var mn in hlist_for_each_entry_rcu(mm.notifier_list))
            {
                if (!ReferenceEquals(mn.ops, ops))
                {
                    continue;
                }

                if (mn.users == uint.MaxValue)
                {
                    throw new InvalidOperationException($"mmu_notifier_get: -EOVERFLOW ({EOVERFLOW}): the notifier's users count is at its maximum");
                }

                mn.users++;
                return mn;
            }
        }

        return null;
    }

    /// <summary>
    /// Returns the single notifier of <paramref name="ops"/> on <paramref name="mm"/>, taking a
    /// reference: the one already registered, or a new one from <c>ops-&gt;alloc_notifier</c>,
    /// registered with <see cref="__mmu_notifier_register"/>. The caller holds mmap_sem for write.
    /// Each get is paired with a <see cref="mmu_notifier_put"/>. Returns null when alloc_notifier did.
    /// </summary>
    [MaySleep]
    public static mmu_notifier? mmu_notifier_get_locked(mmu_notifier_ops ops, mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(mm);
        if (!mm.mmap_sem.IsWriteLockedByCurrentThread)
        {
            throw new InvalidOperationException($"mmu_notifier_get_locked: lockdep_assert_held_write({mm.mmap_sem}) failed: the caller must hold mmap_sem for write");
        }

        if (find_get_mmu_notifier(mm, ops) is { } found)
        {
            return found;
        }

        if (ops.alloc_notifier is not { } alloc)
        {
            throw new ArgumentException("mmu_notifier_get_locked: ops.alloc_notifier is null", nameof(ops));
        }

        var mn = alloc(mm);
        if (mn is null)
        {
            return null;
        }

        if (!ReferenceEquals(mn.ops, ops))
        {
            throw new ArgumentException("mmu_notifier_get_locked: alloc_notifier must return a notifier whose ops are the ops passed (C sets mn->ops = ops)", nameof(ops));
        }

        try
        {
            __mmu_notifier_register(mn, mm);
        }
        catch
        {
            ops.free_notifier?.Invoke(mn);
            throw;
        }

        lock (mm.notifier_lock)
        {
            mn.users = 1;
        }

        return mn;
    }

    /// <summary><see cref="mmu_notifier_get_locked"/> taking mmap_sem for write around it (so it
    /// must not be called with mmap_sem held).</summary>
    [MaySleep]
    public static mmu_notifier? mmu_notifier_get(mmu_notifier_ops ops, mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        down_write(mm.mmap_sem);
        try
        {
            return mmu_notifier_get_locked(ops, mm);
        }
        finally
        {
            up_write(mm.mmap_sem);
        }
    }

    /// <summary>
    /// Drops a reference taken by <see cref="mmu_notifier_get"/>. The last one unlinks the notifier
    /// and frees it (<c>ops-&gt;free_notifier</c>, then the mm reference) after an SRCU grace period,
    /// asynchronously: it never waits, so it may be called from the notifier's own
    /// <c>-&gt;release</c>. Unlike unregister it does not call <c>-&gt;release</c>.
    /// </summary>
    [NeverSleeps]
    public static void mmu_notifier_put(mmu_notifier mn)
    {
        ArgumentNullException.ThrowIfNull(mn);
        var mm = mn.mm ?? throw new InvalidOperationException("mmu_notifier_put: the notifier was never registered");
        lock (mm.notifier_lock)
        {
            if (mn.users == 0)
            {
                throw new InvalidOperationException("mmu_notifier_put: WARN_ON(!mn->users): more puts than gets");
            }

            if (--mn.users != 0)
            {
                return;
            }

            hlist_del_init_rcu(mn, mm.notifier_list);
            mn.registered = false;
        }

        // call_srcu(&srcu, &mn->rcu, mmu_notifier_free_rcu)
        var free = Task.Run(() =>
        {
            synchronize_srcu(mm.srcu);
            mn.ops.free_notifier?.Invoke(mn);
            /* Pairs with the get in __mmu_notifier_register() */
            mmdrop(mm);
        });
        lock (s_pending_frees)
        {
            s_pending_frees.Add(free);
        }
    }

    /// <summary>Waits until every free queued by <see cref="mmu_notifier_put"/> has run (a module's
    /// <c>__exit</c>). May sleep.</summary>
    [MaySleep]
    public static void mmu_notifier_synchronize()
    {
        might_sleep_in(nameof(mmu_notifier_synchronize));
        Task[] pending;
        lock (s_pending_frees)
        {
            pending = s_pending_frees.ToArray();
            s_pending_frees.Clear();
        }

        Task.WaitAll(pending);
    }
}
