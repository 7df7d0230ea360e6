using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.EntryChangedWithoutInvalidationAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU013EntryChangedWithoutInvalidationTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    private const string NoRange = "no invalidate_range_start/_end is open here";

    private const string NotEveryPath = "no open invalidate_range_start/_end covers it on every path";

    // A page walk as fs/proc/task_mmu.c drives one: the callback runs inside walk_page_range.
    private const string Walk = @"
delegate int pmd_entry_fn(pmd_ptr pmd, ulong addr, ulong end, mm_walk walk);

sealed class mm_walk
{
    public pmd_entry_fn? pmd_entry;
    public mm_struct? mm;
    public vm_area_struct? vma;
}

static class pagewalk
{
    public static int walk_page_range(ulong start, ulong end, mm_walk walk) => 0;
}
";

    [Fact]
    public async Task Fires_on_a_clear_under_the_lock_with_no_range()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        var pte = pte_offset_map_lock(vma.vm_mm, pmd, address, out var ptl);
        {|#0:ptep_clear_flush(vma, address, pte)|};
        pte_unmap_unlock(pte, ptl);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("ptep_clear_flush", "f \u2192 ptep_clear_flush", NoRange));
    }

    [Fact]
    public async Task Fires_on_a_write_protect_of_the_entry_the_slot_held()
    {
        // clear_soft_dirty as 0f8975ec4db2 wrote it: read the slot, take the write bit away, write it back.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void clear_soft_dirty(vm_area_struct vma, ulong addr, pte_ptr pte)
    {
        pte_t ptent = ptep_get(pte);
        ptent = pte_wrprotect(ptent);
        ptent = pte_mkclean(ptent);
        {|#0:set_pte_at(vma.vm_mm, addr, pte, ptent)|};
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("set_pte_at", "clear_soft_dirty \u2192 set_pte_at", NoRange));
    }

    [Theory]
    [InlineData("pte_mkold(ptep_get(pte))")]
    [InlineData("pte_mkclean(pte_mkdirty(ptep_get(pte)))")]
    [InlineData("pte_modify(pte_wrprotect(ptep_get(pte)), PAGE_READONLY)")]
    public async Task Fires_on_each_downgrade(string value)
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mm_struct mm, ulong addr, pte_ptr pte) => [|set_pte_at(mm, addr, pte, " + value + @")|];
}
");
    }

    [Fact]
    public async Task Fires_on_a_huge_pmd_write_protect_and_splitting_flush()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, mm_struct mm, ulong haddr, pmd_ptr pmd)
    {
        [|set_pmd_at(mm, haddr, pmd, pmd_wrprotect(pmdp_get(pmd)))|];
        [|pmdp_splitting_flush(vma, haddr, pmd)|];
    }
}
");
    }

    [Fact]
    public async Task Silent_inside_a_range_covering_the_page()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        ulong mmun_start = address & PAGE_MASK;
        ulong mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        var pte = pte_offset_map_lock(vma.vm_mm, pmd, address, out var ptl);
        ptep_clear_flush(vma, address, pte);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task Fires_when_the_open_range_misses_the_page()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, pte_ptr pte, ulong address)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, address, address + PAGE_SIZE);
        {|#0:ptep_clear_flush(vma, address + PAGE_SIZE, pte)|};
        mmu_notifier_invalidate_range_end(vma.vm_mm, address, address + PAGE_SIZE);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("ptep_clear_flush", "f \u2192 ptep_clear_flush", NotEveryPath));
    }

    [Fact]
    public async Task Fires_when_the_range_is_open_on_some_paths_only()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, pte_ptr pte, ulong address, bool notify)
    {
        if (notify)
            mmu_notifier_invalidate_range_start(vma.vm_mm, 0, TASK_SIZE);
        {|#0:ptep_clear_flush(vma, address, pte)|};
        if (notify)
            mmu_notifier_invalidate_range_end(vma.vm_mm, 0, TASK_SIZE);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("ptep_clear_flush", "f \u2192 ptep_clear_flush", NotEveryPath));
    }

    [Fact]
    public async Task Silent_on_a_fresh_entry_into_an_empty_slot()
    {
        // do_anonymous_page: the slot was none, no secondary MMU can map it.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, pte_ptr pte, ulong address, page page)
    {
        if (!pte_none(ptep_get(pte)))
            return;
        pte_t entry = mk_pte(page, vma.vm_page_prot);
        entry = pte_mkold(entry);
        set_pte_at(vma.vm_mm, address, pte, entry);
    }
}
");
    }

    [Fact]
    public async Task Silent_on_the_kernel_page_tables()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(ulong address, pte_ptr pte)
    {
        mm_struct mm = init_mm;
        ptep_get_and_clear(init_mm, address, pte);
        set_pte_at(mm, address, pte, pte_wrprotect(ptep_get(pte)));
    }
}
");
    }

    [Fact]
    public async Task Silent_when_the_change_is_notified_after_it()
    {
        // MMU001 judges try_to_unmap_one's invalidate_page, MMU009 write_protect_page's set_pte_at_notify:
        // one diagnostic per defect.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void unmap(vm_area_struct vma, pte_ptr pte, ulong address)
    {
        ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_page(vma.vm_mm, address);
    }

    static void wrprotect(vm_area_struct vma, pte_ptr pte, ulong address)
    {
        pte_t entry = ptep_clear_flush(vma, address, pte);
        entry = pte_wrprotect(entry);
        set_pte_at_notify(vma.vm_mm, address, pte, entry);
    }
}
");
    }

    [Fact]
    public async Task Silent_when_the_value_came_out_of_a_clear()
    {
        // page_mkclean_one: the clear is the change; setting the cleaned entry back is part of it.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(vm_area_struct vma, pte_ptr pte, ulong address)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, address & PAGE_MASK, (address & PAGE_MASK) + PAGE_SIZE);
        pte_t entry = ptep_clear_flush(vma, address, pte);
        entry = pte_wrprotect(entry);
        entry = pte_mkclean(entry);
        set_pte_at(vma.vm_mm, address, pte, entry);
        mmu_notifier_invalidate_range_end(vma.vm_mm, address & PAGE_MASK, (address & PAGE_MASK) + PAGE_SIZE);
    }
}
");
    }

    [Fact]
    public async Task The_duty_passes_to_the_callers_and_is_reported_where_the_chain_starts()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Walk + @"
