using System.Threading.Tasks;
using Xunit;
using VerifyPte = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.ChangePteOutsideRangeAnalyzer, MmuNotifierAnalyzers.CodeFixes.NotificationBracketCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>
/// The MMU009 fix around a lock whose acquisition may fail (<c>page_check_address</c> returning
/// null, then a jump past every release): start before the acquisition, end at a new
/// <c>out_mn:</c> where the failure exit and the unlocked path join, as 6bdb913f0a70 did in ksm.
/// </summary>
public class MMU009FailingLockCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Ksm_write_protect_page_v3_1_10_gets_the_v3_6_bracket()
    {
        // mm/ksm.c write_protect_page as in KernelPorts/v3_1_ksm.cs (Linux v3.1.10), the bracket
        // 6bdb913f0a70 gave it in v3.6 (KernelPorts/v3_10_ksm.cs has the kernel's form). The fix
        // differs from it only in the range's start: addr & PAGE_MASK for the kernel's addr
        // (page_address_in_vma's result is page-aligned, which the fix does not assume), and the
        // declarations' place (after the function's leading declarations, as the kernel put them).
        var source = Usings + @"
static class ksm
{
    private static ulong page_address_in_vma(page page, vm_area_struct vma) => vma_address(page, vma);

    private static bool PageSwapCache(page page) => false;

    private static void BUG_ON(bool condition)
    {
    }

    private static readonly ulong EFAULT_ADDR = unchecked((ulong)-EFAULT);

    public static int write_protect_page(vm_area_struct vma, page page,
                                         ref pte_t orig_pte)
    {
        mm_struct mm = vma.vm_mm;
        ulong addr;
        pte_ptr? ptep;
        spinlock_t ptl;
        int swapped;
        int err = -EFAULT;

        addr = page_address_in_vma(page, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        BUG_ON(PageTransCompound(page));
        ptep = page_check_address(page, mm, addr, out ptl, 0);
        if (ptep == null)
            goto @out;

        if (pte_write(ptep_get(ptep)) || pte_dirty(ptep_get(ptep)))
        {
            pte_t entry;

            swapped = PageSwapCache(page) ? 1 : 0;
            flush_cache_page(vma, addr, page_to_pfn(page));
            entry = ptep_clear_flush(vma, addr, ptep);
            if (page_mapcount(page) + 1 + swapped != page_count(page))
            {
                set_pte_at(mm, addr, ptep, entry);
                goto out_unlock;
            }
            if (pte_dirty(entry))
                set_page_dirty(page);
            entry = pte_mkclean(pte_wrprotect(entry));
            [|set_pte_at_notify(mm, addr, ptep, entry)|];
        }
        orig_pte = ptep_get(ptep);
        err = 0;

    out_unlock:
        pte_unmap_unlock(ptep, ptl);
    @out:
        return err;
    }
}
";
        var fixedSource = Usings + @"
static class ksm
{
    private static ulong page_address_in_vma(page page, vm_area_struct vma) => vma_address(page, vma);

    private static bool PageSwapCache(page page) => false;

    private static void BUG_ON(bool condition)
    {
    }

    private static readonly ulong EFAULT_ADDR = unchecked((ulong)-EFAULT);

    public static int write_protect_page(vm_area_struct vma, page page,
                                         ref pte_t orig_pte)
    {
        mm_struct mm = vma.vm_mm;
        ulong addr;
        pte_ptr? ptep;
        spinlock_t ptl;
        int swapped;
        int err = -EFAULT;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */

        addr = page_address_in_vma(page, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        BUG_ON(PageTransCompound(page));
        mmun_start = addr & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        ptep = page_check_address(page, mm, addr, out ptl, 0);
        if (ptep == null)
            goto out_mn;

        if (pte_write(ptep_get(ptep)) || pte_dirty(ptep_get(ptep)))
        {
            pte_t entry;

            swapped = PageSwapCache(page) ? 1 : 0;
            flush_cache_page(vma, addr, page_to_pfn(page));
            entry = ptep_clear_flush(vma, addr, ptep);
            if (page_mapcount(page) + 1 + swapped != page_count(page))
            {
                set_pte_at(mm, addr, ptep, entry);
                goto out_unlock;
            }
            if (pte_dirty(entry))
                set_page_dirty(page);
            entry = pte_mkclean(pte_wrprotect(entry));
            set_pte_at_notify(mm, addr, ptep, entry);
        }
        orig_pte = ptep_get(ptep);
        err = 0;

    out_unlock:
        pte_unmap_unlock(ptep, ptl);
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    @out:
        return err;
    }
}
";
        await new VerifyPte.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task A_lock_that_may_fail_gets_the_start_before_it_and_the_end_where_its_failure_exit_joins_6bdb913f0a70()
    {
        // ksm write_protect_page before v3.6: page_check_address may return null and 'goto out' past
        // the unlock, where an earlier failure also lands. The kernel's fix: start before the
        // acquisition, the null check to a new out_mn: that ends the range before out:.
        var source = Usings + @"
static class T
{
    static int f(page page, mm_struct mm, ulong addr, pte_t entry)
    {
        int err = -14;
        if (addr == 0)
            goto @out;
        var ptep = page_check_address(page, mm, addr, out spinlock_t ptl, 0);
        if (ptep == null)
            goto @out;
        if (pte_write(ptep_get(ptep)))
            [|set_pte_at_notify(mm, addr, ptep, entry)|];
        err = 0;
        pte_unmap_unlock(ptep, ptl);
    @out:
        return err;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int f(page page, mm_struct mm, ulong addr, pte_t entry)
    {
        int err = -14;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        if (addr == 0)
            goto @out;
        mmun_start = addr & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        var ptep = page_check_address(page, mm, addr, out spinlock_t ptl, 0);
        if (ptep == null)
            goto out_mn;
        if (pte_write(ptep_get(ptep)))
            set_pte_at_notify(mm, addr, ptep, entry);
        err = 0;
        pte_unmap_unlock(ptep, ptl);
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    @out:
        return err;
    }
}
";
        await new VerifyPte.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task Jumps_inside_a_lock_that_may_fail_keep_their_labels_and_an_unlock_and_leave_joins_out_mn()
    {
        // v2.6.32's write_protect_page jumps to out_unlock from inside the locked region; replace_page
        // (v3.6) shows the kernel's unlock-then-leave path taken to out_mn with the failure exit.
        var source = Usings + @"
static class T
{
    static int f(page page, mm_struct mm, ulong addr, pte_t entry, bool raced, bool busy)
    {
        int err = -14;
        if (addr == 0)
            goto @out;
        var ptep = page_check_address(page, mm, addr, out spinlock_t ptl, 0);
        if (ptep == null)
            goto @out;
        if (raced)
        {
            pte_unmap_unlock(ptep, ptl);
            goto @out;
        }
        if (busy)
        {
            [|set_pte_at_notify(mm, addr, ptep, entry)|];
            goto out_unlock;
        }
        [|set_pte_at_notify(mm, addr, ptep, pte_wrprotect(entry))|];
        err = 0;
    out_unlock:
        pte_unmap_unlock(ptep, ptl);
    @out:
        return err;
    }
}
";
        var fixedSource = Usings + @"
static class T
{
    static int f(page page, mm_struct mm, ulong addr, pte_t entry, bool raced, bool busy)
    {
        int err = -14;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        if (addr == 0)
            goto @out;
        mmun_start = addr & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        var ptep = page_check_address(page, mm, addr, out spinlock_t ptl, 0);
        if (ptep == null)
            goto out_mn;
        if (raced)
        {
            pte_unmap_unlock(ptep, ptl);
            goto out_mn;
        }
        if (busy)
        {
            set_pte_at_notify(mm, addr, ptep, entry);
            goto out_unlock;
        }
        set_pte_at_notify(mm, addr, ptep, pte_wrprotect(entry));
        err = 0;
    out_unlock:
        pte_unmap_unlock(ptep, ptl);
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    @out:
        return err;
    }
}
";
        await new VerifyPte.Test { TestCode = source, FixedCode = fixedSource }.RunAsync();
    }

    [Fact]
    public async Task Offers_nothing_when_a_jump_enters_the_region_of_a_lock_that_may_fail()
    {
        // The jump to out_unlock from before the acquisition would reach the end with no start.
        var source = Usings + @"
static class T
{
    static int f(page page, mm_struct mm, ulong addr, pte_t entry, pte_ptr? ptep, spinlock_t ptl)
    {
        int err = -14;
        if (addr == 0)
            goto out_unlock;
        ptep = page_check_address(page, mm, addr, out ptl, 0);
        if (ptep == null)
            goto @out;
        if (pte_write(ptep_get(ptep)))
            [|set_pte_at_notify(mm, addr, ptep, entry)|];
        err = 0;
    out_unlock:
        pte_unmap_unlock(ptep, ptl);
    @out:
        return err;
    }
}
";
        await new VerifyPte.Test { TestCode = source, FixedCode = source }.RunAsync();
    }

    [Fact]
    public async Task Offers_nothing_when_a_jump_to_the_failure_label_still_holds_the_lock()
    {
        // An end at out_mn would run under the page-table lock on the 'busy' path.
        var source = Usings + @"
static class T
{
    static int f(page page, mm_struct mm, ulong addr, pte_t entry, bool busy)
    {
        int err = -14;
        if (addr == 0)
            goto @out;
        var ptep = page_check_address(page, mm, addr, out spinlock_t ptl, 0);
        if (ptep == null)
            goto @out;
        [|set_pte_at_notify(mm, addr, ptep, entry)|];
        if (busy)
            goto @out;
        err = 0;
        pte_unmap_unlock(ptep, ptl);
    @out:
        return err;
    }
}
";
        await new VerifyPte.Test { TestCode = source, FixedCode = source }.RunAsync();
    }
}
