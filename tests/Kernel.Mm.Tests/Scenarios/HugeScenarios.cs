extern alias fixedports;

using System;
using System.Linq;
using Kernel.Mm;
using Kernel.Mm.Tests.Core;
using Seeds.Common;
using Xunit;
using static Kernel.Mm.Linux;
using After = Seeds.After;
using Before004 = Seeds.Before.Seed004;
using Fixed004 = fixedports::Seeds.Before.Seed004;

namespace Kernel.Mm.Tests.Scenarios;

/// <summary>mm/huge_memory.c (THP) and mm/hugetlb.c, every form.</summary>
[Collection(ScenarioCollection.Name)]
public sealed class HugeScenarios
{
    private const ulong Base = ScenarioRig.Base;
    private const ulong Inside = Base + 3 * PAGE_SIZE;

    private delegate vm_fault_t do_huge_pmd_wp_page_fn(mm_struct mm, vm_area_struct vma, ulong address, pmd_ptr pmd, pmd_t orig_pmd);

    /// <summary>A THP shared copy-on-write with a forked child; the parent writes.</summary>
    private static void HugeCow(do_huge_pmd_wp_page_fn form, bool fallback, params string[] ids)
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        rig.AttachSecondaries(Base, HPAGE_PMD_SIZE);
        rig.CpuFault(Base, write: true);
        pmd_ptr pmd = mm_find_pmd(rig.Mm, Base)!;
        page head = pmd_page(pmdp_get(pmd));
        Assert.True(PageTransHuge(head));
        mm_struct child = dup_mm(rig.Mm);
        Assert.Equal(2, page_mapcount(head));
        rig.SecondariesMap(Inside, write: false);

        kernel.transparent_hugepage_debug_cow_enabled = fallback;
        try
        {
            vm_fault_t ret = form(rig.Mm, vma, Inside, pmd, pmdp_get(pmd));
            Assert.Equal(VM_FAULT_WRITE, ret & VM_FAULT_WRITE);
        }
        finally
        {
            kernel.transparent_hugepage_debug_cow_enabled = false;
        }

        Assert.False(MmRuntime.InAtomicContext);
        Assert.Equal(fallback, !pmd_trans_huge(pmdp_get(pmd)));   // the fallback maps 512 small pages
        for (ulong a = Base; a < Base + HPAGE_PMD_SIZE; a += PAGE_SIZE)
        {
            page? now = rig.CpuPage(a);
            Assert.NotNull(now);
            Assert.NotSame(compound_head(now!), head);
        }

        Assert.Equal(1, page_mapcount(head));                      // the child's mapping
        Assert.Empty(rig.StaleAt(Inside));
        rig.Checker.CheckAll();
        Assert.Contains(head, TestMm.Freed(() => mmput(child)));
        rig.AssertIds(ids);
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void do_huge_pmd_wp_page_after_form_copies_the_thp_inside_one_bracket(string form) =>
        HugeCow(form switch { Forms.After => After.huge_memory.do_huge_pmd_wp_page, Forms.Seed004Fixed => Fixed004.huge_memory.do_huge_pmd_wp_page, _ => throw Forms.Unknown(form) }, fallback: false);

    [Fact]
    public void do_huge_pmd_wp_page_seed004_form_notifies_under_the_page_table_lock() =>
        HugeCow(Before004.huge_memory.do_huge_pmd_wp_page, fallback: false, "MMU005");

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void do_huge_pmd_wp_page_fallback_after_form_copies_into_small_pages_inside_one_bracket(string form) =>
        HugeCow(form switch { Forms.After => After.huge_memory.do_huge_pmd_wp_page, Forms.Seed004Fixed => Fixed004.huge_memory.do_huge_pmd_wp_page, _ => throw Forms.Unknown(form) }, fallback: true);

    [Fact]
    public void do_huge_pmd_wp_page_fallback_seed004_form_notifies_under_the_page_table_lock() =>
        HugeCow(Before004.huge_memory.do_huge_pmd_wp_page, fallback: true, "MMU005");

    // ---- __split_huge_page_splitting ---------------------------------------------------------

