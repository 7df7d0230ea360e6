extern alias fixedports;

using System;
using Kernel.Mm;
using Kernel.Mm.Tests.Core;
using Seeds.Common;
using Xunit;
using static Kernel.Mm.Linux;
using After = Seeds.After;
using Before002 = Seeds.Before.Seed002;
using Before004 = Seeds.Before.Seed004;
using Fixed002 = fixedports::Seeds.Before.Seed002;
using Fixed004 = fixedports::Seeds.Before.Seed004;

namespace Kernel.Mm.Tests.Scenarios;

/// <summary>do_wp_page, copy_page_range (mm/memory.c) and move_page_tables (mm/mremap.c).</summary>
[Collection(ScenarioCollection.Name)]
public sealed class MemoryScenarios
{
    private const ulong Base = ScenarioRig.Base;
    private const ulong Size = 16 * PAGE_SIZE;
    private const ulong A = Base + 3 * PAGE_SIZE;

    private delegate vm_fault_t do_wp_page_fn(mm_struct mm, vm_area_struct vma, ulong address,
                                              pte_ptr page_table, pmd_ptr pmd, spinlock_t ptl, pte_t orig_pte);

    /// <summary>
    /// A page shared copy-on-write with a forked child, mapped read-only by the three secondaries;
    /// then the parent writes: do_wp_page (entered with the pte lock held, as handle_pte_fault
    /// calls it). Returns the rig, the child and the old page.
    /// </summary>
    private static (ScenarioRig rig, mm_struct child, page old) Cow(do_wp_page_fn form)
    {
        var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        rig.CpuFault(A, write: true);
        page old = rig.CpuPage(A)!;
        mm_struct child = dup_mm(rig.Mm);
        Assert.Equal(2, page_mapcount(old));
        Assert.False(pte_write(rig.CpuPte(A)));
        rig.SecondariesMap(A, write: false);

        pmd_ptr pmd = mm_find_pmd(rig.Mm, A)!;
        pte_ptr pte = pte_offset_map_lock(rig.Mm, pmd, A, out spinlock_t ptl);
        vm_fault_t ret = form(rig.Mm, vma, A, pte, pmd, ptl, ptep_get(pte));

        Assert.False(MmRuntime.InAtomicContext);
        Assert.Equal(VM_FAULT_WRITE, ret & VM_FAULT_WRITE);
        page? copy = rig.CpuPage(A);
        Assert.NotNull(copy);
        Assert.NotSame(old, copy);
        Assert.True(pte_write(rig.CpuPte(A)));
        Assert.Equal(1, page_mapcount(old));                 // the child's mapping
        Assert.Same(old, rig.CpuPage(A, child));
        rig.Checker.CheckAll();
        return (rig, child, old);
    }

