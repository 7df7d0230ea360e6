using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using MmuNotifierAnalyzers.Rules;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.InvalidatePageAnalyzer, MmuNotifierAnalyzers.CodeFixes.InvalidatePageCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public sealed class MMU001InvalidatePageTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n\n";

    [Fact]
    public async Task CallFiresWithMessageNamingTheCallAndTheMm()
    {
        await Verify.VerifyAnalyzerAsync(
            Usings + @"static class C
{
    static void f(vm_area_struct vma, ulong address)
    {
        {|#0:mmu_notifier_invalidate_page(vma.vm_mm, address)|};
    }
}
",
            Verify.Diagnostic().WithLocation(0).WithMessage(
                "'mmu_notifier_invalidate_page(vma.vm_mm, address)' uses invalidate_page, removed in 4.13 (it ran after the page-table lock was dropped and covered one small page only): "
                + "bracket the page-table update with mmu_notifier_invalidate_range_start/_end on vma.vm_mm outside the page-table lock, and call mmu_notifier_invalidate_range under it"));
    }

    [Fact]
    public async Task QualifiedCallFires()
    {
        await Verify.VerifyAnalyzerAsync(@"static class C
{
    static void f(Kernel.Mm.mm_struct mm, ulong address) => [|Kernel.Mm.Linux.mmu_notifier_invalidate_page(mm, address)|];
}
");
    }

    [Fact]
    public async Task UsersOwnMethodOfTheSameNameDoesNotFire()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class Driver
{
    static void mmu_notifier_invalidate_page(mm_struct mm, ulong address) { }

    static void f(mm_struct mm, ulong address)
    {
        mmu_notifier_invalidate_page(mm, address);
        mmu_notifier_invalidate_range(mm, address, address + PAGE_SIZE);
    }
}
");
    }

    [Fact]
    public async Task OpsMemberFiresAndNullDoesNot()
    {
        await Verify.VerifyAnalyzerAsync(
            Usings + @"static class Driver
{
    static void my_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address) { }

    static readonly mmu_notifier_ops ops = new()
    {
        {|#0:invalidate_page = my_invalidate_page|},
    };

    static readonly mmu_notifier_ops none = new mmu_notifier_ops { invalidate_page = null };
}
",
            Verify.Diagnostic().WithLocation(0).WithArguments(
                "invalidate_page = my_invalidate_page",
                "no caller invokes the callback any more; implement invalidate_range_start/_end (may sleep) or invalidate_range (atomic) instead"));
    }

    [Fact]
    public async Task ReadingTheOpsMemberDoesNotFire()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class Driver
{
    static void call(mmu_notifier mn, mm_struct mm, ulong address) => mn.ops.invalidate_page?.Invoke(mn, mm, address);
}
");
    }

    [Fact]
    public async Task NothingWithoutKernelMm()
    {
        var test = new Verify.Test
        {
            TestCode = @"static class C
{
    static void mmu_notifier_invalidate_page(object mm, ulong address) { }
    static void f() => mmu_notifier_invalidate_page(new object(), 0);
}
",
        };
        test.TestState.AdditionalReferences.Clear(); // neither Kernel.Mm nor the annotations
        test.FixedCode = @"static class C
{
    static void mmu_notifier_invalidate_page(object mm, ulong address) { }
    static void f() => mmu_notifier_invalidate_page(new object(), 0);
}
";
        await test.RunAsync();
    }

    [Fact]
    public async Task CallUnderTheLockBecomesInvalidateRangeInsideStartEnd()
    {
        // try_to_unmap_one after c7ab0d2 (seed 001): the notification under the PT lock.
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Rmap
{
    static void unmap_one(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ptep_clear_flush(vma, address, pte);
        /* secondary MMUs */
        [|mmu_notifier_invalidate_page(mm, address)|]; // still under ptl
        pte_unmap_unlock(pte, ptl);
    }
}
",
            Usings + @"static class Rmap
{
    static void unmap_one(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ptep_clear_flush(vma, address, pte);
        /* secondary MMUs */
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end); // still under ptl
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task CallAfterTheUnlockIsRemovedAndEveryExitGetsEnd()
    {
        // page_mkclean_one before 4.13 (seed 001): invalidate_page after pte_unmap_unlock.
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Rmap
{
    static int page_mkclean_one(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        int ret = 0;
        pte_ptr? pte = page_check_address(page, mm, address, out spinlock_t ptl, 1);
        if (pte == null)
            goto exit;

        if (pte_dirty(ptep_get(pte)) || pte_write(ptep_get(pte)))
        {
            flush_cache_page(vma, address, pte_pfn(ptep_get(pte)));
            pte_t entry = ptep_clear_flush(vma, address, pte);
            entry = pte_wrprotect(entry);
            entry = pte_mkclean(entry);
            set_pte_at(mm, address, pte, entry);
            ret = 1;
        }

        pte_unmap_unlock(pte, ptl);

        if (ret != 0)
            [|mmu_notifier_invalidate_page(mm, address)|];
    exit:
        return ret;
    }
}
",
            Usings + @"static class Rmap
{
    static int page_mkclean_one(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        int ret = 0;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        pte_ptr? pte = page_check_address(page, mm, address, out spinlock_t ptl, 1);
        if (pte == null)
            goto exit;

        if (pte_dirty(ptep_get(pte)) || pte_write(ptep_get(pte)))
        {
            flush_cache_page(vma, address, pte_pfn(ptep_get(pte)));
            pte_t entry = ptep_clear_flush(vma, address, pte);
            entry = pte_wrprotect(entry);
            entry = pte_mkclean(entry);
            set_pte_at(mm, address, pte, entry);
            mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
            ret = 1;
        }

        pte_unmap_unlock(pte, ptl);
    exit:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return ret;
    }
}
");
    }

    [Fact]
    public async Task EarlyReturnGetsEndToo()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Rmap
{
    static int unmap(page page, mm_struct mm, vm_area_struct vma, ulong address)
    {
        pte_ptr? pte = page_check_address(page, mm, address, out spinlock_t ptl, 0);
        if (pte == null)
            return 0;
        ptep_clear_flush(vma, address, pte);
        pte_unmap_unlock(pte, ptl);
        [|mmu_notifier_invalidate_page(mm, address)|];
        return 1;
    }
}
",
            Usings + @"static class Rmap
{
    static int unmap(page page, mm_struct mm, vm_area_struct vma, ulong address)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        pte_ptr? pte = page_check_address(page, mm, address, out spinlock_t ptl, 0);
        if (pte == null)
        {
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
            return 0;
        }
        ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return 1;
    }
}
");
    }

    [Fact]
    public async Task NoLockFallsBackToStartEndInPlace()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Dax
{
    static void notify(mm_struct mm, ulong address)
    {
        // tell the secondary MMUs
        [|mmu_notifier_invalidate_page(mm, address + 1)|]; // one page
    }
}
",
            Usings + @"static class Dax
{
    static void notify(mm_struct mm, ulong address)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        // tell the secondary MMUs
        mmun_start = (address + 1) & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end); // one page
    }
}
");
    }

    /// <summary>do_wp_page's shape before seed 002's revert: the call is an if's only statement,
    /// under a comment. The fallback wraps start and end in a block; the comment stays once.</summary>
    [Fact]
    public async Task EmbeddedCallUnderACommentKeepsTheCommentOnce()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Cow
{
    static void done(mm_struct mm, ulong address, bool cowed)
    {
        if (cowed)
            /* cow happened, notify before releasing old_page */
            [|mmu_notifier_invalidate_page(mm, address)|];
    }
}
",
            Usings + @"static class Cow
{
    static void done(mm_struct mm, ulong address, bool cowed)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        if (cowed)
        {
            /* cow happened, notify before releasing old_page */
            mmun_start = address & PAGE_MASK;
            mmun_end = mmun_start + PAGE_SIZE;
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        }
    }
}
");
    }

    [Fact]
    public async Task QualifiedCallKeepsItsQualifier()
    {
        await Verify.VerifyCodeFixAsync(
            @"using Kernel.Mm;

static class Dax
{
    static void notify(mm_struct mm, ulong address)
    {
        [|Linux.mmu_notifier_invalidate_page(mm, address)|];
    }
}
",
            @"using Kernel.Mm;

static class Dax
{
    static void notify(mm_struct mm, ulong address)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & Linux.PAGE_MASK;
        mmun_end = mmun_start + Linux.PAGE_SIZE;
        Linux.mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        Linux.mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task OpsWithStartAndEndLoseInvalidatePage()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Kvm
{
    static void kvm_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static void kvm_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static void kvm_page(mmu_notifier mn, mm_struct mm, ulong address) { }

    static readonly mmu_notifier_ops kvm_mmu_notifier_ops = new()
    {
        // the KVM table
        invalidate_range_start = kvm_start,
        {|MMU001:invalidate_page = kvm_page|},
        invalidate_range_end = kvm_end,
    };
}
",
            Usings + @"static class Kvm
{
    static void kvm_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static void kvm_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static void kvm_page(mmu_notifier mn, mm_struct mm, ulong address) { }

    static readonly mmu_notifier_ops kvm_mmu_notifier_ops = new()
    {
        // the KVM table
        invalidate_range_start = kvm_start,
        invalidate_range_end = kvm_end,
    };
}
");
    }

    [Fact]
    public async Task OpsWithoutStartEndGetInvalidateRangeLoopingOverPages()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Gru
{
    static void gru_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address) { }
    static void gru_release(mmu_notifier mn, mm_struct mm) { }

    static readonly mmu_notifier_ops gru_mmuops = new()
    {
        {|MMU001:invalidate_page = gru_invalidate_page|}, // flush one page
        release = gru_release,
    };
}
",
            Usings + @"static class Gru
{
    static void gru_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address) { }
    static void gru_release(mmu_notifier mn, mm_struct mm) { }

    static readonly mmu_notifier_ops gru_mmuops = new()
    {
        invalidate_range = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                gru_invalidate_page(mn, mm, address);
            }
        }, // flush one page
        release = gru_release,
    };
}
");
    }

    [Fact]
    public async Task OpsLambdaIsKeptInALocal()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Drv
{
    static int count;

    static readonly mmu_notifier_ops ops = new mmu_notifier_ops
    {
        [|invalidate_page = (n, m, a) => count++|],
    };
}
",
            Usings + @"static class Drv
{
    static int count;

    static readonly mmu_notifier_ops ops = new mmu_notifier_ops
    {
        invalidate_range = (mn, mm, start, end) =>
        {
            invalidate_page_fn invalidate_page = (n, m, a) => count++;
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                invalidate_page(mn, mm, address);
            }
        },
    };
}
");
    }

    [Fact]
    public async Task FixAllConvertsCallSitesAndOpsAcrossTheFile()
    {
        var test = new Verify.Test
        {
            TestCode = Usings + @"static class Mixed
{
    static void a(mm_struct mm, ulong address)
    {
        [|mmu_notifier_invalidate_page(mm, address)|];
    }

    static void b(mm_struct mm, ulong address)
    {
        [|mmu_notifier_invalidate_page(mm, address)|];
    }
}
",
            FixedCode = Usings + @"static class Mixed
{
    static void a(mm_struct mm, ulong address)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }

    static void b(mm_struct mm, ulong address)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
",
            CodeActionEquivalenceKey = InvalidatePageCodeFix.BracketKey,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task TwoCallsInOneFunctionGetFreshNames()
    {
        await new Verify.Test
        {
            TestCode = Usings + @"static class Two
{
    static void f(mm_struct mm, ulong a, ulong b)
    {
        [|mmu_notifier_invalidate_page(mm, a)|];
        [|mmu_notifier_invalidate_page(mm, b)|];
    }
}
",
            FixedCode = Usings + @"static class Two
{
    static void f(mm_struct mm, ulong a, ulong b)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        ulong mmun_start2; /* For mmu_notifiers */
        ulong mmun_end2;   /* For mmu_notifiers */
        mmun_start = a & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        mmun_start2 = b & PAGE_MASK;
        mmun_end2 = mmun_start2 + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start2, mmun_end2);
        mmu_notifier_invalidate_range_end(mm, mmun_start2, mmun_end2);
    }
}
",
        }.RunAsync();
    }

    [Fact]
    public async Task GotoIntoTheLockedRegionFallsBack()
    {
        // do_wp_page (seed 002): a goto from before the re-lock jumps to a label after it.
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Memory
{
    static int wp(mm_struct mm, pmd_ptr pmd, ulong address, bool reuse)
    {
        pte_ptr pte;
        spinlock_t ptl;
        if (reuse)
            goto unlock_only;
        pte = pte_offset_map_lock(mm, pmd, address, out ptl);
        pte_unmap_unlock(pte, ptl);
        [|mmu_notifier_invalidate_page(mm, address)|];
        return 1;
    unlock_only:
        return 0;
    }
}
",
            Usings + @"static class Memory
{
    static int wp(mm_struct mm, pmd_ptr pmd, ulong address, bool reuse)
    {
        pte_ptr pte;
        spinlock_t ptl;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        if (reuse)
            goto unlock_only;
        pte = pte_offset_map_lock(mm, pmd, address, out ptl);
        pte_unmap_unlock(pte, ptl);
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        return 1;
    unlock_only:
        return 0;
    }
}
");
    }

    [Fact]
    public async Task ExpressionBodiedCallHasNoFix()
    {
        const string Source = Usings + @"static class C
{
    static void f(mm_struct mm, ulong address) => [|mmu_notifier_invalidate_page(mm, address)|];
}
";
        await Verify.VerifyCodeFixAsync(Source, Source);
    }

    [Fact]
    public async Task OpsThatAlreadySetInvalidateRangeLoseInvalidatePage()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Drv
{
    static void page_cb(mmu_notifier mn, mm_struct mm, ulong address) { }
    static void range_cb(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }

    static readonly mmu_notifier_ops ops = new() { invalidate_range = range_cb, [|invalidate_page = page_cb|] };
}
",
            Usings + @"static class Drv
{
    static void page_cb(mmu_notifier mn, mm_struct mm, ulong address) { }
    static void range_cb(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }

    static readonly mmu_notifier_ops ops = new() { invalidate_range = range_cb };
}
");
    }

    [Fact]
    public async Task OpsDelegateFieldIsInvokedWhenTheCallbackRunsAndNamesDoNotClash()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Drv
{
    static mmu_notifier_ops make(invalidate_page_fn? mm)
    {
        ulong start = 0;
        return new mmu_notifier_ops { [|invalidate_page = mm|] };
    }
}
",
            Usings + @"static class Drv
{
    static mmu_notifier_ops make(invalidate_page_fn? mm)
    {
        ulong start = 0;
        return new mmu_notifier_ops
        {
            invalidate_range = (mn, mm2, start2, end) =>
            {
                for (ulong address = start2; address < end; address += PAGE_SIZE)
                {
                    mm?.Invoke(mn, mm2, address);
                }
            }
        };
    }
}
");
    }

    [Fact]
    public async Task FixAllConvertsEveryOpsTable()
    {
        var test = new Verify.Test
        {
            CodeActionEquivalenceKey = InvalidatePageCodeFix.OpsKey,
        };
        test.TestState.Sources.Add(Usings + @"static class A
{
    static void a_page(mmu_notifier mn, mm_struct mm, ulong address) { }
    static void a_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static void a_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range_start = a_start,
        invalidate_range_end = a_end,
        [|invalidate_page = a_page|],
    };
}
");
        test.TestState.Sources.Add(Usings + @"static class B
{
    static void b_page(mmu_notifier mn, mm_struct mm, ulong address) { }
    static readonly mmu_notifier_ops ops = new()
    {
        [|invalidate_page = b_page|],
    };
}
");
        test.FixedState.Sources.Add(Usings + @"static class A
{
    static void a_page(mmu_notifier mn, mm_struct mm, ulong address) { }
    static void a_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static void a_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range_start = a_start,
        invalidate_range_end = a_end,
    };
}
");
        test.FixedState.Sources.Add(Usings + @"static class B
{
    static void b_page(mmu_notifier mn, mm_struct mm, ulong address) { }
    static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                b_page(mn, mm, address);
            }
        },
    };
}
");
        await test.RunAsync();
    }

    [Fact]
    public async Task PageParameterOfAnotherNameSizesTheRange()
    {
        // No 'page' in scope: the function's only parameter of the page type gives the compound size.
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Rmap
{
    static void unmap_one(page pg, vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ptep_clear_flush(vma, address, pte);
        [|mmu_notifier_invalidate_page(mm, address)|];
        pte_unmap_unlock(pte, ptl);
    }
}
",
            Usings + @"static class Rmap
{
    static void unmap_one(page pg, vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & ~((PAGE_SIZE << compound_order(pg)) - 1);
        mmun_end = mmun_start + (PAGE_SIZE << compound_order(pg));
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task ContinueAndBreakThatLeaveTheLockedRegionGetTheEnd()
    {
        // The lock is taken in a loop body: the range is started there on each turn, and ended
        // before each continue or break that leaves the body, and at its end. The branch that
        // unlocks and continues does not make the call one "after the unlock": it stays under the
        // lock, as invalidate_range.
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Walk
{
    static void unmap_range(vm_area_struct vma, mm_struct mm, pmd_ptr pmd, ulong start, ulong end, bool fatal)
    {
        for (ulong address = start; address < end; address += PAGE_SIZE)
        {
            pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
            if (pte_none(ptep_get(pte)))
            {
                pte_unmap_unlock(pte, ptl);
                continue;
            }

            ptep_clear_flush(vma, address, pte);
            [|mmu_notifier_invalidate_page(mm, address)|];
            pte_unmap_unlock(pte, ptl);
            if (fatal)
                break;
        }
    }
}
",
            Usings + @"static class Walk
{
    static void unmap_range(vm_area_struct vma, mm_struct mm, pmd_ptr pmd, ulong start, ulong end, bool fatal)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        for (ulong address = start; address < end; address += PAGE_SIZE)
        {
            mmun_start = address & PAGE_MASK;
            mmun_end = mmun_start + PAGE_SIZE;
            mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
            pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
            if (pte_none(ptep_get(pte)))
            {
                pte_unmap_unlock(pte, ptl);
                mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
                continue;
            }

            ptep_clear_flush(vma, address, pte);
            mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
            pte_unmap_unlock(pte, ptl);
            if (fatal)
            {
                mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
                break;
            }

            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        }
    }
}
");
    }

    [Fact]
    public async Task RangeInputsChangedUnderTheLockOrComputedByACallFallBack()
    {
        // The range must be computed before the lock from what the call reads: not when the
        // address is written under the lock, nor when the mm comes from a call.
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Rmap
{
    static mm_struct mm_of(vm_area_struct vma) => vma.vm_mm;

    static void moved(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ptep_clear_flush(vma, address, pte);
        address += PAGE_SIZE;
        [|mmu_notifier_invalidate_page(mm, address)|];
        pte_unmap_unlock(pte, ptl);
    }

    static void called(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        pte_ptr pte = pte_offset_map_lock(vma.vm_mm, pmd, address, out spinlock_t ptl);
        ptep_clear_flush(vma, address, pte);
        [|mmu_notifier_invalidate_page(mm_of(vma), address)|];
        pte_unmap_unlock(pte, ptl);
    }
}
",
            Usings + @"static class Rmap
{
    static mm_struct mm_of(vm_area_struct vma) => vma.vm_mm;

    static void moved(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        ptep_clear_flush(vma, address, pte);
        address += PAGE_SIZE;
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        pte_unmap_unlock(pte, ptl);
    }

    static void called(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        pte_ptr pte = pte_offset_map_lock(vma.vm_mm, pmd, address, out spinlock_t ptl);
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        ptep_clear_flush(vma, address, pte);
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm_of(vma), mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm_of(vma), mmun_start, mmun_end);
        pte_unmap_unlock(pte, ptl);
    }
}
");
    }

    [Fact]
    public async Task AThrowIsNotAnExitOfTheLockedRegion()
    {
        // Kernel code does not throw (a BUG() is the port's throw): the bracket ends where the
        // function leaves normally, and MMU002, not this fix, speaks of a range a throw leaves open.
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Rmap
{
    static void unmap_one(vm_area_struct vma, pmd_ptr pmd, ulong address, bool bad)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        if (bad)
            throw new System.InvalidOperationException(""BUG"");
        ptep_clear_flush(vma, address, pte);
        [|mmu_notifier_invalidate_page(mm, address)|];
        pte_unmap_unlock(pte, ptl);
    }
}
",
            Usings + @"static class Rmap
{
    static void unmap_one(vm_area_struct vma, pmd_ptr pmd, ulong address, bool bad)
    {
        mm_struct mm = vma.vm_mm;
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        if (bad)
            throw new System.InvalidOperationException(""BUG"");
        ptep_clear_flush(vma, address, pte);
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
        pte_unmap_unlock(pte, ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task APageWrittenUnderTheLockFallsBack()
    {
        // The range is sized by the page, which is only known under the lock: it cannot be
        // computed before the lock, so the call is replaced in place (shape 2).
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Rmap
{
    static void unmap_one(vm_area_struct vma, pmd_ptr pmd, ulong address, page page)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        page = pte_page(ptep_get(pte));
        ptep_clear_flush(vma, address, pte);
        [|mmu_notifier_invalidate_page(mm, address)|];
        pte_unmap_unlock(pte, ptl);
    }
}
",
            Usings + @"static class Rmap
{
    static void unmap_one(vm_area_struct vma, pmd_ptr pmd, ulong address, page page)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        page = pte_page(ptep_get(pte));
        ptep_clear_flush(vma, address, pte);
        mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmun_end = mmun_start + (PAGE_SIZE << compound_order(page));
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        pte_unmap_unlock(pte, ptl);
    }
}
");
    }

    [Fact]
    public async Task OpsConversionsThatWouldSetAMemberTwiceAreNotOffered()
    {
        // invalidate_range = null beside a callback that may become invalidate_range; start set
        // to null beside a sleeping callback that would become start and end.
        const string Source = Usings + @"sealed class gntdev_priv : mmu_notifier { public mutex @lock = new(); }

static class Drv
{
    static void quiet_page(mmu_notifier mn, mm_struct mm, ulong address) { }

    static void mn_invl_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        mutex_lock(((gntdev_priv)mn).@lock);
        mutex_unlock(((gntdev_priv)mn).@lock);
    }

    static readonly mmu_notifier_ops quiet = new() { invalidate_range = null, [|invalidate_page = quiet_page|] };
    static readonly mmu_notifier_ops sleeping = new() { invalidate_range_start = null, [|invalidate_page = mn_invl_page|] };
}
";
        await Verify.VerifyCodeFixAsync(Source, Source);
    }

    [Fact]
    public async Task FixAllWithEitherKeyFixesCallSitesAndOpsTables()
    {
        // The two keys are the fixes of two kinds of finding: Fix All asked with one applies both.
        // One by one, only the findings that offer the asked key are fixed.
        const string Source = Usings + @"static class Mixed
{
    static void quiet_page(mmu_notifier mn, mm_struct mm, ulong address) { }

    static readonly mmu_notifier_ops ops = new()
    {
        [|invalidate_page = quiet_page|],
    };

    static void notify(mm_struct mm, ulong address)
    {
        [|mmu_notifier_invalidate_page(mm, address)|];
    }
}
";
        const string Call = @"
    static void notify(mm_struct mm, ulong address)
    {
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
";
        const string Table = @"    static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range = (mn, mm, start, end) =>
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                quiet_page(mn, mm, address);
            }
        },
    };
