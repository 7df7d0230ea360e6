namespace Kernel.Mm;

/// <summary>
/// <c>struct srcu_struct</c>: sleepable RCU. Readers take an index; <c>synchronize_srcu</c>
/// flips the index and sleeps until every reader that started before the flip has left.
/// </summary>
public sealed class srcu_struct
{
    internal readonly object gate = new();
    internal readonly object sync_gate = new();   // synchronize_srcu callers, one grace period at a time
    internal readonly long[] readers = new long[2];
    internal int idx;
    internal long completed_grace_periods;

    /// <summary>Grace periods completed so far.</summary>
    public long CompletedGracePeriods
    {
        get
        {
            lock (gate)
            {
                return completed_grace_periods;
            }
        }
    }
}
