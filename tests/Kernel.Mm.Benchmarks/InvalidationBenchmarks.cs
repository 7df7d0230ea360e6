using BenchmarkDotNet.Attributes;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Benchmarks;

/// <summary>
/// Cost of one invalidation (invalidate_range_start + invalidate_range_end over one page) as
/// the number of registered mmu_notifiers grows: dispatch walks every notifier, so this is
/// linear in n by design (the kernel's hlist walk under SRCU).
/// </summary>
[MemoryDiagnoser]
public class NotifierInvalidationBenchmarks
{
    private static readonly mmu_notifier_ops s_ops = new()
    {
        invalidate_range_start = (mn, mm, start, end) => { },
        invalidate_range_end = (mn, mm, start, end) => { },
    };

    private mm_struct _mm = null!;
    private ulong _address;

    [Params(1, 100, 10_000, 100_000)]
    public int Notifiers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _mm = mm_alloc();
        for (int i = 0; i < Notifiers; i++)
        {
            mmu_notifier_register(new mmu_notifier { ops = s_ops }, _mm);
        }

        _address = 0x4000_0000;
    }

    [GlobalCleanup]
    public void Cleanup() => mmput(_mm);

    [Benchmark(Baseline = true)]
    public void StartEnd()
    {
        ulong mmun_start = _address;
        ulong mmun_end = _address + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(_mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(_mm, mmun_start, mmun_end);
    }
}

/// <summary>
/// Cost of one invalidation over one page as the number of interval notifiers grows, with the
/// core finding the overlapping notifiers by its interval tree (the default) and, in the same
/// run, by a linear walk of every interval (<c>mmu_interval_use_linear_lookup</c>). Each interval
/// is one page, a page apart; the invalidated page hits exactly one, in the middle.
/// </summary>
[MemoryDiagnoser]
public class IntervalInvalidationBenchmarks
{
    private static readonly mmu_interval_notifier_ops s_ops = new()
    {
        invalidate = (sub, range, cur_seq) =>
        {
            mmu_interval_set_seq(sub, cur_seq);
            return true;
        },
    };

    private mm_struct _treeMm = null!;
    private mm_struct _linearMm = null!;
    private ulong _address;

    [Params(1, 100, 10_000, 100_000)]
    public int Intervals { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _treeMm = NewMm(Intervals);
        _linearMm = NewMm(Intervals);
        mmu_interval_use_linear_lookup(_linearMm, true);
        _address = IntervalData.Address(Intervals / 2);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        mmput(_treeMm);
        mmput(_linearMm);
    }

    [Benchmark(Baseline = true)]
    public void LinearWalk() => Invalidate(_linearMm);

    [Benchmark]
    public void IntervalTree() => Invalidate(_treeMm);

    private void Invalidate(mm_struct mm)
    {
        ulong mmun_start = _address;
        ulong mmun_end = _address + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }

    private static mm_struct NewMm(int intervals)
    {
        mm_struct mm = mm_alloc();
        for (int i = 0; i < intervals; i++)
        {
            mmu_interval_notifier_insert(new mmu_interval_notifier(), mm, IntervalData.Address(i), PAGE_SIZE, s_ops);
        }

        return mm;
    }
}

/// <summary>
/// The lookup alone: every interval overlapping one page, by the augmented interval tree
/// (<c>interval_tree_iter_first/next</c>) and by a linear walk of the same nodes
/// (<see cref="LinearIntervalIndex"/>), in the same run.
/// </summary>
public class IntervalLookupBenchmarks
{
    private readonly rb_root_cached _tree = new();
    private readonly LinearIntervalIndex _linear = new();
    private ulong _start;

    [Params(1, 100, 10_000, 100_000)]
    public int Intervals { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < Intervals; i++)
        {
            var node = new interval_tree_node { start = IntervalData.Address(i), last = IntervalData.Address(i) + PAGE_SIZE - 1 };
            interval_tree_insert(node, _tree);
            _linear.Insert(node);
        }

        _start = IntervalData.Address(Intervals / 2);
    }

    [Benchmark(Baseline = true)]
    public int LinearWalk()
    {
        int hits = 0;
        foreach (var node in _linear.Overlapping(_start, _start + PAGE_SIZE - 1))
        {
            hits += node is null ? 0 : 1;
        }

        return hits;
    }

    [Benchmark]
    public int IntervalTree()
    {
        int hits = 0;
        ulong last = _start + PAGE_SIZE - 1;
        for (var node = interval_tree_iter_first(_tree, _start, last); node is not null; node = interval_tree_iter_next(node, _start, last))
        {
            hits++;
        }

        return hits;
    }
}

/// <summary>Interval layout shared by the interval benchmarks: one page each, a page apart.</summary>
internal static class IntervalData
{
    public const ulong Base = 0x1_0000_0000;

    public static ulong Address(int index) => Base + ((ulong)index * 2 * PAGE_SIZE);
}