";
        var head = Usings + @"static class Mixed
{
    static void quiet_page(mmu_notifier mn, mm_struct mm, ulong address) { }

";
        var both = head + Table + Call;
        foreach (var key in new[] { InvalidatePageCodeFix.BracketKey, InvalidatePageCodeFix.OpsKey })
        {
            var oneByOne = key == InvalidatePageCodeFix.BracketKey
                ? head + @"    static readonly mmu_notifier_ops ops = new()
    {
        [|invalidate_page = quiet_page|],
    };
" + Call
                : head + Table + @"
    static void notify(mm_struct mm, ulong address)
    {
        [|mmu_notifier_invalidate_page(mm, address)|];
    }
}
";
            await new Verify.Test
            {
                TestCode = Source,
                FixedState = { Sources = { oneByOne }, MarkupHandling = Microsoft.CodeAnalysis.Testing.MarkupMode.Allow },
                BatchFixedCode = both,
                CodeActionEquivalenceKey = key,
            }.RunAsync();
        }
    }

    [Fact]
    public async Task AnIteratorFallsBack()
    {
        // A yield may leave the function between the lock and its release: the call is replaced in place.
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class Rmap
{
    static System.Collections.Generic.IEnumerable<int> unmap(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ptep_clear_flush(vma, address, pte);
        [|mmu_notifier_invalidate_page(mm, address)|];
        pte_unmap_unlock(pte, ptl);
        yield return 1;
    }
}
",
            Usings + @"static class Rmap
{
    static System.Collections.Generic.IEnumerable<int> unmap(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        ulong mmun_start; /* For mmu_notifiers */
        ulong mmun_end;   /* For mmu_notifiers */
        ptep_clear_flush(vma, address, pte);
        mmun_start = address & PAGE_MASK;
        mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        pte_unmap_unlock(pte, ptl);
        yield return 1;
    }
}
");
    }

    [Fact]
    public async Task SeverityFromEditorConfig()
    {
        var test = new CSharpAnalyzerVerifier<InvalidatePageAnalyzer>.Test
        {
            TestCode = Usings + @"static class C
{
    static void f(mm_struct mm, ulong address)
    {
        {|#0:mmu_notifier_invalidate_page(mm, address)|};
    }
}
",
        };
        test.TestState.AnalyzerConfigFiles.Add(("/.editorconfig", "root = true\n\n[*.cs]\ndotnet_diagnostic.MMU001.severity = error\n"));
        test.ExpectedDiagnostics.Add(Verify.Diagnostic().WithLocation(0).WithSeverity(Microsoft.CodeAnalysis.DiagnosticSeverity.Error).WithArguments(
            "mmu_notifier_invalidate_page(mm, address)",
            "bracket the page-table update with mmu_notifier_invalidate_range_start/_end on mm outside the page-table lock, and call mmu_notifier_invalidate_range under it"));
        await test.RunAsync();
    }

    [Fact]
    public async Task SuppressMessageSilences()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class C
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage(""MmuNotifier"", ""MMU001:invalidate_page is removed"", Justification = ""pre-4.13 port"")]
    static void legacy(mm_struct mm, ulong address) => mmu_notifier_invalidate_page(mm, address);
}
");
    }
}
