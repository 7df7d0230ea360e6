using System;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/completion.h
public static partial class Linux
{
    /// <summary>Sleeps until <paramref name="x"/> is completed, then consumes one completion.</summary>
    [MaySleep]
    public static void wait_for_completion(completion x)
    {
        ArgumentNullException.ThrowIfNull(x);
        might_sleep_in(nameof(wait_for_completion));
        lock (x.gate)
        {
            while (x.done == 0)
            {
                Monitor.Wait(x.gate);
            }

            if (x.done != completion.COMPLETE_ALL)
            {
                x.done--;
            }
        }
    }

    /// <summary>Consumes a completion if one is available; never sleeps.</summary>
    [NeverSleeps]
    public static bool try_wait_for_completion(completion x)
    {
        ArgumentNullException.ThrowIfNull(x);
        lock (x.gate)
        {
            if (x.done == 0)
            {
                return false;
            }

            if (x.done != completion.COMPLETE_ALL)
            {
                x.done--;
            }

            return true;
        }
    }

    /// <summary>Wakes one waiter of <paramref name="x"/>; never sleeps (callable under a spinlock).</summary>
    [NeverSleeps]
    public static void complete(completion x)
    {
        ArgumentNullException.ThrowIfNull(x);
        lock (x.gate)
        {
            if (x.done != completion.COMPLETE_ALL)
            {
                x.done++;
            }

            Monitor.PulseAll(x.gate);
        }
    }

    /// <summary>Wakes every current and future waiter of <paramref name="x"/>; never sleeps.</summary>
    [NeverSleeps]
    public static void complete_all(completion x)
    {
        ArgumentNullException.ThrowIfNull(x);
        lock (x.gate)
        {
            x.done = completion.COMPLETE_ALL;
            Monitor.PulseAll(x.gate);
        }
    }

    [NeverSleeps]
    public static void reinit_completion(completion x)
    {
        ArgumentNullException.ThrowIfNull(x);
        lock (x.gate)
        {
            x.done = 0;
        }
    }

    [NeverSleeps]
    public static bool completion_done(completion x)
    {
        ArgumentNullException.ThrowIfNull(x);
        lock (x.gate)
        {
            return x.done != 0;
        }
    }
}
