using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using Kernel.Mm.SecondaryMmu;
using Xunit;
using Xunit.Abstractions;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Stress;

/// <summary>
/// Concurrency stress for the secondary MMUs and the notifier core: several threads fault
/// through each secondary MMU while others unmap, fork (so writes COW), split THPs and
/// register/unregister notifiers. Bounded in wall time AND iterations; every thread's choices
/// come from a fixed seed (the interleaving is the machine's); no sleeps.
/// </summary>
public sealed class SecondaryMmuStressTests(ITestOutputHelper output)
{
    private const ulong SmallBase = 0x4000_0000;
    private const int SmallPages = 48;
    private const ulong HugeBase = 0x8000_0000;              // 2 MiB aligned: two THPs
    private const int HugePages = 2 * HPAGE_PMD_NR;
    private const ulong SplitBase = 0xC000_0000;             // fresh 2 MiB vmas the splitter adds
    private const int SplitRegions = 48;
    private static readonly TimeSpan s_budget = TimeSpan.FromSeconds(2);

    // The operation the current thread is running: the witness notifiers file each callback
    // under it, so the test can tell which invalidation a callback belongs to.
    [ThreadStatic]
    private static long t_op;

    private long _clock;
    private long _nextOp;

    /// <summary>An operation that may invalidate: its id and the clock before and after it.</summary>
    private readonly record struct OpWindow(long Id, long Before, long After);

    /// <summary>Counts start/end per operation id; registered for [RegisteredAt, UnregisteringAt].</summary>
    private sealed class counting_notifier : mmu_notifier
    {
        public readonly ConcurrentDictionary<long, (int starts, int ends)> seen = new();
        public long RegisteredAt;
        public long UnregisteringAt = long.MaxValue;

        public static readonly mmu_notifier_ops counting_ops = new()
        {
            invalidate_range_start = (mn, mm, start, end) =>
                ((counting_notifier)mn).seen.AddOrUpdate(t_op, (1, 0), (_, c) => (c.starts + 1, c.ends)),
            invalidate_range_end = (mn, mm, start, end) =>
                ((counting_notifier)mn).seen.AddOrUpdate(t_op, (0, 1), (_, c) => (c.starts, c.ends + 1)),
        };
    }

    private OpWindow Run(Action op)
    {
        long id = Interlocked.Increment(ref _nextOp);
        t_op = id;
        long before = Interlocked.Increment(ref _clock);
        op();
        long after = Interlocked.Increment(ref _clock);
        t_op = 0;
        return new OpWindow(id, before, after);
    }