    /// <summary>The after form, and the seed 002 and 004 forms as the code fixes left them
    /// (samples/Seeds.Fixed): MMU009's fix brackets the COW with start before the lock is
    /// retaken and end after each unlock under seed 002's own <c>mmun_called</c> flag.</summary>
    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed002Fixed)]
    [InlineData(Forms.Seed004Fixed)]
    public void do_wp_page_after_form_brackets_the_cow_and_leaves_no_secondary_on_the_old_page(string form)
    {
        var (rig, child, old) = Cow(form switch
        {
            Forms.After => After.memory.do_wp_page,
            Forms.Seed002Fixed => Fixed002.memory.do_wp_page,
            Forms.Seed004Fixed => Fixed004.memory.do_wp_page,
            _ => throw Forms.Unknown(form),
        });
        using (rig)
        {
            Assert.Empty(rig.StaleAt(A));
            Assert.Contains(old, TestMm.Freed(() => mmput(child)));
            rig.AssertIds();
        }
    }

    [Fact]
    public void do_wp_page_seed002_form_changes_the_pte_outside_start_end_and_calls_invalidate_page()
    {
        var (rig, child, old) = Cow(Before002.memory.do_wp_page);
        using (rig)
        {
            // KVM follows change_pte to the copy; the ODP mirror and the IOMMU are never told.
            Assert.Equal(new[] { "odp", "iommu" }, rig.StaleAt(A));
            Assert.Contains(old, TestMm.Freed(() => mmput(child)));
            rig.AssertIds("COHERENCE", "MMU001", "MMU009", "MMU010");
        }
    }

    [Fact]
    public void do_wp_page_seed004_form_changes_the_pte_outside_start_end()
    {
        var (rig, child, old) = Cow(Before004.memory.do_wp_page);
        using (rig)
        {
            Assert.Equal(new[] { "odp", "iommu" }, rig.StaleAt(A));
            Assert.Contains(old, TestMm.Freed(() => mmput(child)));
            rig.AssertIds("COHERENCE", "MMU009", "MMU010");
        }
    }

    [Fact]
    public void do_wp_page_reuses_a_page_only_we_map_in_every_form()
    {
        foreach (do_wp_page_fn form in new do_wp_page_fn[] { After.memory.do_wp_page, Before002.memory.do_wp_page, Before004.memory.do_wp_page, Fixed002.memory.do_wp_page, Fixed004.memory.do_wp_page })
        {
            using var rig = new ScenarioRig();
            var vma = rig.AddVma(Base, Size);
            rig.AttachSecondaries(Base, Size);
            rig.CpuFault(A, write: false);
            page mine = rig.CpuPage(A)!;
            rig.SecondariesMap(A, write: false);
            pmd_ptr pmd = mm_find_pmd(rig.Mm, A)!;
            pte_ptr pte = pte_offset_map_lock(rig.Mm, pmd, A, out spinlock_t ptl);
            ptep_set_wrprotect(rig.Mm, A, pte);                  // as after an mprotect round trip
            Assert.Equal(VM_FAULT_WRITE, form(rig.Mm, vma, A, pte, pmd, ptl, ptep_get(pte)) & VM_FAULT_WRITE);
            Assert.Same(mine, rig.CpuPage(A));
            Assert.True(pte_write(rig.CpuPte(A)));
            rig.Checker.CheckAll();
            rig.AssertIds();
        }
    }

    // ---- copy_page_range -------------------------------------------------------------------

    private static void Fork(Func<mm_struct, mm_struct, vm_area_struct, int> form)
    {
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        for (ulong a = Base; a < Base + (4 * PAGE_SIZE); a += PAGE_SIZE)
        {
            rig.CpuFault(a, write: true);
        }

        rig.SecondariesMap(Base + PAGE_SIZE, write: true);
        Assert.True(rig.Kvm.IsWritable(Base + PAGE_SIZE));

        // dup_mmap: the child's vma exists (same range, same anon_vma) before the copy.
        mm_struct child = mm_alloc();
        var tmp = vm_area_alloc(child);
        tmp.vm_start = vma.vm_start;
        tmp.vm_end = vma.vm_end;
        tmp.vm_flags = vma.vm_flags;
        tmp.vm_pgoff = vma.vm_pgoff;
        tmp.anon_vma = vma.anon_vma;
        Assert.Equal(0, insert_vm_struct(child, tmp));

        Assert.Equal(0, form(child, rig.Mm, vma));

        for (ulong a = Base; a < Base + (4 * PAGE_SIZE); a += PAGE_SIZE)
        {
            Assert.Same(rig.CpuPage(a), rig.CpuPage(a, child));
            Assert.False(pte_write(rig.CpuPte(a)));           // COW: write-protected in the parent
            Assert.False(pte_write(rig.CpuPte(a, child)));
            Assert.Equal(2, page_mapcount(rig.CpuPage(a)!));
        }

        // The parent's ptes were downgraded inside start/end: no secondary may still write.
        Assert.False(rig.Kvm.IsWritable(Base + PAGE_SIZE));
        Assert.Empty(rig.MappersOf(Base + PAGE_SIZE));
        rig.Checker.CheckAll();
        mmput(child);
        rig.AssertIds();
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void copy_page_range_after_form_write_protects_the_parent_inside_one_bracket(string form) =>
        Fork(form switch { Forms.After => After.memory.copy_page_range, Forms.Seed004Fixed => Fixed004.memory.copy_page_range, _ => throw Forms.Unknown(form) });

    /// <summary>The seed 004 form ends with vma->vm_start where it started with addr: the same
    /// value at run time (addr starts at vm_start), so nothing is reported; the defect is the
    /// analyzer's MMU003.</summary>
    [Fact]
    public void copy_page_range_seed004_form_ends_the_same_range_at_run_time() =>
        Fork(Before004.memory.copy_page_range);

    // ---- move_page_tables ------------------------------------------------------------------

    private static void Move(Func<vm_area_struct, ulong, vm_area_struct, ulong, ulong, ulong> form)
    {
        const ulong NewBase = Base + 0x10000000UL;   // another pmd, another pud
        using var rig = new ScenarioRig();
        var vma = rig.AddVma(Base, Size);
        rig.AttachSecondaries(Base, Size);
        var pages = new page[Size / PAGE_SIZE];
        for (ulong i = 0; i < Size / PAGE_SIZE; i++)
        {
            rig.CpuFault(Base + (i * PAGE_SIZE), write: true);
            pages[i] = rig.CpuPage(Base + (i * PAGE_SIZE))!;
        }

        rig.SecondariesMap(A, write: true);

        // copy_vma(): the new vma keeps the page offset and the anon_vma, so rmap still finds them.
        var new_vma = vm_area_alloc(rig.Mm);
        new_vma.vm_start = NewBase;
        new_vma.vm_end = NewBase + Size;
        new_vma.vm_flags = vma.vm_flags;
        new_vma.vm_pgoff = vma.vm_pgoff;
        new_vma.anon_vma = vma.anon_vma;
        Assert.Equal(0, insert_vm_struct(rig.Mm, new_vma));

        Assert.Equal(Size, form(vma, Base, new_vma, NewBase, Size));

        for (ulong i = 0; i < Size / PAGE_SIZE; i++)
        {
            Assert.Null(rig.CpuPage(Base + (i * PAGE_SIZE)));
            Assert.Same(pages[i], rig.CpuPage(NewBase + (i * PAGE_SIZE)));
            Assert.Equal(NewBase + (i * PAGE_SIZE), vma_address(pages[i], new_vma));
        }

        Assert.Empty(rig.MappersOf(A));
        rig.Checker.CheckAll();
        rig.AssertIds();
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    public void move_page_tables_after_form_moves_every_pte_inside_one_bracket(string form) =>
        Move(form switch { Forms.After => After.mremap.move_page_tables, Forms.Seed004Fixed => Fixed004.mremap.move_page_tables, _ => throw Forms.Unknown(form) });

    /// <summary>The seed 004 form ends with old_end-len: after a complete move that is the old
    /// start again, so the range matches at run time; the defect is the analyzer's MMU003.</summary>
    [Fact]
    public void move_page_tables_seed004_form_ends_the_same_range_at_run_time() =>
        Move(Before004.mremap.move_page_tables);
}
