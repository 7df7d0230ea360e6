using BenchmarkDotNet.Attributes;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Benchmarks;

/// <summary>
/// Cost of one invalidation (invalidate_range_start + invalidate_range_end over one page) as
/// the number of registered mmu_notifiers grows: dispatch walks every notifier, so the time is
/// linear in n by design (the kernel's hlist walk under SRCU); the bytes allocated must not be
/// (the MemoryDiagnoser's Allocated column: the same at 1, 8 and 64 notifiers).
/// </summary>
[MemoryDiagnoser]
public class NotifierInvalidationBenchmarks
{
    private static readonly mmu_notifier_ops s_ops = new()
    {
        invalidate_range_start = (mn, mm, start, end) => { },
        invalidate_range_end = (mn, mm, start, end) => { },
    };

    // Every callback set: the atomic ones (->invalidate_range, the young ones, ->change_pte) too.
    private static readonly mmu_notifier_ops s_allOps = new()
    {
        invalidate_range_start = (mn, mm, start, end) => { },
        invalidate_range_end = (mn, mm, start, end) => { },
        invalidate_range = (mn, mm, start, end) => { },
        change_pte = (mn, mm, address, pte) => { },
        clear_flush_young = (mn, mm, start, end) => 0,
        clear_young = (mn, mm, start, end) => 0,
        test_young = (mn, mm, address) => 0,
    };

    private mm_struct _mm = null!;
    private mm_struct _allMm = null!;
    private ulong _address;

    [Params(1, 8, 64, 10_000)]
    public int Notifiers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _mm = mm_alloc();
        _allMm = mm_alloc();
        for (int i = 0; i < Notifiers; i++)
        {
            mmu_notifier_register(new mmu_notifier { ops = s_ops }, _mm);
            mmu_notifier_register(new mmu_notifier { ops = s_allOps }, _allMm);
        }

        _address = 0x4000_0000;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        mmput(_mm);
        mmput(_allMm);
    }

    [Benchmark(Baseline = true)]
    public void StartEnd()
    {
        ulong mmun_start = _address;
        ulong mmun_end = _address + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(_mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(_mm, mmun_start, mmun_end);
    }

    /// <summary>Start, every atomic notifier call inside it, end (which calls ->invalidate_range again).</summary>
    [Benchmark]
    public int EveryCallback()
    {
        ulong mmun_start = _address;
        ulong mmun_end = _address + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(_allMm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range(_allMm, mmun_start, mmun_end);
        mmu_notifier_change_pte(_allMm, mmun_start, __pte(0));
        int young = mmu_notifier_clear_flush_young(_allMm, mmun_start, mmun_end);
        young |= mmu_notifier_clear_young(_allMm, mmun_start, mmun_end);
        young |= mmu_notifier_test_young(_allMm, mmun_start);
        mmu_notifier_invalidate_range_end(_allMm, mmun_start, mmun_end);
        return young;
    }
}

/// <summary>
/// Cost of registering an mmu_notifier on an mm that already holds n of them. Must not grow with
/// n (the kernel's hlist_add_head_rcu is O(1)); compare the rows of one method across n.
/// <list type="bullet">
/// <item><c>RegisterUnregister</c>: one more notifier registered and unregistered again (steady
/// state at n: <c>mmu_notifier_unregister</c>'s grace period with no reader is included).</item>
/// <item><c>RegisterN</c>: a fresh mm, n notifiers registered one after the other, then
/// <c>mmput</c>: divide the mean by n for the cost of one registration averaged over 0..n (what
/// building a large notifier set costs: quadratic in total if registration is linear).</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
public class NotifierRegistrationBenchmarks
{
    private static readonly mmu_notifier_ops s_ops = new()
    {
        invalidate_range_start = (mn, mm, start, end) => { },
        invalidate_range_end = (mn, mm, start, end) => { },
    };

    private mm_struct _mm = null!;

    [Params(100, 1_000, 10_000)]
    public int Registered { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _mm = mm_alloc();
        for (int i = 0; i < Registered; i++)
        {
            mmu_notifier_register(new mmu_notifier { ops = s_ops }, _mm);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => mmput(_mm);

    [Benchmark]
    public void RegisterUnregister()
    {
        var mn = new mmu_notifier { ops = s_ops };
        mmu_notifier_register(mn, _mm);
        mmu_notifier_unregister(mn, _mm);
    }

    [Benchmark]
    public void RegisterN()
    {
        mm_struct mm = mm_alloc();
        for (int i = 0; i < Registered; i++)
        {
            mmu_notifier_register(new mmu_notifier { ops = s_ops }, mm);
        }

        mmput(mm);
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
