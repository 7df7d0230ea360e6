extern alias fixedports;

using System;
using Kernel.Mm;
using Kernel.Mm.Tests.Core;
using Seeds.Common;
using Xunit;
using static Kernel.Mm.Linux;
using After = Seeds.After;
using Before000 = Seeds.Before.Seed000;
using Before003 = Seeds.Before.Seed003;
using Before004 = Seeds.Before.Seed004;
using Fixed000 = fixedports::Seeds.Before.Seed000;
using Fixed003 = fixedports::Seeds.Before.Seed003;
using Fixed004 = fixedports::Seeds.Before.Seed004;

namespace Kernel.Mm.Tests.Scenarios;

/// <summary>
/// try_to_unmap_one, page_mkclean_one and try_to_unmap_cluster (mm/rmap.c), every form, on a
/// page the CPU and all three secondary MMUs map.
/// </summary>
[Collection(ScenarioCollection.Name)]
public sealed class RmapScenarios
{
    private const ulong Base = ScenarioRig.Base;
    private const ulong Size = 16 * PAGE_SIZE;
    private const ulong A = Base + 2 * PAGE_SIZE;
    private const ttu_flags Flags = ttu_flags.TTU_UNMAP | ttu_flags.TTU_IGNORE_MLOCK | ttu_flags.TTU_IGNORE_ACCESS;

    /// <summary>An anonymous page at <see cref="A"/>, written by the CPU and mapped writable by the
    /// three secondaries; the reference try_to_unmap's caller holds (vmscan isolated it) is taken.</summary>
    private static (ScenarioRig rig, vm_area_struct vma, page page) MappedPage()
    {
        var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        rig.CpuFault(A, write: true);
        rig.SecondariesMap(A, write: true);
        page page = rig.CpuPage(A)!;
        get_page(page);
        return (rig, vma, page);
    }

    /// <summary>Unmaps with <paramref name="form"/>, checks the CPU side, then lets the caller drop
    /// its reference (the page is freed). Returns the rig for the secondary-side assertions.</summary>
    private static ScenarioRig Unmap(Func<page, vm_area_struct, ulong, bool> form, out bool freed)
    {
        var (rig, vma, page) = MappedPage();
        Assert.True(form(page, vma, A));
        Assert.Null(rig.CpuPage(A));
        Assert.Equal(0, page_mapcount(page));
        Assert.Equal(1, page_count(page));
        rig.Checker.CheckAll();
        freed = TestMm.Freed(() => put_page(page)).Contains(page);
        return rig;
    }

    /// <summary>The forms that must pass the after form's scenarios: the after form itself and
    /// the before forms as the code fixes left them (samples/Seeds.Fixed), seed 003's included
    /// (MMU006's bracket, MMU007's bytes, MMU008's alignment, MMU010's notifying clear).</summary>
    public static TheoryData<string> CorrectForms => new() { Forms.After, Forms.Seed004Fixed, Forms.Seed000Fixed, Forms.Seed003Fixed };

    private static Func<page, vm_area_struct, ulong, bool> UnmapOne(string form) => form switch
    {
        Forms.After => (p, v, a) => After.rmap.try_to_unmap_one(p, v, a, Flags),
        Forms.Seed004Fixed => (p, v, a) => Fixed004.rmap.try_to_unmap_one(p, v, a, Flags) == swap_results.SWAP_AGAIN,
        Forms.Seed000Fixed => (p, v, a) => Fixed000.rmap.try_to_unmap_one(p, v, a, Flags) == swap_results.SWAP_AGAIN,
        Forms.Seed003Fixed => (p, v, a) => Fixed003.rmap.try_to_unmap_one(p, v, a, Flags),
        _ => throw Forms.Unknown(form),
    };

    [Theory]
    [MemberData(nameof(CorrectForms))]
    public void try_to_unmap_one_after_form_invalidates_every_secondary_before_the_page_is_freed(string form)
    {
        using var rig = Unmap(UnmapOne(form), out bool freed);
        Assert.True(freed);
        Assert.Empty(rig.MappersOf(A));
        rig.AssertIds();
        Assert.Empty(rig.Checker.Violations);
    }

