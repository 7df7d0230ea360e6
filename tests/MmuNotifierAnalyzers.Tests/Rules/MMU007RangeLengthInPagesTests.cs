using System.Threading.Tasks;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.RangeLengthInPagesAnalyzer, MmuNotifierAnalyzers.CodeFixes.RangeLengthInPagesCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public sealed class MMU007RangeLengthInPagesTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n\n";

    [Fact]
    public async Task SeedShapeFiresWithMessageNamingTheCallTheEndAndTheFix()
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
                "'mmu_notifier_invalidate_range' ends its range at 'address + (1UL << compound_order(page))', which adds a number of pages to a byte address: "
                + "the range is 1..512 bytes, not 4K..2M; write 'address + (PAGE_SIZE << compound_order(page))'"));
    }

    [Theory]
    [InlineData("address + (1UL << compound_order(page))", "address + (PAGE_SIZE << compound_order(page))")]
    [InlineData("address + compound_nr(page)", "address + (PAGE_SIZE << compound_order(page))")]
    [InlineData("compound_nr(page) + address", "(PAGE_SIZE << compound_order(page)) + address")]
    [InlineData("address + HPAGE_PMD_NR", "address + HPAGE_PMD_SIZE")]
    [InlineData("address + (1 << HPAGE_PMD_ORDER)", "address + (HPAGE_PMD_SIZE)")]
    [InlineData("address + 1UL << HPAGE_PMD_ORDER", null)]
    [InlineData("address + pages_per_huge_page(h)", "address + huge_page_size(h)")]
    [InlineData("address + (1UL << huge_page_order(h))", "address + (huge_page_size(h))")]
    [InlineData("address + (ulong)(1 << compound_order(page))", "address + (ulong)(PAGE_SIZE << compound_order(page))")]
    public async Task EachPageCountFormFiresAndBecomesBytes(string end, string? fixedEnd)
    {
        const string Template = @"static class C
{
    static void f(mm_struct mm, page page, hstate h, ulong address)
    {
        mmu_notifier_invalidate_range_start(mm, address, END); // keep me
    }
}
";
        if (fixedEnd is null)
        {
            // (address + 1UL) << HPAGE_PMD_ORDER: a shifted address, not a page count added to one.
            await Verify.VerifyAnalyzerAsync(Usings + Template.Replace("END", end));
            return;
        }

        await Verify.VerifyCodeFixAsync(
            Usings + Template.Replace("mmu_notifier_invalidate_range_start(mm, address, END)", "[|mmu_notifier_invalidate_range_start(mm, address, " + end + ")|]"),
            Usings + Template.Replace("END", fixedEnd));
    }

    [Fact]
    public async Task ThroughTheMmunEndLocalFiresOnceAtTheFirstCallAndFixesTheInitializer()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address)
    {
        ulong mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        ulong mmun_end = mmun_start + (1UL << compound_order(page)); /* For mmu_notifiers */
        {|#0:mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end)|};
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
",
            new[]
            {
                Verify.Diagnostic().WithLocation(0).WithMessage(
                    "'mmu_notifier_invalidate_range_start' ends its range at 'mmun_end' = 'mmun_start + (1UL << compound_order(page))', which adds a number of pages to a byte address: "
                    + "the range is 1..512 bytes, not 4K..2M; write 'mmun_start + (PAGE_SIZE << compound_order(page))'"),
            },
            Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address)
    {
        ulong mmun_start = address & ~((PAGE_SIZE << compound_order(page)) - 1);
        ulong mmun_end = mmun_start + (PAGE_SIZE << compound_order(page)); /* For mmu_notifiers */
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
    }

    [Fact]
    public async Task AssignedLocalAndEveryWriteTheSame()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(mm_struct mm, ulong address, bool huge)
    {
        ulong end;
        if (huge)
            end = address + HPAGE_PMD_NR;
        else
            end = address + (1 << HPAGE_PMD_ORDER);
        [|mmu_notifier_invalidate_range(mm, address, end)|];
    }
}
",
            Usings + @"static class C
{
    static void f(mm_struct mm, ulong address, bool huge)
    {
        ulong end;
        if (huge)
            end = address + HPAGE_PMD_SIZE;
        else
            end = address + (HPAGE_PMD_SIZE);
        mmu_notifier_invalidate_range(mm, address, end);
    }
}
");
    }

    [Fact]
    public async Task WritesThatDisagreeDoNotFire()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address, bool huge)
    {
        ulong end = address + PAGE_SIZE;
        if (huge)
            end = address + compound_nr(page);
        mmu_notifier_invalidate_range(mm, address, end);
    }
}
");
    }

    [Fact]
    public async Task PageCountLocalBecomesTimesPageSize()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address)
    {
        ulong nr = compound_nr(page);
        [|mmu_notifier_invalidate_range(mm, address, address + nr)|];
        put_page(page);
    }
}
",
            Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address)
    {
        ulong nr = compound_nr(page);
        mmu_notifier_invalidate_range(mm, address, address + nr * PAGE_SIZE);
        put_page(page);
    }
}
");
    }

    [Fact]
    public async Task RangeInitFormFires()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(vm_area_struct vma, page page, ulong haddr)
    {
        var range = new mmu_notifier_range();
        [|mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, vma.vm_mm, haddr, haddr + compound_nr(page))|];
    }
}
",
            Usings + @"static class C
{
    static void f(vm_area_struct vma, page page, ulong haddr)
    {
        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, vma.vm_mm, haddr, haddr + (PAGE_SIZE << compound_order(page)));
    }
}
");
    }

    [Fact]
    public async Task QualifiedNamesStayQualified()
    {
        await Verify.VerifyCodeFixAsync(
            @"static class C
{
    static void f(Kernel.Mm.mm_struct mm, Kernel.Mm.page page, ulong a)
    {
        [|Kernel.Mm.Linux.mmu_notifier_invalidate_range(mm, a, a + Kernel.Mm.Linux.compound_nr(page))|];
        [|Kernel.Mm.Linux.mmu_notifier_invalidate_range(mm, a, a + Kernel.Mm.Linux.HPAGE_PMD_NR)|];
    }
}
",
            @"static class C
{
    static void f(Kernel.Mm.mm_struct mm, Kernel.Mm.page page, ulong a)
    {
        Kernel.Mm.Linux.mmu_notifier_invalidate_range(mm, a, a + (Kernel.Mm.Linux.PAGE_SIZE << Kernel.Mm.Linux.compound_order(page)));
        Kernel.Mm.Linux.mmu_notifier_invalidate_range(mm, a, a + Kernel.Mm.Linux.HPAGE_PMD_SIZE);
    }
}
");
    }

    [Fact]
    public async Task ByteFormsAndPlainPagesDoNotFire()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class C
{
    static void f(mm_struct mm, page page, hstate h, ulong address)
    {
        mmu_notifier_invalidate_range_start(mm, address, address + (PAGE_SIZE << compound_order(page)));
        mmu_notifier_invalidate_range_end(mm, address, address + HPAGE_PMD_SIZE);
        mmu_notifier_invalidate_range(mm, address, address + PAGE_SIZE);
        mmu_notifier_invalidate_range(mm, address, address + huge_page_size(h));
        mmu_notifier_invalidate_range(mm, address, address + compound_nr(page) * PAGE_SIZE);
        mmu_notifier_invalidate_range(mm, address, address + (compound_nr(page) << PAGE_SHIFT));
        ulong nr = 1UL << compound_order(page);
        my_flush(address, address + nr);
    }

    static void my_flush(ulong start, ulong end) { }
}
");
    }

    [Fact]
    public async Task UsersOwnCompoundOrderIsNotKernelMms()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class Driver
{
    const int HPAGE_PMD_NR = 512;
    static int compound_order(page page) => 0;
    static ulong compound_nr(page page) => 1;

    static void f(mm_struct mm, page page, ulong address)
    {
        mmu_notifier_invalidate_range(mm, address, address + (1UL << compound_order(page)));
        mmu_notifier_invalidate_range(mm, address, address + compound_nr(page));
        mmu_notifier_invalidate_range(mm, address, address + HPAGE_PMD_NR);
    }
}
");
    }

    [Fact]
    public async Task UsersOwnRangeFunctionIsNotASink()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"static class Driver
{
    static void mmu_notifier_invalidate_range(mm_struct mm, ulong start, ulong end) { }

    static void f(mm_struct mm, page page, ulong address) =>
        mmu_notifier_invalidate_range(mm, address, address + compound_nr(page));
}
");
    }

    [Fact]
    public async Task LambdasAndLocalFunctionsAreAnalyzed()
    {
        await Verify.VerifyCodeFixAsync(
            Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address)
    {
        System.Action a = () => [|mmu_notifier_invalidate_range(mm, address, address + HPAGE_PMD_NR)|];
        void g() => [|mmu_notifier_invalidate_range(mm, address, address + compound_nr(page))|];
        a();
        g();
    }
}
",
            Usings + @"static class C
{
    static void f(mm_struct mm, page page, ulong address)
    {
        System.Action a = () => mmu_notifier_invalidate_range(mm, address, address + HPAGE_PMD_SIZE);
        void g() => mmu_notifier_invalidate_range(mm, address, address + (PAGE_SIZE << compound_order(page)));
        a();
        g();
    }
}
");
    }

    [Fact]
    public async Task NothingWithoutKernelMm()
    {
        const string Source = @"static class C
{
    static int compound_order(object p) => 0;
    static void mmu_notifier_invalidate_range(object mm, ulong s, ulong e) { }
    static void f(object p, ulong a) => mmu_notifier_invalidate_range(p, a, a + (1UL << compound_order(p)));
}
";
        var test = new Verify.Test { TestCode = Source, FixedCode = Source };
        test.TestState.AdditionalReferences.Clear(); // neither Kernel.Mm nor the annotations
        await test.RunAsync();
    }
}
