using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.SleepUnderSpinlockAnalyzer, MmuNotifierAnalyzers.CodeFixes.SleepUnderSpinlockCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU005SleepUnderSpinlockCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Start_is_hoisted_above_the_lock_and_end_sunk_below_the_unlock()
    {
        var source = Usings + @"
static class T
{
    static void split(mm_struct mm, ulong address)
    {
        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        spin_lock(mm.page_table_lock);
        // tell the secondary MMUs
        [|mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end)|];
        cond_resched_lock_free();
        [|mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end)|]; // done
        spin_unlock(mm.page_table_lock);
    }

    static void cond_resched_lock_free() { }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void split(mm_struct mm, ulong address)
    {
        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        // tell the secondary MMUs
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        cond_resched_lock_free();
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end); // done
    }

    static void cond_resched_lock_free() { }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = fixedSource, BatchFixedCode = fixedSource };
        await test.RunAsync();
    }

    [Fact]
    public async Task No_hoist_when_the_arguments_are_computed_under_the_lock()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        ulong mmun_start;
        spin_lock(mm.page_table_lock);
        mmun_start = address & PAGE_MASK;
        [|mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_start + PAGE_SIZE)|];
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_start + PAGE_SIZE);
    }
}
";
        var test = new Verify.Test { TestCode = source, FixedCode = source, CodeActionEquivalenceKey = SleepUnderSpinlockCodeFix.MoveKey };
        await test.RunAsync();
    }
    [Fact]
    public async Task A_range_inside_an_if_moves_out_as_a_unit()
    {
        var source = Usings + @"
static class T
{
    static void cow(mm_struct mm, vm_area_struct vma, ulong address, pte_ptr ptep, pte_t pte)
    {
        ulong size = PAGE_SIZE;

        /*
         * Retake the lock
         */
        spin_lock(mm.page_table_lock);
        ptep = pte_offset_map(mm_find_pmd(mm, address)!, address);
        if (pte_same(ptep_get(ptep), pte))
        {
            /* Break COW */
            [|mmu_notifier_invalidate_range_start(mm,
                address & PAGE_MASK,
                (address & PAGE_MASK) + size)|];
            ptep_clear_flush(vma, address, ptep);
            [|mmu_notifier_invalidate_range_end(mm,
                address & PAGE_MASK,
                (address & PAGE_MASK) + size)|];
        }
        spin_unlock(mm.page_table_lock);
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void cow(mm_struct mm, vm_area_struct vma, ulong address, pte_ptr ptep, pte_t pte)
    {
        ulong size = PAGE_SIZE;

        mmu_notifier_invalidate_range_start(mm,
            address & PAGE_MASK,
            (address & PAGE_MASK) + size);
        /*
         * Retake the lock
         */
        spin_lock(mm.page_table_lock);
        ptep = pte_offset_map(mm_find_pmd(mm, address)!, address);
        if (pte_same(ptep_get(ptep), pte))
        {
            /* Break COW */
            ptep_clear_flush(vma, address, ptep);
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm,
            address & PAGE_MASK,
            (address & PAGE_MASK) + size);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }
    private const string PmdWrapper = @"
    // The 2012 macro: start, update, end.
    static pmd_t pmdp_clear_flush_notify(vm_area_struct __vma, ulong __address, pmd_ptr __pmdp)
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

    static void VM_BUG_ON(bool condition) { }
";

    // The update becomes its notifying form: the wrapper invalidated right at it, and the end
    // moved after the unlock no longer does.
    [Fact]
    public async Task A_start_end_wrapper_becomes_the_update_inside_a_range_around_the_lock()
    {
        var source = Usings + @"
static class T
{" + PmdWrapper + @"
    static void collapse(mm_struct mm, vm_area_struct vma, ulong address, pmd_ptr pmd)
    {
        pmd_t _pmd;

        spin_lock(mm.page_table_lock); /* probably unnecessary */
        /*
         * After this gup_fast can't run anymore.
         */
        _pmd = [|pmdp_clear_flush_notify(vma, address, pmd)|];
        spin_unlock(mm.page_table_lock);

        set_pmd_at(mm, address, pmd, _pmd);
    }
}
";
        var fixedSource = Usings + @"
static class T
{" + PmdWrapper + @"
    static void collapse(mm_struct mm, vm_area_struct vma, ulong address, pmd_ptr pmd)
    {
        pmd_t _pmd;

        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock); /* probably unnecessary */
        /*
         * After this gup_fast can't run anymore.
         */
        _pmd = pmdp_huge_clear_flush_notify(vma, address, pmd);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);

        set_pmd_at(mm, address, pmd, _pmd);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }
    [Fact]
    public async Task A_range_in_a_function_that_returns_with_the_lock_held_drops_the_lock_around_the_end()
    {
        var source = Usings + @"using MmuNotifierAnalyzers.Annotations;

static class T
{
    [MustHoldLock(""mm.page_table_lock"")]
    static int cow(mm_struct mm, vm_area_struct vma, ulong address, pte_ptr ptep, pte_t pte)
    {
        spin_unlock(mm.page_table_lock);
        cond_resched();

        /*
         * Retake the page_table_lock
         */
        spin_lock(mm.page_table_lock);
        if (pte_same(ptep_get(ptep), pte))
        {
            /* Break COW */
            [|mmu_notifier_invalidate_range_start(mm,
                address & PAGE_MASK,
                (address & PAGE_MASK) + PAGE_SIZE)|];
            ptep_clear_flush(vma, address, ptep);
            [|mmu_notifier_invalidate_range_end(mm,
                address & PAGE_MASK,
                (address & PAGE_MASK) + PAGE_SIZE)|]; // done
        }
        return 0;
    }
}
";
        var fixedSource = Usings + @"using MmuNotifierAnalyzers.Annotations;

static class T
{
    [MustHoldLock(""mm.page_table_lock"")]
    static int cow(mm_struct mm, vm_area_struct vma, ulong address, pte_ptr ptep, pte_t pte)
    {
        spin_unlock(mm.page_table_lock);
        cond_resched();

        mmu_notifier_invalidate_range_start(mm,
            address & PAGE_MASK,
            (address & PAGE_MASK) + PAGE_SIZE);
        /*
         * Retake the page_table_lock
         */
        spin_lock(mm.page_table_lock);
        if (pte_same(ptep_get(ptep), pte))
        {
            /* Break COW */
            ptep_clear_flush(vma, address, ptep);
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm,
            address & PAGE_MASK,
            (address & PAGE_MASK) + PAGE_SIZE); // done
        /* Caller expects lock to be held */
        spin_lock(mm.page_table_lock);
        return 0;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task No_move_when_the_end_is_conditional_and_the_start_is_not()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address, bool clear)
    {
        spin_lock(mm.page_table_lock);
        [|mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE)|];
        if (clear)
        {
            [|mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE)|];
            spin_unlock(mm.page_table_lock);
            return;
        }
        [|mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE)|];
        spin_unlock(mm.page_table_lock);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task A_branch_that_unlocks_and_leaves_gets_its_own_end()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong address, bool clear)
    {
        spin_lock(mm.page_table_lock);
        if (clear)
        {
            [|mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE)|];
            [|mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE)|];
        }
        else
        {
            spin_unlock(mm.page_table_lock);
            return 1;
        }
        spin_unlock(mm.page_table_lock);
        return 0;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong address, bool clear)
    {
        mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE);
        spin_lock(mm.page_table_lock);
        if (clear)
        {
        }
        else
        {
            spin_unlock(mm.page_table_lock);
            mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE);
            return 1;
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE);
        return 0;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task No_move_out_of_an_if_whose_other_branch_leaves_with_the_lock_held()
    {
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong address, bool clear)
    {
        spin_lock(mm.page_table_lock);
        if (clear)
        {
            [|mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE)|];
            [|mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE)|];
        }
        else
        {
            return 1;
        }
        spin_unlock(mm.page_table_lock);
        return 0;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_hoist_out_of_a_loop()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address, ulong end)
    {
        spin_lock(mm.page_table_lock);
        for (; address < end; address += PAGE_SIZE)
        {
            [|mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE)|];
            [|mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE)|];
        }
        spin_unlock(mm.page_table_lock);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }
    private const string PteWrapper = @"
    // The 2012 macro: update, then invalidate_page.
    static pte_t ptep_clear_flush_notify(vm_area_struct __vma, ulong __address, pte_ptr __ptep)
    {
        pte_t __pte;
        vm_area_struct ___vma = __vma;
        ulong ___address = __address;
        __pte = ptep_clear_flush(___vma, ___address, __ptep);
        mmu_notifier_invalidate_page(___vma.vm_mm, ___address);
        return __pte;
    }