    [Fact]
    public void try_to_unmap_one_seed004_form_calls_invalidate_page_under_the_pt_lock()
    {
        using var rig = Unmap((p, v, a) => Before004.rmap.try_to_unmap_one(p, v, a, Flags) == swap_results.SWAP_AGAIN, out bool freed);
        Assert.True(freed);
        // invalidate_page reaches no notifier of today's API: KVM and the ODP mirror (start/end)
        // and the IOMMU (invalidate_range) all keep the page.
        Assert.Equal(new[] { "kvm", "odp", "iommu" }, rig.MappersOf(A));
        rig.AssertIds("COHERENCE", "MMU001", "MMU005", "MMU010");
    }

    [Fact]
    public void try_to_unmap_one_seed000_form_calls_invalidate_page_after_the_pt_lock()
    {
        using var rig = Unmap((p, v, a) => Before000.rmap.try_to_unmap_one(p, v, a, Flags) == swap_results.SWAP_AGAIN, out bool freed);
        Assert.True(freed);
        Assert.Equal(new[] { "kvm", "odp", "iommu" }, rig.MappersOf(A));
        rig.AssertIds("COHERENCE", "MMU001", "MMU010");
    }

    /// <summary>The range Andrea's bug 2 builds, [address, address + (1UL &lt;&lt; compound_order(page))),
    /// is a length in pages: the runtime reports it (MMU007, once, with the call stack) and goes on
    /// with the range rounded out to whole pages, [address, address + PAGE_SIZE).</summary>
    private static void AssertPagesNotBytes(ScenarioRig rig, Action form, ulong address, ulong pages)
    {
        form();   // no ArgumentException: a kernel could pass this range
        Assert.False(MmRuntime.InAtomicContext);
        var v = Assert.Single(rig.Sink.Violations, v => v.RuleId == "MMU007");
        Assert.StartsWith($"MMU007: mmu_notifier_invalidate_range({rig.Mm}, 0x{address:x}, 0x{address + pages:x}): ", v.Message, StringComparison.Ordinal);
        Assert.Contains("pages, not bytes", v.Message, StringComparison.Ordinal);
        Assert.Contains($"goes on with [0x{address:x}, 0x{address + PAGE_SIZE:x})", v.Message, StringComparison.Ordinal);
        Assert.Contains("rmap.", v.StackTrace, StringComparison.Ordinal);
        // the rmap walk's address is the page's own: aligned, so not MMU008
        Assert.DoesNotContain(rig.Sink.Violations, v => v.RuleId == "MMU008");
    }

    /// <summary>Bug 2 (a one-byte range: MMU007) and bug 1 (invalidate_range with no start/end:
    /// MMU006). The runtime goes on with the page-rounded range, so the IOMMU, which shares the CPU
    /// table and implements only invalidate_range, drops the page; for KVM and the ODP mirror
    /// (start/end notifiers) invalidate_range alone is a no-op: they keep it and it is freed under
    /// them.</summary>
    [Fact]
    public void try_to_unmap_one_seed003_form_builds_a_range_in_pages_and_only_the_iommu_hears_it()
    {
        var (rig, vma, page) = MappedPage();
        using (rig)
        {
            AssertPagesNotBytes(rig, () => Before003.rmap.try_to_unmap_one(page, vma, A, Flags), A, 1);
            Assert.Null(rig.CpuPage(A));
            Assert.Equal(0, page_mapcount(page));
            Assert.Equal(new[] { "kvm", "odp" }, rig.MappersOf(A));
            rig.Checker.CheckAll();
            Assert.Contains(page, TestMm.Freed(() => put_page(page)));
            rig.AssertIds("COHERENCE", "MMU006", "MMU007", "MMU010");
        }
    }

    [Fact]
    public void try_to_unmap_one_seed003_form_on_a_pte_mapped_thp_builds_512_bytes_not_2_MiB()
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        rig.AttachSecondaries(Base, HPAGE_PMD_SIZE);
        rig.CpuFault(Base, write: true);
        page head = rig.CpuPage(Base)!;
        Assert.True(PageTransHuge(head));
        split_huge_pmd(vma, mm_find_pmd(rig.Mm, Base)!, Base);   // PTE-mapped THP, as after a partial mprotect
        const ulong Tail = Base + 5 * PAGE_SIZE;
        Assert.NotNull(rig.Iommu.Translate(Tail, write: false));
        get_page(head);

