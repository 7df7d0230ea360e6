using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.EntryChangedWithoutInvalidationAnalyzer, MmuNotifierAnalyzers.CodeFixes.EntryChangedWithoutInvalidationCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>The MMU013 fix: MMU006's bracket around the change, start before the lock and end after it on every exit.</summary>
public class MMU013EntryChangedWithoutInvalidationCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Brackets_the_lock_around_a_clear()
    {
        var source = Usings + @"
static class T
{
    static int f(vm_area_struct vma, pmd_ptr pmd, ulong address, bool busy)
    {
        var pte = pte_offset_map_lock(vma.vm_mm, pmd, address, out var ptl);
        if (busy)
        {
            pte_unmap_unlock(pte, ptl);
            return -1;
        }

        [|ptep_clear_flush(vma, address, pte)|];
        pte_unmap_unlock(pte, ptl);
        return 0;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int f(vm_area_struct vma, pmd_ptr pmd, ulong address, bool busy)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        var pte = pte_offset_map_lock(vma.vm_mm, pmd, address, out var ptl);
        if (busy)
        {
            pte_unmap_unlock(pte, ptl);
            mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
            return -1;
        }

        ptep_clear_flush(vma, address, pte);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return 0;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task Brackets_a_huge_pmd_clear_over_its_2_MiB_THP_NUMA_migration()
    {
        // The 3.10 migrate_misplaced_transhuge_page shape; the kernel's own fix bracketed [haddr, haddr + HPAGE_PMD_SIZE).
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, vm_area_struct vma, pmd_ptr pmd, ulong address, pmd_t entry)
    {
        ulong haddr = address & HPAGE_PMD_MASK;
        spin_lock(mm.page_table_lock);
        [|pmdp_clear_flush(vma, haddr, pmd)|];
        set_pmd_at(mm, haddr, pmd, entry);
        spin_unlock(mm.page_table_lock);
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(mm_struct mm, vm_area_struct vma, pmd_ptr pmd, ulong address, pmd_t entry)
    {
        ulong haddr = address & HPAGE_PMD_MASK;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = haddr;
        mmun_end = mmun_start + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        pmdp_clear_flush(vma, haddr, pmd);
        set_pmd_at(mm, haddr, pmd, entry);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task Fix_all_brackets_every_function()
    {
        var source = Usings + @"
static class T
{
    static void clear_soft_dirty(mm_struct mm, ulong addr, pte_ptr pte)
    {
        [|set_pte_at(mm, addr, pte, pte_wrprotect(ptep_get(pte)))|];
    }

    static void g(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        [|ptep_clear_flush(vma, address, pte)|];
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void clear_soft_dirty(mm_struct mm, ulong addr, pte_ptr pte)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = addr & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        set_pte_at(mm, addr, pte, pte_wrprotect(ptep_get(pte)));
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }

    static void g(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task Offers_nothing_down_a_chain_or_for_a_hugetlb_entry()
    {
        // No one page to bracket at the call of a method that changes entries; a hugetlb entry's size is its hstate's.
        var source = Usings + @"
static class T
{
    static void zap(vm_area_struct vma, ulong address, pte_ptr pte) => ptep_clear_flush(vma, address, pte);

    static void top(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        [|zap(vma, address, pte)|];
        [|huge_ptep_clear_flush(vma, address, pte)|];
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }
}
