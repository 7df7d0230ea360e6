using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// The step log of a secondary MMU: one line per thing it saw ("invalidate_range_start
/// [0x1000,0x2000)", "fault 0x1000 -> pfn 0x2a, installed"). Thread-safe and bounded: it keeps
/// the last <see cref="Capacity"/> lines, so a stress run does not grow it without limit.
/// </summary>
public sealed class MmuStepLog
{
    private readonly ConcurrentQueue<string> _lines = new();
    private int _count;
    private long _total;

    /// <summary>Creates a log that keeps the last <paramref name="capacity"/> lines.</summary>
    public MmuStepLog(int capacity = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    /// <summary>How many lines are kept.</summary>
    public int Capacity { get; }

    /// <summary>When false, nothing is recorded (stress runs turn it off).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Called with each line as it is added (the race demo prints them live). Lines are
    /// added from inside notifier callbacks, some of them atomic (under a page-table spinlock):
    /// a handler must not sleep.</summary>
    public event Action<string>? StepAdded;

    /// <summary>How many lines were ever added, including those no longer kept.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>The kept lines, oldest first.</summary>
    public IReadOnlyList<string> Lines => _lines.ToArray();

    /// <summary>Adds a line.</summary>
    public void Add(string line)
    {
        if (!Enabled)
        {
            return;
        }

        _lines.Enqueue(line);
        Interlocked.Increment(ref _total);
        if (Interlocked.Increment(ref _count) > Capacity && _lines.TryDequeue(out _))
        {
            Interlocked.Decrement(ref _count);
        }

        StepAdded?.Invoke(line);
    }

    /// <summary>Forgets every line.</summary>
    public void Clear()
    {
        while (_lines.TryDequeue(out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>A range as the kernel prints it: <c>[0x1000,0x2000)</c>.</summary>
    internal static string Range(ulong start, ulong end) => $"[0x{start:x},0x{end:x})";

    /// <inheritdoc/>
    public override string ToString() => string.Join(Environment.NewLine, Lines);
}