    private static void Splitting(Func<page, vm_area_struct, ulong, int> form, params string[] ids)
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        rig.AttachSecondaries(Base, HPAGE_PMD_SIZE);
        rig.CpuFault(Base, write: true);
        pmd_ptr pmd = mm_find_pmd(rig.Mm, Base)!;
        page head = pmd_page(pmdp_get(pmd));
        rig.SecondariesMap(Inside, write: true);

        Assert.Equal(1, form(head, vma, Base));

        Assert.True(pmd_trans_splitting(pmdp_get(pmd)));
        Assert.True(pmd_trans_huge(pmdp_get(pmd)));               // still maps the page
        Assert.Empty(rig.MappersOf(Inside));                      // every secondary was flushed
        rig.Checker.CheckAll();
        rig.AssertIds(ids);
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void split_huge_page_splitting_after_form_brackets_outside_the_lock(string form) =>
        Splitting(form switch { Forms.After => After.huge_memory.__split_huge_page_splitting, Forms.Seed004Fixed => Fixed004.huge_memory.__split_huge_page_splitting, _ => throw Forms.Unknown(form) });

    [Fact]
    public void split_huge_page_splitting_seed004_form_notifies_under_the_page_table_lock() =>
        Splitting(Before004.huge_memory.__split_huge_page_splitting, "MMU005");

    // ---- collapse_huge_page ----------------------------------------------------------------

    private delegate void collapse_fn(mm_struct mm, ulong address, ref page? hpage, vm_area_struct vma, int node);