static class task_mmu
{
    static void clear_soft_dirty(vm_area_struct vma, ulong addr, pte_ptr pte)
    {
        pte_t ptent = ptep_get(pte);
        ptent = pte_wrprotect(ptent);
        set_pte_at(vma.vm_mm, addr, pte, ptent);
    }

    static int clear_refs_pte_range(pmd_ptr pmd, ulong addr, ulong end, mm_walk walk)
    {
        var vma = walk.vma!;
        var pte = pte_offset_map_lock(vma.vm_mm, pmd, addr, out var ptl);
        for (; addr != end; addr += PAGE_SIZE)
            clear_soft_dirty(vma, addr, pte);
        pte_unmap_unlock(pte, ptl);
        return 0;
    }

    static long clear_refs_write(mm_struct mm, vm_area_struct vma)
    {
        var clear_refs_walk = new mm_walk { pmd_entry = clear_refs_pte_range, mm = mm };
        clear_refs_walk.vma = vma;
        {|#0:pagewalk.walk_page_range(vma.vm_start, vma.vm_end, clear_refs_walk)|};
        return 0;
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("walk_page_range", "clear_refs_write \u2192 clear_refs_pte_range \u2192 clear_soft_dirty \u2192 set_pte_at", NoRange));
    }

    [Fact]
    public async Task Silent_when_the_caller_brackets_the_walk()
    {
        await Verify.VerifyAnalyzerAsync(Usings + Walk + @"
static class task_mmu
{
    static void clear_soft_dirty(vm_area_struct vma, ulong addr, pte_ptr pte) =>
        set_pte_at(vma.vm_mm, addr, pte, pte_wrprotect(ptep_get(pte)));

    static int clear_refs_pte_range(pmd_ptr pmd, ulong addr, ulong end, mm_walk walk)
    {
        clear_soft_dirty(walk.vma!, addr, pte_offset_map(pmd, addr));
        return 0;
    }

    static long clear_refs_write(mm_struct mm, vm_area_struct vma, bool soft_dirty)
    {
        mm_walk clear_refs_walk = new mm_walk { mm = mm, vma = vma };
        clear_refs_walk.pmd_entry = clear_refs_pte_range;
        mmu_notifier_invalidate_range_start(mm, 0, unchecked((ulong)-1));
        pagewalk.walk_page_range(vma.vm_start, vma.vm_end, clear_refs_walk);
        mmu_notifier_invalidate_range_end(mm, 0, unchecked((ulong)-1));
        return 0;
    }
}
");
    }

    [Fact]
    public async Task A_chain_bracketed_on_the_paths_that_change_is_silent()
    {
        // clear_refs_write opens its range iff it clears soft-dirty bits, and only then does the walk
        // change an entry: a call down a chain is reported only when no path reaching it has a range.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void clear_one(vm_area_struct vma, ulong addr, pte_ptr pte, bool soft_dirty)
    {
        if (soft_dirty)
            set_pte_at(vma.vm_mm, addr, pte, pte_wrprotect(ptep_get(pte)));
    }

    static void write(vm_area_struct vma, ulong addr, pte_ptr pte, bool soft_dirty)
    {
        if (soft_dirty)
            mmu_notifier_invalidate_range_start(vma.vm_mm, 0, TASK_SIZE);
        clear_one(vma, addr, pte, soft_dirty);
        if (soft_dirty)
            mmu_notifier_invalidate_range_end(vma.vm_mm, 0, TASK_SIZE);
    }
}
");
    }

    [Fact]
    public async Task Reported_at_the_one_caller_that_does_not_bracket()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void zap_one(vm_area_struct vma, ulong address, pte_ptr pte) => ptep_clear_flush(vma, address, pte);

