using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Kernel.Mm;
using Kernel.Mm.SecondaryMmu;
using Seeds.Common;
using static Kernel.Mm.Linux;

namespace RaceDemo;

/// <summary>
/// Replays the 2017 invalidate_page race (seeds 000/001) step by step: a KVM fault looks a page
/// up, try_to_unmap_one clears the CPU pte, and the fault completes right after
/// pte_unmap_unlock. Under the seed-000 form nothing has told KVM yet, so it installs the page
/// the CPU just dropped; under the after form invalidate_range_start already ran, so the fault
/// retries. Exit code 0 when the before form was caught and the after form ran clean.
/// </summary>
public static class Program
{
    private const ulong Base = 0x40000000UL;
    private const ulong Size = 16 * PAGE_SIZE;
    private const ulong A = Base + 4 * PAGE_SIZE;
    private const ttu_flags Flags = ttu_flags.TTU_UNMAP | ttu_flags.TTU_IGNORE_MLOCK | ttu_flags.TTU_IGNORE_ACCESS;

    public static int Main()
    {
        Console.WriteLine("The 2017 invalidate_page race, replayed on Kernel.Mm");
        Console.WriteLine("A KVM fault looks up the page at 0x" + A.ToString("x") + ", then try_to_unmap_one unmaps it;");
        Console.WriteLine("the fault resumes right after the CPU's pte_unmap_unlock.");

        var before = Run(
            "seed 000 form: invalidate_page after pte_unmap_unlock (mm/rmap.c, 2012-2017)",
            (page, vma) => Seeds.Before.Seed000.rmap.try_to_unmap_one(page, vma, A, Flags) != swap_results.SWAP_FAIL);
        var after = Run(
            "after form: start before the PT lock, invalidate_range under it, end after it",
            (page, vma) => Seeds.After.rmap.try_to_unmap_one(page, vma, A, Flags));

        bool beforeCaught = before.Fault == SecondaryFaultResult.Installed
            && before.Ids.Contains(CoherenceChecker.StaleTranslationId) && before.Ids.Contains(CoherenceChecker.FreedWhileMappedId);
        bool afterClean = after.Fault == SecondaryFaultResult.Retry && after.Ids.Count == 0;

        Console.WriteLine();
        Console.WriteLine("Verdict");
        Console.WriteLine($"  seed 000 form: {(beforeCaught ? "RACE CAUGHT" : "NOT CAUGHT ")} - kvm fault {before.Fault,-9} reports [{string.Join(", ", before.Ids)}]");
        Console.WriteLine($"  after form   : {(afterClean ? "CLEAN      " : "NOT CLEAN  ")} - kvm fault {after.Fault,-9} reports [{string.Join(", ", after.Ids)}]");
        return beforeCaught && afterClean ? 0 : 1;
    }

    private sealed record Outcome(SecondaryFaultResult Fault, IReadOnlyList<string> Ids);

