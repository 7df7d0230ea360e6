using System;
using System.Linq;

namespace MmuNotifierAnalyzers.IntegrationTests.Infrastructure;

/// <summary>
/// Kernel code a consumer compiles: one defect per rule, and code that is right. The line a
/// diagnostic belongs on carries a <c>// expect MMUnnn</c> comment, so the expected line is
/// found, not counted by hand.
/// </summary>
public static class ConsumerSources
{
    /// <summary>MMU001: the legacy call, after the page-table lock was dropped (the 2017 race).</summary>
    public const string InvalidatePage = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class Rmap
        {
            public static int page_mkclean_one(mm_struct mm, ulong address)
            {
                spin_lock(mm.page_table_lock);
                // ... write-protect and clean the pte ...
                spin_unlock(mm.page_table_lock);
                mmu_notifier_invalidate_page(mm, address); // expect MMU001
                return 0;
            }
        }
        """;

    /// <summary>MMU002: hugetlb_cow's early return that skips the range end.</summary>
    public const string UnbalancedRange = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class HugeTlb
        {
            public static int hugetlb_cow(mm_struct mm, ulong address, bool out_of_memory)
            {
                ulong mmun_start = address & PAGE_MASK;
                ulong mmun_end = mmun_start + PAGE_SIZE;
                mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end); // expect MMU002
                if (out_of_memory)
                {
                    return -1;
                }

                mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
                return 0;
            }
        }
        """;

    /// <summary>MMU003: the start argument moves before the end (mremap's loop).</summary>
    public const string RangeArgumentsChanged = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class Mremap
        {
            public static void move_page_tables(mm_struct mm, ulong old_addr)
            {
                ulong old_end = old_addr + PAGE_SIZE;
                mmu_notifier_invalidate_range_start(mm, old_addr, old_end);
                old_addr += PAGE_SIZE; // expect MMU003
                mmu_notifier_invalidate_range_end(mm, old_addr, old_end); // expect MMU003
            }
        }
        """;

    /// <summary>MMU004: a sleeping call in an atomic invalidate_range callback.</summary>
    public const string SleepInAtomicCallback = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class DevMmu
        {
            public static readonly mmu_notifier_ops dev_ops = new()
            {
                invalidate_range = dev_invalidate_range,
            };

            private static void dev_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
            {
                msleep(1); // expect MMU004
            }
        }
        """;

    /// <summary>MMU005: a sleeping call with the page-table spinlock held.</summary>
    public const string SleepUnderSpinlock = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class Memory
        {
            public static void wait_under_lock(mm_struct mm)
            {
                spin_lock(mm.page_table_lock);
                msleep(1); // expect MMU005
                spin_unlock(mm.page_table_lock);
            }
        }
        """;

    /// <summary>The kernel's convention, which no rule may fire on.</summary>
    public const string Correct = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class Correct
        {
            public static int clean_one(mm_struct mm, ulong address)
            {
                ulong mmun_start = address & PAGE_MASK;    /* For mmu_notifiers */
                ulong mmun_end = mmun_start + PAGE_SIZE;   /* For mmu_notifiers */
                mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
                spin_lock(mm.page_table_lock);
                // ... write-protect and clean the pte ...
                mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
                spin_unlock(mm.page_table_lock);
                mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
                return 0;
            }
        }
        """;

    /// <summary>MMU004 through the may-sleep list: <c>flush_dev_tlb</c> sleeps only because
    /// the configuration says so.</summary>
    public const string ConfiguredSleep = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class Dev
        {
            public static readonly mmu_notifier_ops dev_ops = new()
            {
                invalidate_range = dev_invalidate_range,
            };

            private static void dev_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
            {
                flush_dev_tlb(start); // expect MMU004
            }

            /// <summary>Waits for the device; nothing in its body says so.</summary>
            public static void flush_dev_tlb(ulong address)
            {
            }
        }
        """;

    /// <summary>MMU004 across files: an atomic callback calls a helper of another file,
    /// <see cref="SleepingHelper"/>; only the whole compilation shows that it sleeps.</summary>
    public const string CallbackCallingHelper = """
        using Kernel.Mm;

        namespace Consumer;

        public static class DevMmu
        {
            public static readonly mmu_notifier_ops dev_ops = new()
            {
                invalidate_range = dev_invalidate_range,
            };

            private static void dev_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
            {
                DevTlb.flush_dev_tlb(start); // expect MMU004
            }
        }
        """;

    /// <summary>The helper <see cref="CallbackCallingHelper"/> calls: it takes a mutex.</summary>
    public const string SleepingHelper = """
        using Kernel.Mm;
        using static Kernel.Mm.Linux;

        namespace Consumer;

        public static class DevTlb
        {
            private static readonly mutex dev_lock = new();

            public static void flush_dev_tlb(ulong address)
            {
                mutex_lock(dev_lock);
                // ... wait for the device to drop its translations ...
                mutex_unlock(dev_lock);
            }
        }
        """;

    /// <summary>The 1-based lines of <paramref name="source"/> marked <c>// expect id</c>.</summary>
    public static int[] ExpectedLines(string source, string id) =>
        source.ReplaceLineEndings("\n")
            .Split('\n')
            .Select((text, index) => (text, line: index + 1))
            .Where(l => l.text.Contains("// expect " + id, StringComparison.Ordinal))
            .Select(l => l.line)
            .ToArray();

    /// <summary>The single line marked for <paramref name="id"/>.</summary>
    public static int ExpectedLine(string source, string id) => ExpectedLines(source, id).Single();
}