    static void covered(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, vma.vm_start, vma.vm_end);
        zap_one(vma, address, pte);
        mmu_notifier_invalidate_range_end(vma.vm_mm, vma.vm_start, vma.vm_end);
    }

    static void uncovered(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        {|#0:zap_one(vma, address, pte)|};
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("zap_one", "uncovered \u2192 zap_one \u2192 ptep_clear_flush", NoRange));
    }

    [Fact]
    public async Task Silent_inside_a_bracket_opened_through_annotated_helpers()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class T
{
    [OpensInvalidationRange]
    static void my_start(mm_struct mm, ulong start, ulong end) => mmu_notifier_invalidate_range_start(mm, start, end);

    [ClosesInvalidationRange]
    static void my_end(mm_struct mm, ulong start, ulong end) => mmu_notifier_invalidate_range_end(mm, start, end);

    static void f(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        my_start(vma.vm_mm, address & PAGE_MASK, (address & PAGE_MASK) + PAGE_SIZE);
        ptep_clear_flush(vma, address, pte);
        my_end(vma.vm_mm, address & PAGE_MASK, (address & PAGE_MASK) + PAGE_SIZE);
    }

    // The caller opens the bracket through the helpers; the change is in the method it calls.
    static void zap_one(vm_area_struct vma, ulong address, pte_ptr pte) => ptep_clear_flush(vma, address, pte);

    static void caller(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        my_start(vma.vm_mm, vma.vm_start, vma.vm_end);
        zap_one(vma, address, pte);
        my_end(vma.vm_mm, vma.vm_start, vma.vm_end);
    }

    [ClosesInvalidationRange]
    static void finish(mm_struct mm, ulong start, ulong end, vm_area_struct vma, pte_ptr pte)
    {
        // A closer is entered with its caller's range open.
        ptep_clear_flush(vma, start, pte);
        mmu_notifier_invalidate_range_end(mm, start, end);
    }
}
");
    }

    [Fact]
    public async Task Control_flow_shapes()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void loop(vm_area_struct vma, ulong start, ulong end, pte_ptr pte)
    {
        for (ulong a = start; a < end; a += PAGE_SIZE)
            [|ptep_get_and_clear(vma.vm_mm, a, pte)|];
    }

    static void loop_covered(vm_area_struct vma, ulong start, ulong end, pte_ptr pte)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, start, end);
        for (ulong a = start; a < end; a += PAGE_SIZE)
            ptep_get_and_clear(vma.vm_mm, a, pte);
        mmu_notifier_invalidate_range_end(vma.vm_mm, start, end);
    }

    static void try_finally(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, 0, TASK_SIZE);
        try
        {
            ptep_clear_flush(vma, address, pte);
        }
        finally
        {
            mmu_notifier_invalidate_range_end(vma.vm_mm, 0, TASK_SIZE);
        }

        [|ptep_clear_flush(vma, address, pte)|];
    }

    static int early_return_and_goto(vm_area_struct vma, ulong address, pte_ptr pte, int mode)
    {
        if (mode == 0)
            return 0;
        mmu_notifier_invalidate_range_start(vma.vm_mm, 0, TASK_SIZE);
        if (mode == 1)
            goto @out;
        ptep_clear_flush(vma, address, pte);
    @out:
        mmu_notifier_invalidate_range_end(vma.vm_mm, 0, TASK_SIZE);
        switch (mode)
        {
            case 2:
                [|ptep_clear_flush(vma, address, pte)|];
                break;
        }

        return 1;
    }

    static System.Action lambda(vm_area_struct vma, ulong address, pte_ptr pte) =>
        () => [|ptep_clear_flush(vma, address, pte)|];

    // A local function is analysed on its own, entered with no range: the bracket around its call
    // is not seen (as for MMU006/MMU009), so its change is reported where it is.
    static void local_function(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        mmu_notifier_invalidate_range_start(vma.vm_mm, 0, TASK_SIZE);
        clear();
        mmu_notifier_invalidate_range_end(vma.vm_mm, 0, TASK_SIZE);

        void clear() => [|ptep_clear_flush(vma, address, pte)|];
    }
}
");
    }

    [Fact]
    public async Task Silent_on_a_name_alike_outside_the_api()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class mine
{
    public static void ptep_clear_flush(vm_area_struct vma, ulong address, pte_ptr pte) { }

    public static void set_pte_at(mm_struct mm, ulong address, pte_ptr ptep, pte_t pte) { }
}

static class T
{
    static void f(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        mine.ptep_clear_flush(vma, address, pte);
        mine.set_pte_at(vma.vm_mm, address, pte, pte_wrprotect(ptep_get(pte)));
    }
}
");
    }

    [Fact]
    public async Task Recursion_ends()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void a(vm_area_struct vma, ulong address, pte_ptr pte, int n)
    {
        if (n > 0)
            b(vma, address, pte, n - 1);
        ptep_clear_flush(vma, address, pte);
    }

    static void b(vm_area_struct vma, ulong address, pte_ptr pte, int n) => a(vma, address, pte, n);

    static void top(vm_area_struct vma, ulong address, pte_ptr pte) => [|a(vma, address, pte, 3)|];
}
");
    }
}