    private static Outcome Run(string title, Func<page, vm_area_struct, bool> try_to_unmap_one)
    {
        Console.WriteLine();
        Console.WriteLine(new string('=', 96));
        Console.WriteLine(title);
        Console.WriteLine(new string('=', 96));

        var sink = new CollectingViolationSink();
        using var sinkScope = MmRuntime.UseSink(sink);
        var log = new StepPrinter();
        mm_struct mm = mm_alloc();
        var vma = vm_area_alloc(mm);
        vma.vm_start = Base;
        vma.vm_end = Base + Size;
        vma.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE;
        insert_vm_struct(mm, vma);

        using var checker = new CoherenceChecker(mm);
        using var kvm = new KvmLikeMmu(mm);
        using var odp = new OdpLikeMirror(mm);
        odp.RegisterRegion(Base, Size);
        using var iommu = new IommuLikeClient(mm);
        foreach (ISecondaryMmu mmu in new ISecondaryMmu[] { kvm, odp, iommu })
        {
            checker.Attach(mmu);
            string name = mmu.Name;
            mmu.Steps.StepAdded += line => log.Print(name, line);
        }

        checker.ViolationFound += v => log.Print("checker", v.Message);

        handle_mm_fault(vma, A, FAULT_FLAG_WRITE);
        page page = CpuPage(mm, A)!;
        log.Print("cpu", $"write fault 0x{A:x} -> pfn 0x{page_to_pfn(page):x} mapped");
        odp.Access(A, write: false);
        iommu.Translate(A, write: false);
        get_page(page);
        log.Print("vmscan", $"isolates pfn 0x{page_to_pfn(page):x} (holds a reference) and calls try_to_unmap_one");

        var fault = new PausedFault(kvm, A);
        fault.Start();
        log.Print("kvm", "vcpu fault: looked the page up, paused at cond_resched before taking mmu_lock");

        SecondaryFaultResult result = SecondaryFaultResult.Failed;
        bool fired = false;
        using (MmRuntime.OnPreemptionPoint(name =>
        {
            if (name != nameof(pte_unmap_unlock) || fired || CpuPage(mm, A) == page)
            {
                return;
            }

            fired = true;
            log.Print("cpu", $"pte 0x{A:x} cleared, pte_unmap_unlock: the window opens (kvm count={kvm.MmuNotifierCount}, seq={kvm.MmuNotifierSeq})");
            result = fault.Finish();
            handle_mm_fault(vma, A, 0);
            page? fresh = CpuPage(mm, A);
            log.Print("cpu", $"read fault 0x{A:x} -> pfn 0x{(fresh is null ? 0 : page_to_pfn(fresh)):x}: a new page set up for the address");
            int found = checker.CheckAll();
            log.Print("checker", $"checks every translation inside the window: {found} new violation(s)");
        }))
        {
            try_to_unmap_one(page, vma);
        }

        log.Print("cpu", $"try_to_unmap_one returned; pte 0x{A:x} -> {Describe(CpuPage(mm, A))}");
        log.Print("vmscan", $"drops its reference: pfn 0x{page_to_pfn(page):x} is freed");
        put_page(page);
        checker.CheckAll();

        foreach (ISecondaryMmu mmu in new ISecondaryMmu[] { kvm, odp, iommu })
        {
            log.Print(mmu.Name, "now maps 0x" + A.ToString("x") + " -> " + (mmu.TryGetTranslation(A, out page? p) ? Describe(p) : "nothing"));
        }

        var ids = sink.Violations.Select(v => v.RuleId).Distinct().OrderBy(id => id, StringComparer.Ordinal).ToList();
        foreach (MmViolation v in sink.Violations.Where(v => v.RuleId != CoherenceChecker.StaleTranslationId && v.RuleId != CoherenceChecker.FreedWhileMappedId))
        {
            log.Print("runtime", v.Message);
        }

        // Tear down before the next run: no secondary may keep this mm's pages.
        iommu.Dispose();
        odp.Dispose();
        kvm.Dispose();
        checker.Dispose();
        mmput(mm);
        return new Outcome(result, ids);
    }

    private static string Describe(page? page) => page is null ? "nothing" : $"pfn 0x{page_to_pfn(page):x}";

    private static page? CpuPage(mm_struct mm, ulong address)
    {
        pmd_ptr? pmd = mm_find_pmd(mm, address);
        if (pmd is null)
        {
            return null;
        }

        pte_t pte = ptep_get(pte_offset_map(pmd, address));
        return pte_present(pte) ? pte_page(pte) : null;
    }

    /// <summary>Numbered, aligned step lines: who saw what.</summary>
    private sealed class StepPrinter
    {
        private int _step;

        public void Print(string who, string what)
        {
            int n = Interlocked.Increment(ref _step);
            lock (this)
            {
                Console.WriteLine($"  {n,3}  {who,-8} {what}");
            }
        }
    }

    /// <summary>A KVM fault on its own thread, paused after the lookup until released.</summary>
    private sealed class PausedFault
    {
        private readonly ManualResetEventSlim _lookedUp = new();
        private readonly ManualResetEventSlim _proceed = new();
        private readonly Thread _thread;
        private SecondaryFaultResult _result = SecondaryFaultResult.Failed;

        public PausedFault(KvmLikeMmu kvm, ulong address)
        {
            _thread = new Thread(() =>
            {
                bool paused = false;
                using var hook = MmRuntime.OnPreemptionPoint(name =>
                {
                    if (name == nameof(cond_resched) && !paused)
                    {
                        paused = true;
                        _lookedUp.Set();
                        _proceed.Wait();
                    }
                });
                try
                {
                    _result = kvm.Fault(address, write: false);
                }
                finally
                {
                    _lookedUp.Set();
                }
            })
            { IsBackground = true, Name = "kvm vcpu" };
        }

        public void Start()
        {
            _thread.Start();
            _lookedUp.Wait();
        }

        public SecondaryFaultResult Finish()
        {
            _proceed.Set();
            _thread.Join();
            return _result;
        }
    }
}
