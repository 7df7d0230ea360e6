namespace Kernel.Mm;

/// <summary>
/// The twin of MMU012: the interval-notifier sequences each thread read
/// (<c>mmu_interval_read_begin</c>) and checked (<c>mmu_interval_read_retry</c>), so that a
/// secondary mapping installed with a sequence an invalidation has bumped since is reported where
/// it is installed. The runtime sees installs only where a secondary MMU tells it
/// (SecondaryMmuBase.MappingEstablished); a driver's own sequence (KVM's
/// <c>mmu_notifier_seq</c>) is the driver's, not the runtime's.
/// </summary>
internal static class SequenceTwin
{
    /// <summary>Sequences a thread remembers (one per interval notifier it read, newest last).</summary>
    private const int Kept = 16;

    /// <summary><paramref name="sub"/>'s sequence was read as <paramref name="seq"/> (mmu_interval_read_begin).</summary>
    internal static void ReadBegun(mmu_interval_notifier sub, ulong seq)
    {
        var reads = AtomicContext.State.SequenceReads;
        reads.RemoveAll(r => ReferenceEquals(r.Sub, sub));
        if (reads.Count == Kept)
        {
            reads.RemoveAt(0);
        }

        reads.Add(new SequenceRead(sub, seq, Checked: false));
    }

    /// <summary>The thread checked <paramref name="seq"/> of <paramref name="sub"/> (mmu_interval_read_retry):
    /// told to <paramref name="retry"/>, it must read the sequence again, so the read is done with.</summary>
    internal static void RetryChecked(mmu_interval_notifier sub, ulong seq, bool retry)
    {
        var reads = AtomicContext.State.SequenceReads;
        for (int i = reads.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(reads[i].Sub, sub) && reads[i].Seq == seq)
            {
                if (retry)
                {
                    reads.RemoveAt(i);
                }
                else
                {
                    reads[i] = reads[i] with { Checked = true };
                }

                return;
            }
        }
    }

    /// <summary>
    /// A secondary MMU installed a translation of <paramref name="address"/> on <paramref name="mm"/>:
    /// MMU012 when the sequence the thread last read for an interval notifier covering the address
    /// is no longer current (an invalidation ran since, and this install undoes it). The install
    /// uses the read up: a later install on the thread (another MMU's, with a scheme of its own)
    /// is not judged by it.
    /// </summary>
    internal static void MappingEstablished(mm_struct mm, ulong address, string function)
    {
        var reads = AtomicContext.State.SequenceReads;
        for (int i = reads.Count - 1; i >= 0; i--)
        {
            var (sub, seq, isChecked) = reads[i];
            if (!ReferenceEquals(sub.mm, mm) || address < sub.start || address > sub.last)
            {
                continue;
            }

            reads.RemoveAt(i);
            ulong now = System.Threading.Volatile.Read(ref sub.invalidate_seq);
            if (now != seq)
            {
                string check = isChecked
                    ? "mmu_interval_read_retry was called, but the sequence moved after it: the check must run under the driver lock that ->invalidate takes, and the mapping be installed before that lock is dropped"
                    : "no mmu_interval_read_retry was called since mmu_interval_read_begin: check it under the driver lock before installing, and retry when it returns true";
                MmRuntime.Report(
                    RuleIdentifiers.MappingWithoutRetryCheck,
                    $"{function} installs a secondary mapping of 0x{address:x} ({mm}) with sequence {seq} of interval notifier {sub.GetType().Name} [0x{sub.start:x}, 0x{sub.last:x}], which an invalidation has moved to {now}: the mapping undoes that invalidation (stale translation); {check}");
            }

            return;
        }
    }

    internal readonly record struct SequenceRead(mmu_interval_notifier Sub, ulong Seq, bool Checked);
}
