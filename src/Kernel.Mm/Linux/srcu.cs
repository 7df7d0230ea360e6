using System;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/srcu.h
public static partial class Linux
{
    /// <summary>Enters an SRCU read-side section; returns the index to pass to
    /// <see cref="srcu_read_unlock"/>. Never sleeps; the section itself may sleep.</summary>
    [NeverSleeps]
    public static int srcu_read_lock(srcu_struct ssp)
    {
        ArgumentNullException.ThrowIfNull(ssp);
        int idx;
        lock (ssp.gate)
        {
            idx = ssp.idx;
            ssp.readers[idx]++;
        }

        AtomicContext.State.SrcuReadSections.Add(ssp);
        return idx;
    }

    /// <summary>Leaves an SRCU read-side section entered with index <paramref name="idx"/>.</summary>
    [NeverSleeps]
    public static void srcu_read_unlock(srcu_struct ssp, int idx)
    {
        ArgumentNullException.ThrowIfNull(ssp);
        if (idx is not (0 or 1))
        {
            throw new ArgumentOutOfRangeException(nameof(idx), idx, "srcu_read_unlock: index must be the value srcu_read_lock returned (0 or 1)");
        }

        lock (ssp.gate)
        {
            if (ssp.readers[idx] == 0)
            {
                throw new InvalidOperationException($"srcu_read_unlock: no reader holds index {idx} (unbalanced srcu_read_unlock)");
            }

            if (--ssp.readers[idx] == 0)
            {
                Monitor.PulseAll(ssp.gate);
            }
        }

        AtomicContext.State.SrcuReadSections.Remove(ssp); // absent when another thread locked it: fine
    }

    /// <summary>Waits (sleeps) for a grace period: every SRCU reader that was in a read-side
    /// section when this was called has left it. Readers that start later are not waited for.</summary>
    [MaySleep]
    public static void synchronize_srcu(srcu_struct ssp)
    {
        ArgumentNullException.ThrowIfNull(ssp);
        might_sleep_in(nameof(synchronize_srcu));
        if (AtomicContext.State.SrcuReadSections.Contains(ssp))
        {
            throw new InvalidOperationException(
                "synchronize_srcu: called inside a read-side section of the same srcu_struct (e.g. mmu_notifier_unregister from a notifier callback): the grace period would wait for itself");
        }

        lock (ssp.sync_gate)
        {
            lock (ssp.gate)
            {
                // Readers counted at the old index started before the flip: wait for them only.
                int old = ssp.idx;
                ssp.idx ^= 1;
                while (ssp.readers[old] != 0)
                {
                    Monitor.Wait(ssp.gate);
                }

                ssp.completed_grace_periods++;
            }
        }
    }
}
