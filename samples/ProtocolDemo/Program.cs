using System;
using System.Linq;
using Kernel.Mm;
using Kernel.Mm.SecondaryMmu;
using static Kernel.Mm.Linux;

namespace ProtocolDemo;

/// <summary>
/// One protocol bug end to end: a device mirror whose fault path skips the interval-notifier
/// sequence retry (MMU012). The build shows the analyzer's warning on
/// <see cref="mirror_dev.mirror_fault_buggy"/>; this run replays the race it allows (the page is
/// unmapped and replaced while the fault sits between its lookup and its install) and shows the
/// runtime twin's report and the coherence checker's stale translation; then the same race on
/// <see cref="mirror_dev.mirror_fault"/>, which retries. Exit code 0 when the buggy path was
/// caught both ways and the fixed one ran clean.
/// </summary>
public static class Program
{
    private const ulong Base = 0x40000000UL;
    private const ulong Size = 16 * PAGE_SIZE;
    private const ulong A = Base + (4 * PAGE_SIZE);

    public static int Main()
    {
        Console.WriteLine("MMU012, a secondary mapping established without the sequence retry check");

        var buggy = Run("mirror_fault_buggy: mmu_interval_read_begin ... install, no mmu_interval_read_retry", dev => dev.mirror_fault_buggy(A));
        var fixedRun = Run("mirror_fault: mmu_interval_read_retry under dev_lock before the install", dev => dev.mirror_fault(A));

        bool caught = buggy.Fault == SecondaryFaultResult.Installed
            && buggy.Ids.Contains("MMU012") && buggy.Ids.Contains(CoherenceChecker.StaleTranslationId);
        bool clean = fixedRun.Fault == SecondaryFaultResult.Retry && fixedRun.Ids.Length == 0;
        Console.WriteLine();
        Console.WriteLine("Verdict");
        Console.WriteLine($"  mirror_fault_buggy: {(caught ? "CAUGHT   " : "NOT CAUGHT")} - fault {buggy.Fault,-9} reports [{string.Join(", ", buggy.Ids)}]");
        Console.WriteLine($"  mirror_fault      : {(clean ? "CLEAN    " : "NOT CLEAN ")} - fault {fixedRun.Fault,-9} reports [{string.Join(", ", fixedRun.Ids)}]");
        return caught && clean ? 0 : 1;
    }

    private sealed record Outcome(SecondaryFaultResult Fault, string[] Ids);

    private static Outcome Run(string title, Func<mirror_dev, SecondaryFaultResult> fault)
    {
        Console.WriteLine();
        Console.WriteLine(new string('=', 96));
        Console.WriteLine(title);
        Console.WriteLine(new string('=', 96));

        var sink = new CollectingViolationSink();
        using var sinkScope = MmRuntime.UseSink(sink);
        var mm = mm_alloc();
        var vma = vm_area_alloc(mm);
        vma.vm_start = Base;
        vma.vm_end = Base + Size;
        vma.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE;
        insert_vm_struct(mm, vma);
        handle_mm_fault(vma, A, FAULT_FLAG_WRITE);
        page original = CpuPage(mm, A)!;

        var checker = new CoherenceChecker(mm);
        var dev = new mirror_dev(mm, Base, Size);
        checker.Attach(dev);
        dev.Steps.StepAdded += line => Console.WriteLine($"  [dev] {line}");

        // The race: once the fault has looked the page up (its cond_resched), the CPU side unmaps
        // the page (MADV_DONTNEED: start, clear, end) and touches the address again (a new page).
        bool fired = false;
        SecondaryFaultResult result;
        using (MmRuntime.OnPreemptionPoint(name =>
        {
            if (name != nameof(cond_resched) || fired)
            {
                return;
            }

            fired = true;
            Console.WriteLine($"  [cpu] zap_page_range 0x{A:x} (pfn 0x{page_to_pfn(original):x}), then the CPU faults a new page in");
            zap_page_range(vma, A, PAGE_SIZE);
            handle_mm_fault(vma, A, FAULT_FLAG_WRITE);
        }))
        {
            result = fault(dev);
        }

        page? cpu = CpuPage(mm, A);
        bool devMaps = dev.TryGetTranslation(A, out page? devPage);
        Console.WriteLine($"  the fault returned {result}; the CPU maps pfn 0x{(cpu is null ? 0 : page_to_pfn(cpu)):x}, the device {(devMaps ? $"pfn 0x{page_to_pfn(devPage!):x}" : "nothing")}");
        checker.CheckAll();

        Console.WriteLine("  runtime twin:");
        foreach (var v in sink.Violations.Where(v => v.RuleId != CoherenceChecker.StaleTranslationId && v.RuleId != CoherenceChecker.FreedWhileMappedId))
        {
            Console.WriteLine("    " + v.Message);
            // The driver's frames: where the mapping was installed and from where.
            var frames = v.StackTrace.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Trim())
                .Where(l => !l.StartsWith("at Kernel.Mm.", StringComparison.Ordinal))
                .Take(3);
            Console.WriteLine("      " + string.Join("\n      ", frames));
        }

        Console.WriteLine("  coherence checker:");
        foreach (var v in checker.Violations)
        {
            Console.WriteLine("    " + v.Message);
        }

        if (result == SecondaryFaultResult.Retry)
        {
            Console.WriteLine($"  the device faults again: {dev.mirror_fault(A)}");
        }

        var ids = sink.Violations.Select(v => v.RuleId).Distinct().OrderBy(id => id, StringComparer.Ordinal).ToArray();
        dev.remove();
        checker.Dispose();
        mmput(mm);
        return new Outcome(result, ids);
    }

    private static page? CpuPage(mm_struct mm, ulong address)
    {
        var pmd = mm_find_pmd(mm, address);
        if (pmd is null)
        {
            return null;
        }

        var pte = ptep_get(pte_offset_map(pmd, address));
        return pte_present(pte) ? pte_page(pte) : null;
    }
}