        AssertPagesNotBytes(rig, () => Before003.rmap.try_to_unmap_one(head, vma, Base, Flags), Base, HPAGE_PMD_NR);
        for (ulong a = Base; a < Base + HPAGE_PMD_SIZE; a += PAGE_SIZE)
        {
            Assert.Null(rig.CpuPage(a));
        }

        // [Base, Base + 512) rounds to the first subpage only; the IOMMU keeps the tail.
        Assert.DoesNotContain("iommu", rig.MappersOf(Base));
        Assert.Contains("iommu", rig.MappersOf(Tail));
        rig.Checker.CheckAll();
        Assert.Contains(head, TestMm.Freed(() => put_page(head)));
        rig.AssertIds("COHERENCE", "MMU006", "MMU007", "MMU010");
    }

    /// <summary>Only the after form: the 2012 and 2017 forms unmap one pte per call (THPs were
    /// split before reclaim then), so a PTE-mapped THP is not their input.</summary>
    [Fact]
    public void try_to_unmap_one_after_form_on_a_pte_mapped_thp_invalidates_the_whole_huge_page()
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        rig.AttachSecondaries(Base, HPAGE_PMD_SIZE);
        rig.CpuFault(Base, write: true);
        page head = rig.CpuPage(Base)!;
        split_huge_pmd(vma, mm_find_pmd(rig.Mm, Base)!, Base);
        const ulong Tail = Base + 5 * PAGE_SIZE;
        rig.SecondariesMap(Tail, write: false);
        get_page(head);

        Assert.True(After.rmap.try_to_unmap_one(head, vma, Base, Flags));
        Assert.Empty(rig.MappersOf(Tail));
        Assert.Null(rig.CpuPage(Tail));
        Assert.Contains(head, TestMm.Freed(() => put_page(head)));
        rig.AssertIds();
    }

    // ---- page_mkclean_one ------------------------------------------------------------------

    /// <summary>Cleans with <paramref name="form"/>: the CPU pte must end clean and read-only.</summary>
    private static ScenarioRig Clean(Func<page, vm_area_struct, ulong, int> form)
    {
        var (rig, vma, page) = MappedPage();
        Assert.True(rig.Kvm.IsWritable(A));
        Assert.Equal(1, form(page, vma, A));
        pte_t pte = rig.CpuPte(A);
        Assert.True(pte_present(pte));
        Assert.False(pte_dirty(pte));
        Assert.False(pte_write(pte));
        Assert.Same(page, rig.CpuPage(A));
        put_page(page);
        rig.Checker.CheckAll();
        return rig;
    }

    private static Func<page, vm_area_struct, ulong, int> MkcleanOne(string form) => form switch
    {
        Forms.After => AfterMkcleanOne,
        Forms.Seed004Fixed => (p, v, a) => Fixed004.rmap.page_mkclean_one(p, v, a),
        Forms.Seed000Fixed => (p, v, a) => Fixed000.rmap.page_mkclean_one(p, v, a),
        Forms.Seed003Fixed => Fixed003MkcleanOne,
        _ => throw Forms.Unknown(form),
    };

    private static int Fixed003MkcleanOne(page p, vm_area_struct v, ulong a)
    {
        int cleaned = 0;
        Assert.True(Fixed003.rmap.page_mkclean_one(p, v, a, ref cleaned));
        return cleaned;
    }

    /// <summary>The 4.13 form counts into a ref and returns whether to go on; the older ones return the count.</summary>
    private static int AfterMkcleanOne(page p, vm_area_struct v, ulong a)
    {
        int cleaned = 0;
        Assert.True(After.rmap.page_mkclean_one(p, v, a, ref cleaned));
        return cleaned;
    }

    [Theory]
    [MemberData(nameof(CorrectForms))]
    public void page_mkclean_one_after_form_write_protects_every_secondary_too(string form)
    {
        using var rig = Clean(MkcleanOne(form));
        // Every secondary dropped its writable translation; a later write must fault again.
        Assert.False(rig.Kvm.IsWritable(A));
        Assert.Empty(rig.MappersOf(A));
        rig.AssertIds();
    }

    [Fact]
    public void page_mkclean_one_seed004_form_leaves_kvm_writing_behind_the_write_protect()
    {
        using var rig = Clean((p, v, a) => Before004.rmap.page_mkclean_one(p, v, a));
        // The page is written through KVM without a fault: dirty tracking (writeback) is lost.
        Assert.True(rig.Kvm.IsWritable(A));
        // invalidate_page ran between the clear and the re-set of the pte: at that "end" every
        // secondary still mapped the page the CPU did not map.
        rig.AssertIds("COHERENCE", "MMU001", "MMU005");
    }

    [Fact]
    public void page_mkclean_one_seed000_form_leaves_kvm_writing_behind_the_write_protect()
    {
        using var rig = Clean((p, v, a) => Before000.rmap.page_mkclean_one(p, v, a));
        Assert.True(rig.Kvm.IsWritable(A));
        rig.AssertIds("MMU001");
    }

    [Fact]
    public void page_mkclean_one_seed003_form_leaves_kvm_writing_behind_the_write_protect()
    {
        var (rig, vma, page) = MappedPage();
        using (rig)
        {
            int cleaned = 0;
            AssertPagesNotBytes(rig, () => Before003.rmap.page_mkclean_one(page, vma, A, ref cleaned), A, 1);
            Assert.Equal(1, cleaned);
            Assert.False(pte_write(rig.CpuPte(A)));
            Assert.True(rig.Kvm.IsWritable(A));
            Assert.DoesNotContain("iommu", rig.MappersOf(A));   // the page-rounded invalidate_range reached it
            put_page(page);
            rig.Checker.CheckAll();
            rig.AssertIds("MMU006", "MMU007");
        }
    }

    // ---- try_to_unmap_cluster --------------------------------------------------------------

    /// <summary>Eight pages mapped everywhere, each also referenced by "the page cache" (the
    /// cluster scan is for file pages: dropping the mapping never frees them).</summary>
    private static ScenarioRig Cluster(Func<vm_area_struct, page, int> form, out page[] pages)
    {
        var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        pages = new page[8];
        for (int i = 0; i < pages.Length; i++)
        {
            ulong a = Base + ((ulong)i * PAGE_SIZE);
            rig.CpuFault(a, write: true);
            rig.SecondariesMap(a, write: false);
            pages[i] = rig.CpuPage(a)!;
            get_page(pages[i]);
        }

        // First pass: every pte (and KVM's accessed bit) is young, so it is only aged.
        Assert.Equal(swap_results.SWAP_AGAIN, form(vma, pages[0]));
        Assert.NotNull(rig.CpuPage(Base));
        // Second pass: nothing was touched since, the cluster is unmapped.
        Assert.Equal(swap_results.SWAP_AGAIN, form(vma, pages[0]));
        for (int i = 0; i < pages.Length; i++)
        {
            Assert.Null(rig.CpuPage(Base + ((ulong)i * PAGE_SIZE)));
            Assert.Equal(0, page_mapcount(pages[i]));
        }

        rig.Checker.CheckAll();
        return rig;
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void try_to_unmap_cluster_after_form_unmaps_the_cluster_from_every_mmu(string form)
    {
        uint mapcount = 16;
        using var rig = Cluster(
            (v, p) => form switch
            {
                Forms.After => After.rmap.try_to_unmap_cluster(0, ref mapcount, v, p),
                Forms.Seed004Fixed => Fixed004.rmap.try_to_unmap_cluster(0, ref mapcount, v, p),
                _ => throw Forms.Unknown(form),
            },
            out page[] pages);
        Assert.Equal(8u, mapcount);
        Assert.Empty(rig.MappersOf(Base));
        foreach (page p in pages)
        {
            put_page(p);
        }

        rig.AssertIds();
    }

    [Fact]
    public void try_to_unmap_cluster_seed004_form_calls_invalidate_page_under_the_pt_lock()
    {
        uint mapcount = 16;
        using var rig = Cluster((v, p) => Before004.rmap.try_to_unmap_cluster(0, ref mapcount, v, p), out page[] pages);
        Assert.Equal(8u, mapcount);
        Assert.Equal(new[] { "kvm", "odp", "iommu" }, rig.MappersOf(Base));
        foreach (page p in pages)
        {
            put_page(p);
        }

        rig.AssertIds("COHERENCE", "MMU001", "MMU005", "MMU010");
    }
}
