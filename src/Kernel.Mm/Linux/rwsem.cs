using System;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/rwsem.h
public static partial class Linux
{
    /// <summary>Takes <paramref name="sem"/> for read, sleeping while a writer holds or waits for it.</summary>
    [MaySleep]
    public static void down_read(rw_semaphore sem)
    {
        ArgumentNullException.ThrowIfNull(sem);
        might_sleep_in(nameof(down_read));
        int me = Environment.CurrentManagedThreadId;
        lock (sem.gate)
        {
            if (sem.writer == me)
            {
                throw new InvalidOperationException($"down_read: rw_semaphore '{sem.name}' is already held for write by this thread: this deadlocks");
            }

            while (sem.writer != 0 || sem.writers_waiting > 0)
            {
                Monitor.Wait(sem.gate);
            }

            sem.readers[me] = sem.readers.TryGetValue(me, out int n) ? n + 1 : 1;
        }
    }

    /// <summary>Takes <paramref name="sem"/> for read if no writer holds or waits; never sleeps.</summary>
    [NeverSleeps]
    public static bool down_read_trylock(rw_semaphore sem)
    {
        ArgumentNullException.ThrowIfNull(sem);
        int me = Environment.CurrentManagedThreadId;
        lock (sem.gate)
        {
            if (sem.writer != 0 || sem.writers_waiting > 0)
            {
                return false;
            }

            sem.readers[me] = sem.readers.TryGetValue(me, out int n) ? n + 1 : 1;
            return true;
        }
    }

    /// <summary>Releases a read hold of the current thread; never sleeps.</summary>
    [NeverSleeps]
    public static void up_read(rw_semaphore sem)
    {
        ArgumentNullException.ThrowIfNull(sem);
        int me = Environment.CurrentManagedThreadId;
        lock (sem.gate)
        {
            if (!sem.readers.TryGetValue(me, out int n))
            {
                throw new InvalidOperationException($"up_read: rw_semaphore '{sem.name}' is not held for read by the current thread {me}");
            }

            if (n == 1)
            {
                sem.readers.Remove(me);
            }
            else
            {
                sem.readers[me] = n - 1;
            }

            Monitor.PulseAll(sem.gate);
        }

        MmRuntime.PreemptionPoint(nameof(up_read));
    }

    /// <summary>Takes <paramref name="sem"/> for write, sleeping until every reader and writer left.</summary>
    [MaySleep]
    public static void down_write(rw_semaphore sem)
    {
        ArgumentNullException.ThrowIfNull(sem);
        might_sleep_in(nameof(down_write));
        int me = Environment.CurrentManagedThreadId;
        lock (sem.gate)
        {
            if (sem.writer == me || sem.readers.ContainsKey(me))
            {
                throw new InvalidOperationException($"down_write: rw_semaphore '{sem.name}' is already held by this thread: this deadlocks");
            }

            sem.writers_waiting++;
            try
            {
                while (sem.writer != 0 || sem.readers.Count > 0)
                {
                    Monitor.Wait(sem.gate);
                }
            }
            finally
            {
                sem.writers_waiting--;
            }

            sem.writer = me;
        }
    }

    /// <summary>Takes <paramref name="sem"/> for write if it is free; never sleeps.</summary>
    [NeverSleeps]
    public static bool down_write_trylock(rw_semaphore sem)
    {
        ArgumentNullException.ThrowIfNull(sem);
        lock (sem.gate)
        {
            if (sem.writer != 0 || sem.readers.Count > 0)
            {
                return false;
            }

            sem.writer = Environment.CurrentManagedThreadId;
            return true;
        }
    }

    /// <summary>Releases the current thread's write hold; never sleeps.</summary>
    [NeverSleeps]
    public static void up_write(rw_semaphore sem)
    {
        ArgumentNullException.ThrowIfNull(sem);
        int me = Environment.CurrentManagedThreadId;
        lock (sem.gate)
        {
            if (sem.writer != me)
            {
                throw new InvalidOperationException(sem.writer == 0
                    ? $"up_write: rw_semaphore '{sem.name}' is not held for write"
                    : $"up_write: rw_semaphore '{sem.name}' is held for write by thread {sem.writer}, not by the current thread {me}");
            }

            sem.writer = 0;
            Monitor.PulseAll(sem.gate);
        }

        MmRuntime.PreemptionPoint(nameof(up_write));
    }

    /// <summary>Turns the current thread's write hold into a read hold; never sleeps.</summary>
    [NeverSleeps]
    public static void downgrade_write(rw_semaphore sem)
    {
        ArgumentNullException.ThrowIfNull(sem);
        int me = Environment.CurrentManagedThreadId;
        lock (sem.gate)
        {
            if (sem.writer != me)
            {
                throw new InvalidOperationException($"downgrade_write: rw_semaphore '{sem.name}' is not held for write by the current thread");
            }

            sem.writer = 0;
            sem.readers[me] = sem.readers.TryGetValue(me, out int n) ? n + 1 : 1;
            Monitor.PulseAll(sem.gate);
        }
    }
}