    private static void Collapse(collapse_fn form, params string[] ids)
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, HPAGE_PMD_SIZE);
        rig.AttachSecondaries(Base, HPAGE_PMD_SIZE);
        var small = new page[HPAGE_PMD_NR];
        for (int i = 0; i < HPAGE_PMD_NR; i++)
        {
            rig.CpuFault(Base + ((ulong)i * PAGE_SIZE), write: true);
            small[i] = rig.CpuPage(Base + ((ulong)i * PAGE_SIZE))!;
        }

        vma.vm_flags |= VM_HUGEPAGE;                              // madvise(MADV_HUGEPAGE) afterwards
        rig.SecondariesMap(Inside, write: true);

        page? hpage = null;
        down_read(rig.Mm.mmap_sem);                               // khugepaged_scan_mm_slot holds it
        var freed = TestMm.Freed(() => form(rig.Mm, Base, ref hpage, vma, 0));

        Assert.Null(hpage);
        pmd_t pmdval = pmdp_get(mm_find_pmd(rig.Mm, Base)!);
        Assert.True(pmd_trans_huge(pmdval));
        Assert.All(small, p => Assert.Contains(p, freed));        // the small pages went back
        Assert.Empty(rig.MappersOf(Inside));
        Assert.NotNull(rig.Kvm.Access(Inside, write: false));      // and secondaries refault the huge page
        Assert.Same(rig.CpuPage(Inside), rig.Kvm.Access(Inside, write: false));
        rig.Checker.CheckAll();
        Assert.Empty(rig.Checker.Violations);                     // no secondary kept a small page

        // The small pages' pte_clear in __collapse_huge_page_copy happens in the table the
        // bracketed pmd clear already detached, so MMU010 stays silent: only the form's own reports.
        var reported = rig.Sink.Violations.Select(v => v.RuleId).Distinct().OrderBy(id => id, StringComparer.Ordinal);
        Assert.Equal(ids, reported);
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void collapse_huge_page_after_form_clears_the_pmd_inside_one_bracket(string form) =>
        Collapse(form switch { Forms.After => After.huge_memory.collapse_huge_page, Forms.Seed004Fixed => Fixed004.huge_memory.collapse_huge_page, _ => throw Forms.Unknown(form) });

    [Fact]
    public void collapse_huge_page_seed004_form_notifies_under_the_page_table_lock() =>
        Collapse(Before004.huge_memory.collapse_huge_page, "MMU005");

    // ---- hugetlb ---------------------------------------------------------------------------

    private static void UnmapHuge(Action<mmu_gather, vm_area_struct, ulong, ulong, page?> form)
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, 2 * HPAGE_PMD_SIZE, VM_HUGETLB);
        rig.AttachSecondaries(Base, 2 * HPAGE_PMD_SIZE);
        rig.CpuFault(Base, write: true);
        rig.CpuFault(Base + HPAGE_PMD_SIZE, write: true);
        page first = compound_head(rig.CpuPage(Base)!);
        page second = compound_head(rig.CpuPage(Base + HPAGE_PMD_SIZE)!);
        Assert.True(PageHuge(first));
        rig.SecondariesMap(Inside, write: true);
        rig.SecondariesMap(Base + HPAGE_PMD_SIZE + PAGE_SIZE, write: false);

        var tlb = new mmu_gather();
        var freed = TestMm.Freed(() =>
        {
            kernel.tlb_gather_mmu(tlb, rig.Mm, false);
            form(tlb, vma, Base, Base + (2 * HPAGE_PMD_SIZE), null);
            Assert.Equal(2, tlb.PendingPages);                    // freed only after the flush
            Assert.Empty(rig.MappersOf(Inside));
            kernel.tlb_finish_mmu(tlb, Base, Base + (2 * HPAGE_PMD_SIZE));
        });

        Assert.Contains(first, freed);
        Assert.Contains(second, freed);
        Assert.Null(rig.CpuPage(Inside));
        Assert.Empty(rig.MappersOf(Base + HPAGE_PMD_SIZE + PAGE_SIZE));
        rig.Checker.CheckAll();
        rig.AssertIds();
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void unmap_hugepage_range_after_form_frees_after_the_bracket(string form) =>
        UnmapHuge(form switch { Forms.After => After.hugetlb.__unmap_hugepage_range, Forms.Seed004Fixed => Fixed004.hugetlb.__unmap_hugepage_range, _ => throw Forms.Unknown(form) });

    /// <summary>Seed 004 only renamed start/end to the mmun_ convention here: the same run.</summary>
    [Fact]
    public void unmap_hugepage_range_seed004_form_is_the_same_at_run_time() =>
        UnmapHuge(Before004.hugetlb.__unmap_hugepage_range);

    private delegate vm_fault_t hugetlb_cow_fn(mm_struct mm, vm_area_struct vma, ulong address, pte_ptr ptep, pte_t pte, page? pagecache_page);

    private static void HugetlbCow(hugetlb_cow_fn form, params string[] ids)
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, HPAGE_PMD_SIZE, VM_HUGETLB);
        rig.AttachSecondaries(Base, HPAGE_PMD_SIZE);
        rig.CpuFault(Base, write: true);
        page old = compound_head(rig.CpuPage(Base)!);
        mm_struct child = dup_mm(rig.Mm);
        Assert.Equal(2, page_mapcount(old));
        rig.SecondariesMap(Inside, write: false);

        spin_lock(rig.Mm.page_table_lock);                        // hugetlb_fault holds it
        pte_ptr ptep = huge_pte_offset(rig.Mm, Base)!;
        vm_fault_t ret = form(rig.Mm, vma, Inside, ptep, huge_ptep_get(ptep), null);
        Assert.True(spin_is_locked(rig.Mm.page_table_lock));      // "Caller expects lock to be held"
        spin_unlock(rig.Mm.page_table_lock);

        Assert.Equal(0, (int)(ret & VM_FAULT_ERROR));
        page now = compound_head(rig.CpuPage(Inside)!);
        Assert.NotSame(old, now);
        Assert.True(pte_write(huge_ptep_get(huge_pte_offset(rig.Mm, Base)!)));
        Assert.Empty(rig.StaleAt(Inside));
        rig.Checker.CheckAll();
        Assert.Contains(old, TestMm.Freed(() => mmput(child)));
        rig.AssertIds(ids);
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void hugetlb_cow_after_form_brackets_outside_the_page_table_lock(string form) =>
        HugetlbCow(form switch { Forms.After => After.hugetlb.hugetlb_cow, Forms.Seed004Fixed => Fixed004.hugetlb.hugetlb_cow, _ => throw Forms.Unknown(form) });

    [Fact]
    public void hugetlb_cow_seed004_form_notifies_under_the_page_table_lock() =>
        HugetlbCow(Before004.hugetlb.hugetlb_cow, "MMU005");
}
