using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.SleepUnderSpinlockAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU005SleepUnderSpinlockTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Start_and_end_under_the_page_table_lock_fire()
    {
        // Seed 004, mm/huge_memory.c before the change (pmdp_clear_flush_notify under the lock).
        var source = Usings + @"
static class T
{
    static void split(mm_struct mm, ulong address)
    {
        spin_lock(mm.page_table_lock);
        {|#0:mmu_notifier_invalidate_range_start(mm, address, address + HPAGE_PMD_SIZE)|};
        {|#1:mmu_notifier_invalidate_range_end(mm, address, address + HPAGE_PMD_SIZE)|};
        spin_unlock(mm.page_table_lock);
    }
}
";
        await Verify.VerifyAnalyzerAsync(
            source,
            Verify.Diagnostic().WithLocation(0).WithMessage(
                "'mmu_notifier_invalidate_range_start' may sleep, but spinlock 'mm.page_table_lock' is held here on some path (taken at line 8)"),
            Verify.Diagnostic().WithLocation(1).WithMessage(
                "'mmu_notifier_invalidate_range_end' may sleep, but spinlock 'mm.page_table_lock' is held here on some path (taken at line 8)"));
    }

    [Fact]
    public async Task Seed_004_order_is_clean()
    {
        var source = Usings + @"
static class T
{
    static int split(mm_struct mm, ulong address)
    {
        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
        udelay(1);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return 0;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Page_check_address_holds_ptl_only_when_it_returned_a_pte()
    {
        var source = Usings + @"
static class T
{
    static readonly mutex m = new mutex();

    static int page_mkclean_one(page page, mm_struct mm, ulong address)
    {
        int ret = 0;
        var pte = page_check_address(page, mm, address, out var ptl, 1);
        if (pte == null)
            goto @out;
        {|#0:mutex_lock(m)|};
        ret = 1;
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range(mm, address, address + PAGE_SIZE);
        mutex_lock(m);
    @out:
        mutex_unlock(m);
        msleep(1);
        return ret;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mutex_lock' may sleep, but spinlock 'ptl' is held here on some path (taken at line 11)"));
    }

    [Fact]
    public async Task Pte_offset_map_lock_until_unlock()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, pmd_ptr pmd, ulong address, bool early)
    {
        var pte = pte_offset_map_lock(mm, pmd, address, out var ptl);
        if (early)
        {
            pte_unmap_unlock(pte, ptl);
            cond_resched();
            return;
        }

        [|msleep(1)|];
        pte_unmap_unlock(pte, ptl);
        schedule();
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Must_hold_lock_method_starts_with_the_lock_held()
    {
        // Seed 004, hugetlb_cow: "Caller expects lock to be held".
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class T
{
    [MustHoldLock(""mm.page_table_lock"")]
    static int hugetlb_cow_before(mm_struct mm, ulong address)
    {
        {|#0:mmu_notifier_invalidate_range_start(mm, address, address + HPAGE_PMD_SIZE)|};
        [|mmu_notifier_invalidate_range_end(mm, address, address + HPAGE_PMD_SIZE)|];
        return 0;
    }

    [MustHoldLock(""mm.page_table_lock"")]
    static int hugetlb_cow_after(mm_struct mm, ulong address)
    {
        ulong mmun_start = address & HPAGE_PMD_MASK;
        ulong mmun_end = mmun_start + HPAGE_PMD_SIZE;
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        /* Caller expects lock to be held */
        spin_lock(mm.page_table_lock);
        return 0;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mmu_notifier_invalidate_range_start' may sleep, but spinlock 'mm.page_table_lock' is held here on some path (held on entry: the method is annotated [MustHoldLock(\"mm.page_table_lock\")])"));
    }

    [Fact]
    public async Task Calling_a_must_hold_lock_method_with_the_lock_held_is_its_own_business()
    {
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class T
{
    [MustHoldLock(""mm.page_table_lock"")]
    static int hugetlb_cow(mm_struct mm, ulong address)
    {
        spin_unlock(mm.page_table_lock);
        msleep(1);
        /* Caller expects lock to be held */
        spin_lock(mm.page_table_lock);
        return 0;
    }

    static int hugetlb_fault(mm_struct mm, ulong address)
    {
        spin_lock(mm.page_table_lock);
        int ret = hugetlb_cow(mm, address);
        spin_unlock(mm.page_table_lock);
        return ret;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Interprocedural_chain_is_named()
    {
        var source = Usings + @"
static class Driver
{
    static readonly mutex dev_lock = new mutex();

    static void flush_dev_tlb() => mutex_lock(dev_lock);

    static void f(mm_struct mm)
    {
        spin_lock(mm.page_table_lock);
        {|#0:flush_dev_tlb()|};
        spin_unlock(mm.page_table_lock);
        flush_dev_tlb();
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'flush_dev_tlb' may sleep: flush_dev_tlb → mutex_lock, but spinlock 'mm.page_table_lock' is held here on some path (taken at line 12)"));
    }

    [Fact]
    public async Task Lambda_created_under_the_lock_runs_later()
    {
        var source = Usings + @"
static class T
{
    static System.Action f(mm_struct mm)
    {
        spin_lock(mm.page_table_lock);
        System.Action later = () => msleep(10);
        void local() => msleep(10);
        spin_unlock(mm.page_table_lock);
        local();
        return later;
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Kmalloc_flags_decide()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm)
    {
        spin_lock(mm.page_table_lock);
        kmalloc(64, GFP_ATOMIC);
        kmalloc(64, GFP_NOWAIT);
        [|kmalloc(64, GFP_KERNEL)|];
        spin_unlock(mm.page_table_lock);
        kmalloc(64, GFP_KERNEL);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Dotnet_blocking_apis_under_a_spinlock_fire()
    {
        var source = Usings + @"
static class T
{
    static readonly object gate = new object();

    static void f(mm_struct mm, System.Threading.Tasks.Task task)
    {
        spin_lock(mm.page_table_lock);
        [|System.Threading.Thread.Sleep(1)|];
        [|task.Wait()|];
        spin_unlock(mm.page_table_lock);
        System.Threading.Thread.Sleep(1);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Spin_trylock_holds_only_when_it_succeeded()
    {
        var source = Usings + @"
static class T
{
    static void f(spinlock_t l)
    {
        if (spin_trylock(l))
        {
            [|msleep(1)|];
            spin_unlock(l);
        }
        else
        {
            msleep(1);
        }

        if (!spin_trylock(l))
            return;
        [|cond_resched()|];
        spin_unlock(l);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Annotated_user_lock_wrappers_are_understood()
    {
        var source = Usings + @"
using MmuNotifierAnalyzers.Annotations;

sealed class dev
{
    public spinlock_t irq_lock = new spinlock_t();
    public mutex big = new mutex();
}

static class Driver
{
    [AcquiresLock(""d.irq_lock"")]
    static void dev_lock(dev d) => spin_lock(d.irq_lock);

    [ReleasesLock(""d.irq_lock"")]
    static void dev_unlock(dev d) => spin_unlock(d.irq_lock);

    static void f(dev d)
    {
        dev_lock(d);
        {|#0:mutex_lock(d.big)|};
        dev_unlock(d);
        mutex_lock(d.big);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(0).WithMessage(
            "'mutex_lock' may sleep, but spinlock 'd.irq_lock' is held here on some path (taken at line 22)"));
    }

    [Fact]
    public async Task Lock_held_on_one_branch_only_still_fires_after_the_join()
    {
        var source = Usings + @"
static class T
{
    static void f(mm_struct mm, bool locked)
    {
        if (locked)
            spin_lock(mm.page_table_lock);
        [|msleep(1)|];
        if (locked)
            spin_unlock(mm.page_table_lock);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task Name_alike_lock_outside_the_api_is_ignored()
    {
        var source = Usings + @"
static class Other
{
    public static void spin_lock(spinlock_t l) { }
    public static void spin_unlock(spinlock_t l) { }
}

static class T
{
    static void f(mm_struct mm)
    {
        Other.spin_lock(mm.page_table_lock);
        msleep(1);
        Other.spin_unlock(mm.page_table_lock);
    }
}
";
        await Verify.VerifyAnalyzerAsync(source);
    }

    [Fact]
    public async Task A_lock_stored_through_an_out_field_is_the_lock_its_release_names()
    {
        // wp_page_copy (v4.19): pte_offset_map_lock(..., out vmf.ptl) ... pte_unmap_unlock(vmf.pte, vmf.ptl).
        await Verify.VerifyAnalyzerAsync(Usings + @"
sealed class vm_fault
{
    public pte_ptr? pte;
    public spinlock_t? ptl;
}

static class T
{
    static void f(mm_struct mm, pmd_ptr pmd, ulong address, vm_fault vmf, mutex m)
    {
        vmf.pte = pte_offset_map_lock(mm, pmd, address, out vmf.ptl);
        pte_unmap_unlock(vmf.pte, vmf.ptl);
        mutex_lock(m);
    }
}
");
    }

    [Fact]
    public async Task Silent_in_a_method_entered_with_mmap_sem_or_under_down_write()
    {
        // An rw_semaphore is not a spinlock: sleeping under mmap_sem is allowed (MMU015 reads it).
        await Verify.VerifyAnalyzerAsync(Usings + @"
using MmuNotifierAnalyzers.Annotations;

static class T
{
    [MustHoldLock(""mm.mmap_sem"")]
    static void entered(mm_struct mm, ulong address) => mmu_notifier_invalidate_range_start(mm, address, address + PAGE_SIZE);

    static void taken(mm_struct mm, ulong address)
    {
        down_write(mm.mmap_sem);
        msleep(1);
        up_write(mm.mmap_sem);
    }
}
");
    }
}
