using System;
using System.Collections.Generic;

namespace Kernel.Mm;

/// <summary><c>struct rw_semaphore</c>: many readers or one writer; waiting sleeps. Writers are
/// preferred once waiting, as in the kernel, so readers cannot starve them.</summary>
public sealed class rw_semaphore
{
    internal readonly object gate = new();
    internal int writer;                                   // thread id of the writer, 0 if none
    internal int writers_waiting;
    internal readonly Dictionary<int, int> readers = new(); // thread id -> read holds

    public rw_semaphore()
        : this("rw_semaphore")
    {
    }

    public rw_semaphore(string name)
    {
        this.name = name ?? throw new ArgumentNullException(nameof(name));
    }

    public string name { get; }

    /// <summary>Number of read holds (all threads).</summary>
    public int ReaderCount
    {
        get
        {
            lock (gate)
            {
                int n = 0;
                foreach (var c in readers.Values)
                {
                    n += c;
                }

                return n;
            }
        }
    }

    /// <summary>True when the current thread holds it for write.</summary>
    public bool IsWriteLockedByCurrentThread
    {
        get
        {
            lock (gate)
            {
                return writer == Environment.CurrentManagedThreadId;
            }
        }
    }

    /// <summary>True when the current thread holds it for read or write.</summary>
    public bool IsHeldByCurrentThread
    {
        get
        {
            lock (gate)
            {
                int me = Environment.CurrentManagedThreadId;
                return writer == me || readers.ContainsKey(me);
            }
        }
    }

    public override string ToString() => name;
}
