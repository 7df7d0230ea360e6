using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Threading;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace Seeds.Common;

/// <summary>
/// Small kernel helpers the seed ports call and Kernel.Mm does not provide: assertions,
/// branch hints, per-mm RSS counters, mlock bookkeeping and the 2012 constants. Each one does
/// what the kernel's does, as far as Kernel.Mm models the state involved; where the kernel's
/// depends on something Kernel.Mm has no model of (swap, memcg, NUMA), the comment says so.
/// </summary>
public static partial class kernel
{
    // ---- include/asm-generic/bug.h, include/linux/compiler.h -----------------------------------

    /// <summary>BUG_ON: the kernel oopses; here, an exception naming the broken assumption.</summary>
    public static void BUG_ON([DoesNotReturnIf(true)] bool condition,
                              [CallerArgumentExpression(nameof(condition))] string? expression = null,
                              [CallerMemberName] string? function = null)
    {
        if (condition)
        {
            throw new InvalidOperationException($"{function}: BUG_ON({expression})");
        }
    }

    /// <summary>VM_BUG_ON: BUG_ON under CONFIG_DEBUG_VM (always on here).</summary>
    public static void VM_BUG_ON([DoesNotReturnIf(true)] bool condition,
                                 [CallerArgumentExpression(nameof(condition))] string? expression = null,
                                 [CallerMemberName] string? function = null)
    {
        if (condition)
        {
            throw new InvalidOperationException($"{function}: VM_BUG_ON({expression})");
        }
    }

    /// <summary>WARN_ON: the kernel prints a warning and carries on; the count lets tests see it.</summary>
    public static bool WARN_ON(bool condition)
    {
        if (condition)
        {
            Interlocked.Increment(ref s_warnings);
        }

        return condition;
    }

    private static long s_warnings;

    /// <summary>How many WARN_ON()s fired in this process.</summary>
    public static long Warnings => Interlocked.Read(ref s_warnings);

    public static bool likely(bool condition) => condition;

    public static bool unlikely(bool condition) => condition;

    /// <summary>smp_wmb(): order the stores before it before the stores after it.</summary>
    public static void smp_wmb() => Interlocked.MemoryBarrier();

    // ---- include/linux/mm_types.h: per-mm RSS counters -----------------------------------------

    public const int MM_FILEPAGES = 0;
    public const int MM_ANONPAGES = 1;
    public const int MM_SWAPENTS = 2;
    public const int NR_MM_COUNTERS = 3;

    private sealed class mm_rss_stat
    {
        public readonly long[] count = new long[NR_MM_COUNTERS];
        public long hiwater_rss;
    }

    // Kernel.Mm's mm_struct has no rss_stat: keep it beside the mm, collected with it.
    private static readonly ConditionalWeakTable<mm_struct, mm_rss_stat> s_rss = new();

    private static mm_rss_stat rss_stat(mm_struct mm) => s_rss.GetValue(mm, _ => new mm_rss_stat());

    public static long get_mm_counter(mm_struct mm, int member) => Interlocked.Read(ref rss_stat(mm).count[member]);

    public static void add_mm_counter(mm_struct mm, int member, long value) => Interlocked.Add(ref rss_stat(mm).count[member], value);

    public static void inc_mm_counter(mm_struct mm, int member) => add_mm_counter(mm, member, 1);

    public static void dec_mm_counter(mm_struct mm, int member) => add_mm_counter(mm, member, -1);

    // The _fast variants batch per task in the kernel; same effect once synced.
    public static void inc_mm_counter_fast(mm_struct mm, int member) => inc_mm_counter(mm, member);

    public static void dec_mm_counter_fast(mm_struct mm, int member) => dec_mm_counter(mm, member);

    public static long get_mm_rss(mm_struct mm) => get_mm_counter(mm, MM_FILEPAGES) + get_mm_counter(mm, MM_ANONPAGES);

    /// <summary>Records the RSS high watermark before it is lowered.</summary>
    public static void update_hiwater_rss(mm_struct mm)
    {
        var stat = rss_stat(mm);
        long rss = get_mm_rss(mm);
        long seen;
        while ((seen = Interlocked.Read(ref stat.hiwater_rss)) < rss &&
               Interlocked.CompareExchange(ref stat.hiwater_rss, rss, seen) != seen)
        {
        }
    }

    public static long get_mm_hiwater_rss(mm_struct mm) => Math.Max(Interlocked.Read(ref rss_stat(mm).hiwater_rss), get_mm_rss(mm));

    /// <summary>mm_counter(): which counter a page is accounted in.</summary>
    public static int mm_counter(page page) => PageAnon(page) ? MM_ANONPAGES : MM_FILEPAGES;

    public static int mm_counter_file(page page) => MM_FILEPAGES;

    // ---- include/linux/rmap.h ------------------------------------------------------------------

    public static ttu_flags TTU_ACTION(ttu_flags x) => x & ttu_flags.TTU_ACTION_MASK;

    // mm/rmap.c (2012): the nonlinear "virtual scan" works on clusters of ptes.
    public const ulong CLUSTER_SIZE = 32 * PAGE_SIZE < HPAGE_PMD_SIZE ? 32 * PAGE_SIZE : HPAGE_PMD_SIZE;
    public const ulong CLUSTER_MASK = ~(CLUSTER_SIZE - 1);

    // ---- include/linux/mm.h (2012 flags Kernel.Mm no longer has) -------------------------------

    /// <summary>VM_NONLINEAR (removed in v4.0): remap_file_pages() mappings. Never set here.</summary>
    public const ulong VM_NONLINEAR = 0x00800000;

    /// <summary>mm/mremap.c: how many bytes of ptes move_ptes handles per call.</summary>
    public const ulong LATENCY_LIMIT = 64 * PAGE_SIZE;
}
