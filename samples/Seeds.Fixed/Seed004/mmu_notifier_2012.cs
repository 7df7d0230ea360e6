using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace Seeds.Before.Seed004;

// include/linux/mmu_notifier.h before seed 004 removed these macros. Kernel.Mm's
// ptep_clear_flush_notify is the 4.x one (invalidate_range, atomic-safe); the 2012 macros did
// something else, so each file that used them gets its own private copy (a member of the class
// wins over the `using static Kernel.Mm.Linux` import, exactly as the macro shadowed nothing).
// They are [MaySleep]: they call invalidate_page or start/end, which may sleep.

public static partial class rmap
{
    /*
     * These two macros will sometime replace ptep_clear_flush.
     * ptep_clear_flush is implemented as macro itself, so this also is
     * implemented as a macro until ptep_clear_flush will converted to an
     * inline function, to diminish the risk of compilation failure. The
     * invalidate_page method over time can be moved outside the PT lock
     * and these two macros can be later removed.
     */
    [MaySleep]
    private static pte_t ptep_clear_flush_notify(vm_area_struct __vma, ulong __address, pte_ptr __ptep)
    {
        pte_t __pte;
        vm_area_struct ___vma = __vma;
        ulong ___address = __address;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        __pte = ptep_clear_flush(___vma, ___address, __ptep);
        mmun_start = ___address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(___vma.vm_mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(___vma.vm_mm, mmun_start, mmun_end);
        return __pte;
    }
}

public static partial class filemap_xip
{
    /* the 2012 ptep_clear_flush_notify: see rmap */
    [MaySleep]
    private static pte_t ptep_clear_flush_notify(vm_area_struct __vma, ulong __address, pte_ptr __ptep)
    {
        pte_t __pte;
        vm_area_struct ___vma = __vma;
        ulong ___address = __address;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        __pte = ptep_clear_flush(___vma, ___address, __ptep);
        mmun_start = ___address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(___vma.vm_mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(___vma.vm_mm, mmun_start, mmun_end);
        return __pte;
    }
}

public static partial class huge_memory
{
    [MaySleep]
    private static pmd_t pmdp_clear_flush_notify(vm_area_struct __vma, ulong __address, pmd_ptr __pmdp)
    {
        pmd_t __pmd;
        vm_area_struct ___vma = __vma;
        ulong ___address = __address;
        VM_BUG_ON((__address & ~HPAGE_PMD_MASK) != 0);
        mmu_notifier_invalidate_range_start(___vma.vm_mm, ___address,
                                            (__address) + HPAGE_PMD_SIZE);
        __pmd = pmdp_clear_flush(___vma, ___address, __pmdp);
        mmu_notifier_invalidate_range_end(___vma.vm_mm, ___address,
                                          (__address) + HPAGE_PMD_SIZE);
        return __pmd;
    }

    [MaySleep]
    private static void pmdp_splitting_flush_notify(vm_area_struct __vma, ulong __address, pmd_ptr __pmdp)
    {
        vm_area_struct ___vma = __vma;
        ulong ___address = __address;
        VM_BUG_ON((__address & ~HPAGE_PMD_MASK) != 0);
        mmu_notifier_invalidate_range_start(___vma.vm_mm, ___address,
                                            (__address) + HPAGE_PMD_SIZE);
        pmdp_splitting_flush(___vma, ___address, __pmdp);
        mmu_notifier_invalidate_range_end(___vma.vm_mm, ___address,
                                          (__address) + HPAGE_PMD_SIZE);
    }
}
