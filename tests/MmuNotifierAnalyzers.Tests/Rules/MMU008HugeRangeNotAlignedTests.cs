using System.Threading.Tasks;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.HugeRangeNotAlignedAnalyzer, MmuNotifierAnalyzers.CodeFixes.HugeRangeNotAlignedCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public sealed class MMU008HugeRangeNotAlignedTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n\n";

    [Fact]
    public async Task SeedShapeFiresWithMessageNamingTheCallTheStartTheSizeAndTheMask()
    {
        await Verify.VerifyAnalyzerAsync(
            Usings + @"static class C
{
    static void f(page page, vm_area_struct vma, ulong address)
    {
        {|#0:mmu_notifier_invalidate_range(vma.vm_mm, address,
                address + (1UL << compound_order(page)))|};
    }
}
",
            Verify.Diagnostic().WithLocation(0).WithMessage(
                "'mmu_notifier_invalidate_range' covers a huge page of 'PAGE_SIZE << compound_order(page)' bytes but starts at 'address', which is not masked to that size "
                + "(no call of 'f' in this compilation proves 'address' aligned): start at 'address & ~((PAGE_SIZE << compound_order(page)) - 1)'"));
    }

    [Fact]
    public async Task StartUsedForTheEndGetsAnAlignedLocalInItsBlock()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(page page, vm_area_struct vma, ulong address, bool needed)
    {
        if (needed)
        {
            // one invalidation for the whole page
            [|mmu_notifier_invalidate_range(vma.vm_mm, address,
                    address + (PAGE_SIZE << compound_order(page)))|];
        }
    }
}
",
            Usings + @"static class C
{
    static void f(page page, vm_area_struct vma, ulong address, bool needed)
    {
        if (needed)
        {
            // one invalidation for the whole page
            ulong haddr = address & ~((PAGE_SIZE << compound_order(page)) - 1);
            mmu_notifier_invalidate_range(vma.vm_mm, haddr,
                    haddr + (PAGE_SIZE << compound_order(page)));
        }
    }
}
");
    }

    [Fact]
    public async Task EmbeddedStatementIsWrappedInABlock()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static bool f(page page, mm_struct mm, ulong address, bool needed, ulong haddr)
    {
        if (needed)
            [|mmu_notifier_invalidate_range(mm, address,
                    address + (1UL << compound_order(page)))|];
        return needed;
    }
}
",
            Usings + @"static class C
{
    static bool f(page page, mm_struct mm, ulong address, bool needed, ulong haddr)
    {
        if (needed)
        {
            ulong haddr2 = address & ~((PAGE_SIZE << compound_order(page)) - 1);
            mmu_notifier_invalidate_range(mm, haddr2,
                    haddr2 + (1UL << compound_order(page)));
        }
        return needed;
    }
}
");
    }

    [Fact]
    public async Task MmunStartWriteIsMaskedWhenTheEndIsBuiltOnIt()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(mm_struct mm, ulong address)
    {
        ulong mmun_start = address;   /* For mmu_notifiers */
        ulong mmun_end = mmun_start + HPAGE_PMD_SIZE;
        [|mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end)|];
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
",
            Usings + @"static class C
{
    static void f(mm_struct mm, ulong address)
    {
        ulong mmun_start = address & HPAGE_PMD_MASK;   /* For mmu_notifiers */
        ulong mmun_end = mmun_start + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task SeparateLocalsBuiltOnTheSameValueAreBothMasked()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(mm_struct mm, vm_area_struct vma, ulong address)
    {
        hstate h = hstate_vma(vma);
        ulong mmun_start = address;
        ulong mmun_end = address + huge_page_size(h);
        [|mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end)|];
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
",
            Usings + @"static class C
{
    static void f(mm_struct mm, vm_area_struct vma, ulong address)
    {
        hstate h = hstate_vma(vma);
        ulong mmun_start = address & huge_page_mask(h);
        ulong mmun_end = (address & huge_page_mask(h)) + huge_page_size(h);
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task TwoRangesInOneMethodGetTwoNamesOneByOneAndInFixAll()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address, ulong other)
    {
        [|mmu_notifier_invalidate_range(mm, address, address + HPAGE_PMD_SIZE)|];
        [|mmu_notifier_invalidate_range(mm, other, other + (PAGE_SIZE << compound_order(page)))|];
    }
}
",
            Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address, ulong other)
    {
        ulong haddr = address & HPAGE_PMD_MASK;
        mmu_notifier_invalidate_range(mm, haddr, haddr + HPAGE_PMD_SIZE);
        ulong haddr2 = other & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmu_notifier_invalidate_range(mm, haddr2, haddr2 + (PAGE_SIZE << compound_order(page)));
    }
}
");
    }

    [Fact]
    public async Task AlignedStartsDoNotFire()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class C
{
    static void f(mm_struct mm, page page, vm_area_struct vma, ulong address)
    {
        hstate h = hstate_vma(vma);
        mmu_notifier_invalidate_range(mm, address & HPAGE_PMD_MASK, (address & HPAGE_PMD_MASK) + HPAGE_PMD_SIZE);
        ulong haddr = address & HPAGE_PMD_MASK;
        mmu_notifier_invalidate_range_start(mm, haddr, haddr + HPAGE_PMD_SIZE);
        mmu_notifier_invalidate_range_end(mm, haddr, haddr + HPAGE_PMD_NR);
        ulong start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        mmu_notifier_invalidate_range(mm, start, start + (PAGE_SIZE << compound_order(page)));
        mmu_notifier_invalidate_range(mm, start, start + compound_nr(page));
        ulong hstart = address & huge_page_mask(h);
        mmu_notifier_invalidate_range(mm, hstart, hstart + huge_page_size(h));
        // A THP is PMD sized: a PMD-aligned start fits a compound-page range.
        mmu_notifier_invalidate_range(mm, haddr, haddr + (PAGE_SIZE << compound_order(page)));
    }
}
");
    }

    [Fact]
    public async Task SmallRangesAndUnknownLengthsDoNotFire()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class C
{
    static void f(mm_struct mm, vm_area_struct vma, ulong address, ulong len)
    {
        mmu_notifier_invalidate_range(mm, address, address + PAGE_SIZE);
        mmu_notifier_invalidate_range(mm, address, address + len);
        mmu_notifier_invalidate_range_start(mm, vma.vm_start, vma.vm_end);
        mmu_notifier_invalidate_range_end(mm, vma.vm_start, vma.vm_end);
    }
}
");
    }

    [Fact]
    public async Task ParameterAlignedAtEveryCallSiteDoesNotFire()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class C
{
    static void split(mm_struct mm, ulong haddr)
    {
        ulong mmun_start = haddr;
        ulong mmun_end = haddr + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }

    static void caller(mm_struct mm, ulong address)
    {
        split(mm, address & HPAGE_PMD_MASK);
        ulong haddr = address & HPAGE_PMD_MASK;
        split(mm, haddr);
        middle(mm, haddr);
    }

    static void middle(mm_struct mm, ulong aligned) => split(mm, aligned);
}
");
    }

    [Fact]
    public async Task ParameterWithAnUnalignedCallerOrItsAddressTakenFires()
    {
        await Verify.VerifyAnalyzerAsync(
            Usings + @"static class C
{
    static void split(mm_struct mm, ulong haddr) =>
        {|#0:mmu_notifier_invalidate_range(mm, haddr, haddr + HPAGE_PMD_SIZE)|};

    static void taken(mm_struct mm, ulong haddr) =>
        {|#1:mmu_notifier_invalidate_range(mm, haddr, haddr + HPAGE_PMD_SIZE)|};

    static void caller(mm_struct mm, ulong address)
    {
        split(mm, address & HPAGE_PMD_MASK);
        split(mm, address);
        taken(mm, address & HPAGE_PMD_MASK);
        System.Action<mm_struct, ulong> op = taken;
    }
}
",
            Verify.Diagnostic().WithLocation(0).WithArguments("mmu_notifier_invalidate_range", "HPAGE_PMD_SIZE", "haddr", " (no call of 'split' in this compilation proves 'haddr' aligned)", "HPAGE_PMD_MASK"),
            Verify.Diagnostic().WithLocation(1).WithArguments("mmu_notifier_invalidate_range", "HPAGE_PMD_SIZE", "haddr", " (no call of 'taken' in this compilation proves 'haddr' aligned)", "HPAGE_PMD_MASK"));
    }

    [Fact]
    public async Task ParameterTheMethodRequiresAlignedDoesNotFire()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"using System.Diagnostics.CodeAnalysis;

static class C
{
    static void VM_BUG_ON([DoesNotReturnIf(true)] bool condition) { }

    public static void collapse(mm_struct mm, ulong address)
    {
        VM_BUG_ON((address & ~HPAGE_PMD_MASK) != 0);
        mmu_notifier_invalidate_range_start(mm, address, address + HPAGE_PMD_SIZE);
        mmu_notifier_invalidate_range_end(mm, address, address + HPAGE_PMD_SIZE);
    }

    public static void splitting(page page, vm_area_struct vma, ulong address)
    {
        mm_struct mm = vma.vm_mm;
        mmu_notifier_invalidate_range_start(mm, address, address + HPAGE_PMD_SIZE);
        spin_lock(mm.page_table_lock);
        page_check_address_pmd(page, mm, address, 0);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, address, address + HPAGE_PMD_SIZE);
        for (int i = 0; i < 2; i++, address += PAGE_SIZE)
        {
        }
    }
}
");
    }

    [Fact]
    public async Task ParameterWrittenBeforeTheRangeFires()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class C
{
    static void f(mm_struct mm, ulong address)
    {
        address += PAGE_SIZE;
        [|mmu_notifier_invalidate_range(mm, address, address + HPAGE_PMD_SIZE)|];
    }

    static void g(mm_struct mm, ulong address) => f(mm, address & HPAGE_PMD_MASK);
}
");
    }

    [Fact]
    public async Task UsersOwnMaskIsNotKernelMms()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class Driver
{
    const ulong HPAGE_PMD_MASK = ~0UL;

    static void f(mm_struct mm, ulong address)
    {
        ulong haddr = address & HPAGE_PMD_MASK;
        [|mmu_notifier_invalidate_range(mm, haddr, haddr + Kernel.Mm.Linux.HPAGE_PMD_SIZE)|];
    }
}
");
    }

    [Fact]
    public async Task StartWithSideEffectsGetsNoFix()
    {
        const string Source = @"static class C
{
    static ulong next(ref ulong a) => a += PAGE_SIZE;

    static void f(mm_struct mm, ulong address)
    {
        [|mmu_notifier_invalidate_range(mm, next(ref address), next(ref address) + HPAGE_PMD_SIZE)|];
    }
}
";
        // No action: the fixed state is the source, finding included.
        await Verify.VerifyCodeFixAsync(Usings + Source, Usings + Source);
    }
}