";

    [Fact]
    public async Task An_invalidate_page_wrapper_becomes_the_update_with_invalidate_range_under_the_lock()
    {
        var source = Usings + @"
static class T
{" + PteWrapper + @"
    static int mkclean(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr? pte;
        spinlock_t ptl;
        int ret = 0;

        pte = page_check_address(page, mm, address, out ptl, 1);
        if (pte == null)
            return ret;

        pte_t entry;
        entry = [|ptep_clear_flush_notify(vma, address, pte)|]; // nuke it
        set_pte_at(mm, address, pte, pte_wrprotect(entry));
        ret = 1;

        pte_unmap_unlock(pte, ptl);
        return ret;
    }
}
";
        var fixedSource = Usings + @"
static class T
{" + PteWrapper + @"
    static int mkclean(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr? pte;
        spinlock_t ptl;
        int ret = 0;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        pte = page_check_address(page, mm, address, out ptl, 1);
        if (pte == null)
        {
            mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
            return ret;
        }

        pte_t entry;
        entry = ptep_clear_flush(vma, address, pte); // nuke it
        mmu_notifier_invalidate_range(vma.vm_mm, mmun_start, mmun_end);
        set_pte_at(mm, address, pte, pte_wrprotect(entry));
        ret = 1;

        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return ret;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task A_wrapper_in_a_walk_under_the_lock_gets_the_whole_walk_as_its_range()
    {
        var source = Usings + @"
static class T
{" + PteWrapper + @"
    static void cluster(vm_area_struct vma, pmd_ptr pmd, ulong address, ulong end)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte;
        pte_t pteval;
        spinlock_t ptl;

        pte = pte_offset_map_lock(mm, pmd, address, out ptl);
        for (; address < end; address += PAGE_SIZE)
        {
            pte = pte_offset_map(pmd, address);
            if (!pte_present(ptep_get(pte)))
                continue;
            pteval = [|ptep_clear_flush_notify(vma, address, pte)|];
            if (pte_dirty(pteval))
                break;
        }
        pte_unmap_unlock(pte, ptl);
    }
}
";
        var fixedSource = Usings + @"
static class T
{" + PteWrapper + @"
    static void cluster(vm_area_struct vma, pmd_ptr pmd, ulong address, ulong end)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte;
        pte_t pteval;
        spinlock_t ptl;

        ulong mmun_start = address;
        ulong mmun_end = end;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        pte = pte_offset_map_lock(mm, pmd, address, out ptl);
        for (; address < end; address += PAGE_SIZE)
        {
            pte = pte_offset_map(pmd, address);
            if (!pte_present(ptep_get(pte)))
                continue;
            pteval = ptep_clear_flush(vma, address, pte);
            mmu_notifier_invalidate_range(vma.vm_mm, address, address + PAGE_SIZE);
            if (pte_dirty(pteval))
                break;
        }
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Theory]
    [InlineData("the end bound is written in the walk", "if (pte_dirty(pteval))\n                end = address + PAGE_SIZE;", "")]
    [InlineData("a return leaves the locked region from inside the walk", "if (pte_dirty(pteval))\n                return;", "")]
    [InlineData("the start bound is written between the lock and the walk", "", "address += PAGE_SIZE;")]
    public async Task No_walk_range_when_the_walk_does_not_stay_inside_its_bounds(string why, string inLoop, string beforeLoop)
    {
        // The whole walk is one range [address, end) only if the walk covers exactly that and leaves
        // the locked region through its own end; otherwise no range can be proved, and no fix is offered.
        _ = why;
        var source = Usings + @"
static class T
{" + PteWrapper + @"
    static void cluster(vm_area_struct vma, pmd_ptr pmd, ulong address, ulong end)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte;
        pte_t pteval;
        spinlock_t ptl;

        pte = pte_offset_map_lock(mm, pmd, address, out ptl);
        " + beforeLoop + @"
        for (; address < end; address += PAGE_SIZE)
        {
            pte = pte_offset_map(pmd, address);
            pteval = [|ptep_clear_flush_notify(vma, address, pte)|];
            " + inLoop + @"
        }
        pte_unmap_unlock(pte, ptl);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_wrapper_fix_when_an_argument_has_side_effects()
    {
        var source = Usings + @"
static class T
{" + PteWrapper + @"
    static void f(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        spinlock_t ptl;
        pte_ptr pte = pte_offset_map_lock(vma.vm_mm, pmd, address, out ptl);
        [|ptep_clear_flush_notify(vma, address += PAGE_SIZE, pte)|];
        pte_unmap_unlock(pte, ptl);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_wrapper_fix_when_its_value_is_used_in_an_expression()
    {
        // The inlined update keeps how the result is used only for a statement, a plain assignment
        // or a declaration's initializer; inside a condition the notifier calls would have no place.
        var source = Usings + @"
static class T
{" + PteWrapper + @"
    static void f(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        spinlock_t ptl;
        pte_ptr pte = pte_offset_map_lock(vma.vm_mm, pmd, address, out ptl);
        if (!pte_none([|ptep_clear_flush_notify(vma, address, pte)|]))
            address = 0;
        pte_unmap_unlock(pte, ptl);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task Fix_All_moves_each_range_once_and_inlines_every_wrapper_of_a_function()
    {
        var source = Usings + @"
static class T
{" + PmdWrapper + @"
    static void two(mm_struct mm, vm_area_struct vma, ulong address, pmd_ptr pmd, pmd_ptr pmd2)
    {
        spin_lock(mm.page_table_lock);
        [|pmdp_clear_flush_notify(vma, address, pmd)|];
        spin_unlock(mm.page_table_lock);

        spin_lock(mm.page_table_lock);
        [|pmdp_clear_flush_notify(vma, address + HPAGE_PMD_SIZE, pmd2)|];
        spin_unlock(mm.page_table_lock);

        spin_lock(mm.page_table_lock);
        [|mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE)|];
        [|mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE)|];
        spin_unlock(mm.page_table_lock);
    }
}
";
        var fixedSource = Usings + @"
static class T
{" + PmdWrapper + @"
    static void two(mm_struct mm, vm_area_struct vma, ulong address, pmd_ptr pmd, pmd_ptr pmd2)
    {
        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        pmdp_huge_clear_flush_notify(vma, address, pmd);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);

        ulong mmun_start2 = address + HPAGE_PMD_SIZE;
        ulong mmun_end2 = (address + HPAGE_PMD_SIZE) + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start2, mmun_end2);
        spin_lock(mm.page_table_lock);
        pmdp_huge_clear_flush_notify(vma, address + HPAGE_PMD_SIZE, pmd2);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start2, mmun_end2);

        mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE);
        spin_lock(mm.page_table_lock);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }
    [Fact]
    public async Task The_wrapper_as_MMU001s_fix_leaves_it_gets_the_same_rewrite()
    {
        // dotnet format may run MMU001 first: the wrapper then calls start/end after the update.
        const string Converted = @"
    static pte_t ptep_clear_flush_notify(vm_area_struct __vma, ulong __address, pte_ptr __ptep)
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
";
        var source = Usings + @"
static class T
{" + Converted + @"
    static int unmap(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        spinlock_t ptl;
        pte_ptr? pte = page_check_address(page, mm, address, out ptl, 0);
        if (pte == null)
            return 0;
        pte_t pteval = [|ptep_clear_flush_notify(vma, address, pte)|];
        pte_unmap_unlock(pte, ptl);
        return pte_dirty(pteval) ? 1 : 0;
    }
}
";
        var fixedSource = Usings + @"
static class T
{" + Converted + @"
    static int unmap(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        spinlock_t ptl;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        pte_ptr? pte = page_check_address(page, mm, address, out ptl, 0);
        if (pte == null)
        {
            mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
            return 0;
        }
        pte_t pteval = ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_range(vma.vm_mm, mmun_start, mmun_end);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        return pte_dirty(pteval) ? 1 : 0;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }
    [Fact]
    public async Task The_fall_through_into_a_shared_unlock_label_gets_its_own_unlock_and_end()
    {
        var source = Usings + @"
static class T
{
    static int wp(mm_struct mm, ulong address, bool same, bool reuse)
    {
        int ret = 0;
        spin_lock(mm.page_table_lock);
        if (reuse)
            goto out_unlock;
        spin_unlock(mm.page_table_lock);

        spin_lock(mm.page_table_lock);
        if (!same)
        {
            spin_unlock(mm.page_table_lock);
            goto @out;
        }
        else
        {
            [|mmu_notifier_invalidate_range_start(mm, address, address + HPAGE_PMD_SIZE)|];
            [|mmu_notifier_invalidate_range_end(mm, address, address + HPAGE_PMD_SIZE)|];
            ret = 1;
        }
    out_unlock:
        spin_unlock(mm.page_table_lock);
    @out:
        return ret;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int wp(mm_struct mm, ulong address, bool same, bool reuse)
    {
        int ret = 0;
        spin_lock(mm.page_table_lock);
        if (reuse)
            goto out_unlock;
        spin_unlock(mm.page_table_lock);

        mmu_notifier_invalidate_range_start(mm, address, address + HPAGE_PMD_SIZE);
        spin_lock(mm.page_table_lock);
        if (!same)
        {
            spin_unlock(mm.page_table_lock);
            mmu_notifier_invalidate_range_end(mm, address, address + HPAGE_PMD_SIZE);
            goto @out;
        }
        else
        {
            ret = 1;
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, address, address + HPAGE_PMD_SIZE);
        goto @out;
    out_unlock:
        spin_unlock(mm.page_table_lock);
    @out:
        return ret;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task A_goto_to_an_unlock_label_of_the_region_gets_the_end_after_that_unlock()
    {
        var source = Usings + @"
static class T
{
    static int fallback(mm_struct mm, ulong haddr, bool same)
    {
        int ret = 0;
        spin_lock(mm.page_table_lock);
        if (!same)
            goto out_free_pages;
        [|mmu_notifier_invalidate_range_start(mm, haddr, haddr + HPAGE_PMD_SIZE)|];
        [|mmu_notifier_invalidate_range_end(mm, haddr, haddr + HPAGE_PMD_SIZE)|];
        spin_unlock(mm.page_table_lock);
        ret = 1;
    @out:
        return ret;

    out_free_pages:
        spin_unlock(mm.page_table_lock);
        ret = 2;
        goto @out;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int fallback(mm_struct mm, ulong haddr, bool same)
    {
        int ret = 0;
        mmu_notifier_invalidate_range_start(mm, haddr, haddr + HPAGE_PMD_SIZE);
        spin_lock(mm.page_table_lock);
        if (!same)
            goto out_free_pages;
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, haddr, haddr + HPAGE_PMD_SIZE);
        ret = 1;
    @out:
        return ret;

    out_free_pages:
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, haddr, haddr + HPAGE_PMD_SIZE);
        ret = 2;
        goto @out;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task The_locals_MMU003s_fix_declared_before_the_start_move_with_it()
    {
        // MMU003's capture under the lock: the declarations right before the start that it reads
        // go before the lock with it.
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        spin_lock(mm.page_table_lock);
        ulong mmun_start = address & PAGE_MASK;
        ulong mmun_end = mmun_start + PAGE_SIZE;
        [|mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end)|];
        [|mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end)|];
        spin_unlock(mm.page_table_lock);
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        ulong mmun_start = address & PAGE_MASK;
        ulong mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = fixedSource, CodeActionEquivalenceKey = SleepUnderSpinlockCodeFix.MoveKey }.RunAsync();
    }

    [Fact]
    public async Task No_action_for_other_sleeping_calls_under_the_lock()
    {
        // mutex_lock, down_read, msleep, schedule under a spinlock: no rewrite can know whether to
        // move the work, use a non-sleeping variant or drop the lock.
        var source = Usings + @"
sealed class dev { public spinlock_t @lock = new(); public mutex m = new(); public rw_semaphore sem = new(); }

static class T
{
    static void f(dev d)
    {
        spin_lock(d.@lock);
        [|mutex_lock(d.m)|];
        mutex_unlock(d.m);
        [|down_read(d.sem)|];
        up_read(d.sem);
        [|msleep(10)|];
        [|schedule()|];
        spin_unlock(d.@lock);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_move_when_a_statement_jumped_over_declares_what_the_call_reads()
    {
        // 'end' is declared under the lock, not right before the start: the start cannot be
        // computed before the lock is taken.
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        spin_lock(mm.page_table_lock);
        ulong end = address + PAGE_SIZE;
        cond_resched_lock_free();
        [|mmu_notifier_invalidate_range_start(mm, address, end)|];
        [|mmu_notifier_invalidate_range_end(mm, address, end)|];
        spin_unlock(mm.page_table_lock);
    }

    static void cond_resched_lock_free() { }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_lock_drop_around_the_end_unless_the_lock_is_a_plain_spin_lock()
    {
        // The function returns with the page-table lock held, taken by pte_offset_map_lock: the
        // fix would have to drop and retake a lock it has no plain spin_unlock/spin_lock pair for.
        var source = Usings + @"
static class T
{
    static pte_ptr f(mm_struct mm, pmd_ptr pmd, ulong address)
    {
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        [|mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE)|];
        [|mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE)|];
        return pte;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_move_of_a_start_out_of_an_if_whose_end_is_not_in_that_block()
    {
        // Hoisting the start out of the if would make it run on the path that skipped it, with the
        // end moved after the unlock on its own.
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, ulong address, bool clear)
    {
        spin_lock(mm.page_table_lock);
        if (clear)
        {
            [|mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE)|];
        }
        [|mmu_notifier_invalidate_range_end(mm, address, address + PAGE_SIZE)|];
        spin_unlock(mm.page_table_lock);
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task No_move_when_a_shared_unlock_label_has_no_label_after_it()
    {
        // out_unlock is also reached from the first locked region, with no range open: the
        // fall-through would need its own unlock, end and a jump past the label, and there is no
        // labelled statement after it to jump to.
        var source = Usings + @"
static class T
{
    static int f(mm_struct mm, ulong haddr, bool first)
    {
        spin_lock(mm.page_table_lock);
        if (first)
            goto out_unlock;
        spin_unlock(mm.page_table_lock);

        spin_lock(mm.page_table_lock);
        [|mmu_notifier_invalidate_range_start(mm, haddr, haddr + HPAGE_PMD_SIZE)|];
        [|mmu_notifier_invalidate_range_end(mm, haddr, haddr + HPAGE_PMD_SIZE)|];
    out_unlock:
        spin_unlock(mm.page_table_lock);
        return 0;
    }
}
";
        await new Verify.Test { TestCode = source, FixedCode = source }.RunAsync();
    }
}
