using System;
using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

/// <summary>Builds small address spaces for the core tests.</summary>
internal static class TestMm
{
    public const ulong Base = 0x10000000UL;

    public static (mm_struct mm, vm_area_struct vma) Anon(ulong start = Base, ulong size = 16 * PAGE_SIZE, ulong extraFlags = 0)
    {
        var mm = mm_alloc();
        var vma = vm_area_alloc(mm);
        vma.vm_start = start;
        vma.vm_end = start + size;
        vma.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | extraFlags;
        if (insert_vm_struct(mm, vma) != 0)
        {
            throw new InvalidOperationException("insert_vm_struct failed");
        }

        return (mm, vma);
    }

    public static pte_t PteOf(mm_struct mm, ulong address)
    {
        var pmd = mm_find_pmd(mm, address);
        if (pmd is null || pmd_trans_huge(pmdp_get(pmd)))
        {
            return default;
        }

        return ptep_get(pte_offset_map(pmd, address));
    }

    public static page PageAt(mm_struct mm, ulong address) => pte_page(PteOf(mm, address));

    /// <summary>
    /// The pages freed while <paramref name="action"/> ran. Tests run in parallel and a freed page
    /// may be handed to another test at once, so "was freed" is observed, not "is free now".
    /// </summary>
    public static HashSet<page> Freed(Action action)
    {
        var freed = new HashSet<page>();
        Action<page> onFree = p =>
        {
            lock (freed)
            {
                freed.Add(p);
            }
        };
        MmRuntime.PageFreeing += onFree;
        try
        {
            action();
        }
        finally
        {
            MmRuntime.PageFreeing -= onFree;
        }

        lock (freed)
        {
            return new HashSet<page>(freed);
        }
    }
}

/// <summary>A notifier that records every callback it receives.</summary>
internal sealed class RecordingNotifier : mmu_notifier
{
    public readonly List<string> Calls;

    private RecordingNotifier(List<string> calls) => Calls = calls;

    /// <summary>With both <paramref name="withInvalidateRange"/> and <paramref name="startEnd"/>, a
    /// start/end notifier whose <see cref="Companion"/> implements invalidate_range into the same log:
    /// one notifier implements one model (MMU011). Register both with <see cref="RegisterOn"/>.</summary>
    public static RecordingNotifier Create(bool withInvalidateRange = false, bool startEnd = true)
    {
        var calls = new List<string>();
        var mn = new RecordingNotifier(calls)
        {
            ops = new mmu_notifier_ops
            {
                invalidate_range_start = startEnd ? (mn, mm, s, e) => ((RecordingNotifier)mn).Add($"start {s:x}-{e:x}") : null,
                invalidate_range_end = startEnd ? (mn, mm, s, e) => ((RecordingNotifier)mn).Add($"end {s:x}-{e:x}") : null,
                invalidate_range = withInvalidateRange && !startEnd ? RecordRange : null,
                change_pte = (mn, mm, a, p) => ((RecordingNotifier)mn).Add($"change_pte {a:x}"),
                clear_flush_young = (mn, mm, s, e) => { ((RecordingNotifier)mn).Add($"clear_flush_young {s:x}-{e:x}"); return 1; },
                clear_young = (mn, mm, s, e) => { ((RecordingNotifier)mn).Add($"clear_young {s:x}-{e:x}"); return 0; },
                test_young = (mn, mm, a) => { ((RecordingNotifier)mn).Add($"test_young {a:x}"); return 1; },
                release = (mn, mm) => ((RecordingNotifier)mn).Add("release"),
            },
        };
        if (withInvalidateRange && startEnd)
        {
            mn.Companion = new RecordingNotifier(calls) { ops = new mmu_notifier_ops { invalidate_range = RecordRange } };
        }

        return mn;
    }

    /// <summary>The invalidate_range notifier that logs beside this start/end one, if asked for.</summary>
    public RecordingNotifier? Companion { get; private set; }

    /// <summary>Registers the notifier, then its companion (newest first: the companion's
    /// invalidate_range is logged before this one's end).</summary>
    public void RegisterOn(mm_struct mm)
    {
        mmu_notifier_register(this, mm);
        if (Companion is not null)
        {
            mmu_notifier_register(Companion, mm);
        }
    }

    public void UnregisterFrom(mm_struct mm)
    {
        if (Companion is not null)
        {
            mmu_notifier_unregister(Companion, mm);
        }

        mmu_notifier_unregister(this, mm);
    }

    private static void RecordRange(mmu_notifier mn, mm_struct mm, ulong s, ulong e) => ((RecordingNotifier)mn).Add($"range {s:x}-{e:x}");

    public void Add(string s)
    {
        lock (Calls)
        {
            Calls.Add(s);
        }
    }

    public string[] Snapshot()
    {
        lock (Calls)
        {
            return Calls.ToArray();
        }
    }
}