    private static void RunThreads(params Action[] bodies)
    {
        var failures = new ConcurrentQueue<Exception>();
        var threads = bodies.Select(body => new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception ex)
            {
                failures.Enqueue(ex);
            }
        })).ToArray();
        foreach (var t in threads)
        {
            t.Start();
        }

        foreach (var t in threads)
        {
            t.Join();
        }

        if (!failures.IsEmpty)
        {
            throw new AggregateException(failures);
        }
    }

    private static (mm_struct mm, vm_area_struct small, vm_area_struct huge) NewAddressSpace()
    {
        mm_struct mm = mm_alloc();
        vm_area_struct small = vm_area_alloc(mm);
        small.vm_start = SmallBase;
        small.vm_end = SmallBase + SmallPages * PAGE_SIZE;
        small.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE;
        Assert.Equal(0, insert_vm_struct(mm, small));
        vm_area_struct huge = vm_area_alloc(mm);
        huge.vm_start = HugeBase;
        huge.vm_end = HugeBase + (ulong)HugePages * PAGE_SIZE;
        huge.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_HUGEPAGE;
        Assert.Equal(0, insert_vm_struct(mm, huge));
        return (mm, small, huge);
    }

    private ulong splitRegion;

    private ulong RandomAddress(Random rng)
    {
        ulong split = Volatile.Read(ref splitRegion);
        return rng.Next(6) switch
        {
            0 or 1 => HugeBase + ((ulong)rng.Next(HugePages) * PAGE_SIZE),
            2 when split != 0 => split + ((ulong)rng.Next(HPAGE_PMD_NR) * PAGE_SIZE),
            _ => SmallBase + ((ulong)rng.Next(SmallPages) * PAGE_SIZE),
        };
    }

    [Fact]
    public void Protocol_followed_no_coherence_violation_and_no_lost_callback()
    {
        var sink = new CollectingViolationSink();
        using var useSink = MmRuntime.UseSink(sink);
        var (mm, small, huge) = NewAddressSpace();
        var checker = new CoherenceChecker(mm);
        var witness = new counting_notifier { ops = counting_notifier.counting_ops };
        Assert.Equal(0, mmu_notifier_register(witness, mm));
        long startCallsBefore = mm.InvalidateRangeStartCalls;

        var kvm = new KvmLikeMmu(mm);
        var odp = new OdpLikeMirror(mm);
        odp.RegisterRegion(SmallBase, SmallPages * PAGE_SIZE);
        odp.RegisterRegion(HugeBase, (ulong)HugePages * PAGE_SIZE);
        var iommu = new IommuLikeClient(mm);
        foreach (ISecondaryMmu mmu in new ISecondaryMmu[] { kvm, odp, iommu })
        {
            mmu.Steps.Enabled = false;
            checker.Attach(mmu);
        }

        var windows = new ConcurrentQueue<OpWindow>();
        var churned = new ConcurrentQueue<counting_notifier>();
        var churnedKvms = new ConcurrentQueue<KvmLikeMmu>();
        long installs = 0, invalidations = 0, forks = 0, splits = 0;
        var clock = Stopwatch.StartNew();
        bool TimeLeft() => clock.Elapsed < s_budget;

        void Faulter(int seed)
        {
            var rng = new Random(seed);
            for (int i = 0; i < 6000 && TimeLeft(); i++)
            {
                ulong address = RandomAddress(rng);
                bool write = rng.Next(2) == 0;
                int which = rng.Next(3);
                windows.Enqueue(Run(() =>
                {
                    page? reached = which switch
                    {
                        0 => kvm.Access(address, write, maxFaults: 8),
                        1 => odp.Access(address, write, maxFaults: 8),
                        _ => iommu.Translate(address, write, maxPageRequests: 8),
                    };
                    if (reached is not null)
                    {
                        Interlocked.Increment(ref installs);
                    }
                }));
            }
        }

        void Unmapper(int seed)
        {
            var rng = new Random(seed);
            for (int i = 0; i < 3000 && TimeLeft(); i++)
            {
                bool inHuge = rng.Next(4) == 0;
                vm_area_struct vma = inHuge ? huge : small;
                int pages = inHuge ? HugePages : SmallPages;
                int first = rng.Next(pages);
                int count = Math.Min(1 + rng.Next(inHuge && rng.Next(2) == 0 ? HPAGE_PMD_NR : 4), pages - first);
                ulong start = vma.vm_start + ((ulong)first * PAGE_SIZE);
                ulong size = (ulong)count * PAGE_SIZE;
                windows.Enqueue(Run(() =>
                {
                    // madvise(MADV_DONTNEED): zap under mmap_sem held for reading.
                    down_read(mm.mmap_sem);
                    // A partial zap over a THP splits it inside zap_page_range's own bracket.
                    zap_page_range(vma, start, size);
                    up_read(mm.mmap_sem);
                }));
                Interlocked.Increment(ref invalidations);
            }
        }

        void Forker(int seed)
        {
            var rng = new Random(seed);
            for (int i = 0; i < 150 && TimeLeft(); i++)
            {
                mm_struct? child = null;
                windows.Enqueue(Run(() =>
                {
                    // dup_mmap holds the parent's mmap_sem for writing while it write-protects.
                    down_write(mm.mmap_sem);
                    child = dup_mm(mm);
                    up_write(mm.mmap_sem);
                }));
                Interlocked.Increment(ref forks);

                // The child touches a few pages (its own COW) and exits: the parent's shared
                // pages go back to a single mapping.
                for (int k = 0; k < 2; k++)
                {
                    ulong address = SmallBase + (ulong)rng.Next(SmallPages) * PAGE_SIZE;
                    vm_area_struct cvma = find_vma(child!, address)!;
                    down_read(child!.mmap_sem);
                    handle_mm_fault(cvma, address, FAULT_FLAG_WRITE);
                    up_read(child.mmap_sem);
                }

                mmput(child!);
            }
        }

        void Splitter(int seed)
        {
            var rng = new Random(seed);
            for (int i = 0; i < SplitRegions && TimeLeft(); i++)
            {
                // A fresh VM_HUGEPAGE vma each time: a 2 MiB range that held a pte table never
                // becomes a THP again (there is no khugepaged here).
                ulong haddr = SplitBase + ((ulong)i * HPAGE_PMD_SIZE);
                vm_area_struct vma = vm_area_alloc(mm);
                vma.vm_start = haddr;
                vma.vm_end = haddr + HPAGE_PMD_SIZE;
                vma.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_HUGEPAGE;
                down_write(mm.mmap_sem);
                Assert.Equal(0, insert_vm_struct(mm, vma));
                up_write(mm.mmap_sem);

                windows.Enqueue(Run(() =>
                {
                    down_read(mm.mmap_sem);
                    handle_mm_fault(vma, haddr, FAULT_FLAG_WRITE);
                    up_read(mm.mmap_sem);
                }));

                // The secondary MMUs map subpages of the THP (and the faulters join in).
                Volatile.Write(ref splitRegion, haddr);
                for (int k = 0; k < 4; k++)
                {
                    ulong sub = haddr + ((ulong)rng.Next(HPAGE_PMD_NR) * PAGE_SIZE);
                    windows.Enqueue(Run(() =>
                    {
                        kvm.Access(sub, write: false, maxFaults: 8);
                        iommu.Translate(sub, write: false, maxPageRequests: 8);
                    }));
                }

                ulong at = haddr + ((ulong)rng.Next(HPAGE_PMD_NR) * PAGE_SIZE);
                windows.Enqueue(Run(() =>
                {
                    down_read(mm.mmap_sem);
                    pmd_ptr? pmd = mm_find_pmd(mm, haddr);
                    if (pmd is not null && pmd_trans_huge(pmdp_get(pmd)))
                    {
                        split_huge_pmd(vma, pmd, at);
                        Interlocked.Increment(ref splits);
                    }

                    up_read(mm.mmap_sem);
                }));

                // Translations of the now 4 KiB-mapped subpages stay valid; then give it back.
                windows.Enqueue(Run(() =>
                {
                    kvm.Access(at, write: true, maxFaults: 8);
                    down_read(mm.mmap_sem);
                    zap_page_range(vma, haddr, HPAGE_PMD_SIZE);
                    up_read(mm.mmap_sem);
                }));
            }
        }

        void Churn(int seed)
        {
            var rng = new Random(seed);
            for (int i = 0; i < 1500 && TimeLeft(); i++)
            {
                if (rng.Next(8) == 0)
                {
                    // A whole KVM comes and goes, faulting while it lives.
                    var vm = new KvmLikeMmu(mm, $"kvm-churn-{i}");
                    vm.Steps.Enabled = false;
                    checker.Attach(vm);
                    for (int k = 0; k < 4; k++)
                    {
                        windows.Enqueue(Run(() => vm.Access(RandomAddress(rng), rng.Next(2) == 0, maxFaults: 8)));
                    }

                    checker.Detach(vm);
                    vm.Dispose();
                    churnedKvms.Enqueue(vm);
                    continue;
                }

                var n = new counting_notifier { ops = counting_notifier.counting_ops };
                Assert.Equal(0, mmu_notifier_register(n, mm));
                n.RegisteredAt = Interlocked.Increment(ref _clock);
                // Stay registered until a few more operations began (or time is up): yields,
                // not sleeps, and the other threads' progress is what ends the wait.
                long until = Volatile.Read(ref _nextOp) + 1 + rng.Next(4);
                while (Volatile.Read(ref _nextOp) < until && TimeLeft())
                {
                    Thread.Yield();
                }

                n.UnregisteringAt = Interlocked.Increment(ref _clock);
                mmu_notifier_unregister(n, mm);
                churned.Enqueue(n);
            }
        }

        RunThreads(
            () => Faulter(101),
            () => Faulter(102),
            () => Unmapper(201),
            () => Forker(301),
            () => Splitter(401),
            () => Churn(501));

        // Quiescent now: every translation must match the CPU page table.
        Assert.Equal(0, checker.CheckAll());
        Assert.Empty(checker.Violations);
        Assert.Empty(sink.Violations);

        // The workload really did what it claims.
        Assert.True(installs > 0, "no secondary translation was ever reached");
        Assert.True(invalidations > 0 && forks > 0, $"unmaps {invalidations}, forks {forks}");
        Assert.True(splits > 0, "no THP was split");

        // No lost callbacks: the witness saw every start the core dispatched, each with its end.
        long witnessStarts = witness.seen.Values.Sum(c => (long)c.starts);
        Assert.Equal(mm.InvalidateRangeStartCalls - startCallsBefore, witnessStarts);
        Assert.All(witness.seen, kv => Assert.True(kv.Value.starts == kv.Value.ends, $"op {kv.Key}: {kv.Value.starts} starts, {kv.Value.ends} ends"));

        // Every notifier registered for the whole of an operation saw exactly what the witness saw.
        var opWindows = windows.Where(w => witness.seen.ContainsKey(w.Id)).ToArray();
        long pairsChecked = 0;
        var lost = new List<string>();
        foreach (var n in churned)
        {
            foreach (var w in opWindows)
            {
                if (n.RegisteredAt < w.Before && w.After < n.UnregisteringAt)
                {
                    pairsChecked++;
                    var expected = witness.seen[w.Id];
                    n.seen.TryGetValue(w.Id, out var got);
                    if (got != expected)
                    {
                        lost.Add($"op {w.Id}: witness {expected}, churned notifier {got}");
                    }
                }
            }
        }

        Assert.Empty(lost);
        Assert.True(pairsChecked > 0, "no invalidation fell inside a churned notifier's registration");

        output.WriteLine(
            $"{clock.ElapsedMilliseconds} ms: {windows.Count} ops, {installs} secondary accesses, {invalidations} unmaps, {forks} forks, {splits} THP splits, " +
            $"{witnessStarts} invalidations, retries kvm {kvm.Retries} odp {odp.Retries}, iommu page requests {iommu.PageRequests}, " +
            $"{churned.Count} churned notifiers + {churnedKvms.Count} churned KVMs, {pairsChecked} (notifier, invalidation) pairs checked, {checker.TranslationsChecked} translations checked");

        // The KVM protocol's own books balance.
        Assert.Equal(0, kvm.MmuNotifierCount);
        Assert.Equal(0, kvm.UnbalancedEnds);
        Assert.Equal(kvm.StartsSeen, kvm.EndsSeen);
        Assert.All(churnedKvms, vm => Assert.Equal(0, vm.UnbalancedEnds));

        checker.Dispose();
        kvm.Dispose();
        odp.Dispose();
        iommu.Dispose();
        mmu_notifier_unregister(witness, mm);
        mmput(mm);
        Assert.Empty(sink.Violations);
    }

    [Fact]
    public void Broken_client_is_caught_by_the_checker_under_concurrency()
    {
        var sink = new CollectingViolationSink();
        using var useSink = MmRuntime.UseSink(sink);
        var (mm, small, _) = NewAddressSpace();
        var checker = new CoherenceChecker(mm);
        var broken = new BrokenSecondaryMmu(mm);
        broken.Steps.Enabled = false;
        checker.Attach(broken);

        // The faulting thread hands the address it is installing to the unmapping thread at its
        // preemption point and waits until that unmap is done: the race the broken client does
        // not guard against happens on every iteration, on two real threads.
        using var request = new SemaphoreSlim(0);
        using var done = new SemaphoreSlim(0);
        ulong requested = 0;
        bool stop = false;
        int iterations = 0;
        var clock = Stopwatch.StartNew();

        void Faulter()
        {
            var rng = new Random(7);
            bool inWindow = false;
            using var hook = MmRuntime.OnPreemptionPoint(name =>
            {
                if (inWindow && name == nameof(cond_resched))
                {
                    inWindow = false;
                    request.Release();
                    done.Wait();
                }
            });
            try
            {
                for (; iterations < 200 && clock.Elapsed < s_budget; iterations++)
                {
                    ulong address = SmallBase + (ulong)rng.Next(SmallPages) * PAGE_SIZE;
                    down_read(mm.mmap_sem);
                    handle_mm_fault(small, address, FAULT_FLAG_WRITE);
                    up_read(mm.mmap_sem);
                    Volatile.Write(ref requested, address);
                    inWindow = true;
                    broken.Fault(address, write: true);
                }
            }
            finally
            {
                Volatile.Write(ref stop, true);
                request.Release();
            }
        }

        void Unmapper()
        {
            while (true)
            {
                request.Wait();
                if (Volatile.Read(ref stop))
                {
                    return;
                }

                ulong address = Volatile.Read(ref requested);
                down_read(mm.mmap_sem);
                zap_page_range(small, address, PAGE_SIZE);
                up_read(mm.mmap_sem);
                done.Release();
            }
        }

        RunThreads(Faulter, Unmapper);
        checker.CheckAll();

        output.WriteLine($"{iterations} forced races in {clock.ElapsedMilliseconds} ms: {checker.Violations.Count} violations, first: {checker.Violations.FirstOrDefault()}");
        Assert.True(iterations > 0);
        var kinds = checker.Violations.Select(v => v.Kind).ToHashSet();
        Assert.Contains(CoherenceViolationKind.FreedWhileMapped, kinds);
        Assert.Contains(CoherenceViolationKind.StaleTranslation, kinds);
        Assert.All(checker.Violations, v => Assert.Equal("broken", v.Mmu));
        Assert.True(sink.Has("MMU010"));
        Assert.True(sink.Has(CoherenceChecker.StaleTranslationId));

        checker.Dispose();
        broken.Dispose();
        mmput(mm);
    }
}
