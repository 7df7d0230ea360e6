using System;
using System.Collections.Generic;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

public class PageTableTests
{
    [Fact]
    public void Read_and_write_faults_map_a_private_anonymous_page()
    {
        var (mm, vma) = TestMm.Anon();
        Assert.Equal(0, (int)handle_mm_fault(vma, TestMm.Base + 5, 0));
        var pte = TestMm.PteOf(mm, TestMm.Base);
        Assert.True(pte_present(pte));
        Assert.False(pte_dirty(pte));
        Assert.True(pte_young(pte));
        var p = pte_page(pte);
        Assert.True(PageAnon(p));
        Assert.Equal(1, page_mapcount(p));
        Assert.Equal(1, page_count(p));
        Assert.Equal(TestMm.Base >> PAGE_SHIFT, p.index);

        Assert.Equal(0, (int)handle_mm_fault(vma, TestMm.Base + 5, FAULT_FLAG_WRITE));
        Assert.True(pte_dirty(TestMm.PteOf(mm, TestMm.Base)));
        Assert.Same(p, TestMm.PageAt(mm, TestMm.Base)); // the same page, now dirty
        mmput(mm);
    }

    [Fact]
    public void Write_to_a_read_only_vma_is_refused()
    {
        var mm = mm_alloc();
        var vma = vm_area_alloc(mm);
        vma.vm_start = TestMm.Base;
        vma.vm_end = TestMm.Base + PAGE_SIZE;
        vma.vm_flags = VM_READ;
        insert_vm_struct(mm, vma);
        Assert.NotEqual(0, (int)(handle_mm_fault(vma, TestMm.Base, FAULT_FLAG_WRITE) & VM_FAULT_SIGSEGV));
        mmput(mm);
    }

    [Fact]
    public void Bad_vma_and_fault_input_is_rejected_with_the_value()
    {
        var mm = mm_alloc();
        var vma = vm_area_alloc(mm);
        vma.vm_start = TestMm.Base + 1;
        vma.vm_end = TestMm.Base + PAGE_SIZE;
        var e = Assert.Throws<ArgumentException>(() => insert_vm_struct(mm, vma));
        Assert.Contains("insert_vm_struct", e.Message);
        Assert.Contains("0x10000001", e.Message);

        vma.vm_start = TestMm.Base;
        vma.vm_flags = VM_READ | VM_WRITE;
        Assert.Equal(0, insert_vm_struct(mm, vma));
        var overlap = vm_area_alloc(mm);
        overlap.vm_start = TestMm.Base;
        overlap.vm_end = TestMm.Base + (2 * PAGE_SIZE);
        Assert.Equal(-ENOMEM, insert_vm_struct(mm, overlap));

        var e2 = Assert.Throws<ArgumentException>(() => handle_mm_fault(vma, TestMm.Base + PAGE_SIZE, 0));
        Assert.Contains("handle_mm_fault", e2.Message);
        Assert.Contains("0x10001000", e2.Message);
        Assert.Same(vma, find_vma(mm, 0));                  // kernel semantics: first vma ending above
        Assert.Null(vma_lookup(mm, 0));
        Assert.Null(find_vma(mm, TestMm.Base + PAGE_SIZE));
        mmput(mm);
    }

    [Fact]
    public void Pte_offset_map_lock_holds_the_split_pte_lock_until_unmap_unlock()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, TestMm.Base, FAULT_FLAG_WRITE);
        var pmd = mm_find_pmd(mm, TestMm.Base)!;
        var pte = pte_offset_map_lock(mm, pmd, TestMm.Base, out var ptl);
        Assert.Same(pte_lockptr(mm, pmd), ptl);
        Assert.NotSame(mm.page_table_lock, ptl);
        Assert.True(spin_is_locked(ptl));
        Assert.True(MmRuntime.InAtomicContext);
        Assert.True(pte_present(ptep_get(pte)));
        var next = pte + 1;
        Assert.Equal(TestMm.Base + PAGE_SIZE, next.Address);
        Assert.Equal(pte, next - 1);
        pte_unmap_unlock(pte, ptl);
        Assert.False(spin_is_locked(ptl));
        Assert.False(MmRuntime.InAtomicContext);

        var e = Assert.Throws<InvalidOperationException>(() => pte_unmap_unlock(pte, ptl));
        Assert.Contains("pte_unmap_unlock", e.Message);
        Assert.Contains("not held", e.Message);
        mmput(mm);
    }

    [Fact]
    public void Page_check_address_returns_the_pte_with_the_lock_only_when_the_page_is_mapped_there()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, TestMm.Base, FAULT_FLAG_WRITE);
        handle_mm_fault(vma, TestMm.Base + PAGE_SIZE, FAULT_FLAG_WRITE);
        var p0 = TestMm.PageAt(mm, TestMm.Base);

        var pte = page_check_address(p0, mm, TestMm.Base, out var ptl, 0);
        Assert.NotNull(pte);
        Assert.True(ptl.IsHeldByCurrentThread);
        pte_unmap_unlock(pte!, ptl);

        Assert.Null(page_check_address(p0, mm, TestMm.Base + PAGE_SIZE, out var ptl2, 0));
        Assert.False(ptl2.IsHeldByCurrentThread);
        Assert.Null(page_check_address(p0, mm, TestMm.Base + (8 * PAGE_SIZE), out _, 1));
        Assert.False(MmRuntime.InAtomicContext);
        mmput(mm);
    }

    [Fact]
    public void Pte_bit_helpers_round_trip()
    {
        var p = alloc_page(GFP_KERNEL)!;
        var pte = mk_pte(p, PAGE_SHARED);
        Assert.True(pte_present(pte));
        Assert.True(pte_write(pte));
        Assert.Equal(page_to_pfn(p), pte_pfn(pte));
        Assert.False(pte_write(pte_wrprotect(pte)));
        Assert.True(pte_dirty(pte_mkdirty(pte)));
        Assert.False(pte_dirty(pte_mkclean(pte_mkdirty(pte))));
        Assert.False(pte_young(pte_mkold(pte)));
        Assert.True(pte_write(pte_mkwrite(pte_wrprotect(pte))));
        Assert.True(pte_same(pte, mk_pte(p, PAGE_SHARED)));
        Assert.True(pte_none(default));
        Assert.Same(p, pte_page(pte));
        var pmd = pmd_mkhuge(mk_pmd(p, PAGE_SHARED));
        Assert.True(pmd_trans_huge(pmd));
        Assert.True(pmd_present(pmd));
        Assert.False(pmd_write(pmd_wrprotect(pmd)));
        Assert.True(pmd_dirty(pmd_mkdirty(pmd)));
        Assert.True(pmd_same(pmd, pmd_mkhuge(mk_pmd(p, PAGE_SHARED))));
        put_page(p);
    }

    [Fact]
    public void Write_after_fork_breaks_cow_with_a_copy_and_both_sides_keep_their_data()
    {
        var (parent, pvma) = TestMm.Anon();
        handle_mm_fault(pvma, TestMm.Base, FAULT_FLAG_WRITE);
        var original = TestMm.PageAt(parent, TestMm.Base);
        kmap(original)[0] = 42;

        var child = dup_mm(parent);
        var cvma = find_vma(child, TestMm.Base)!;
        Assert.Same(original, TestMm.PageAt(child, TestMm.Base));
        Assert.Equal(2, page_mapcount(original));
        Assert.Equal(2, page_count(original));
        Assert.False(pte_write(TestMm.PteOf(parent, TestMm.Base)));
        Assert.False(pte_write(TestMm.PteOf(child, TestMm.Base)));

        var mn = RecordingNotifier.Create(withInvalidateRange: true);
        mn.RegisterOn(child);
        Assert.Equal((int)VM_FAULT_WRITE, (int)handle_mm_fault(cvma, TestMm.Base + 8, FAULT_FLAG_WRITE));
        var copy = TestMm.PageAt(child, TestMm.Base);
        Assert.NotSame(original, copy);
        Assert.Equal(42, kmap(copy)[0]);
        kmap(copy)[0] = 7;
        Assert.Equal(42, kmap(original)[0]);
        Assert.Equal(1, page_mapcount(original));
        Assert.Equal(1, page_count(original));
        Assert.True(pte_write(TestMm.PteOf(child, TestMm.Base)));
        // COW is bracketed: start, change_pte and invalidate_range under the lock, end.
        Assert.Equal(
            new[] { "start 10000000-10001000", "range 10000000-10001000", "change_pte 10000000", "range 10000000-10001000", "end 10000000-10001000" },
            mn.Snapshot());

        // The parent is now the only mapper: its write reuses the page in place.
        Assert.Equal((int)VM_FAULT_WRITE, (int)handle_mm_fault(pvma, TestMm.Base, FAULT_FLAG_WRITE));
        Assert.Same(original, TestMm.PageAt(parent, TestMm.Base));
        mn.UnregisterFrom(child);
        var freed = TestMm.Freed(() =>
        {
            mmput(child);
            mmput(parent);
        });
        Assert.Contains(original, freed);
        Assert.Contains(copy, freed);
    }

    [Fact]
    public void Thp_fault_installs_a_huge_pmd_and_split_makes_512_ptes()
    {
        ulong start = 0x40000000UL;
        var (mm, vma) = TestMm.Anon(start, 2 * HPAGE_PMD_SIZE, VM_HUGEPAGE);
        handle_mm_fault(vma, start + 0x1234, FAULT_FLAG_WRITE);
        var pmd = mm_find_pmd(mm, start)!;
        var v = pmdp_get(pmd);
        Assert.True(pmd_trans_huge(v));
        var head = pmd_page(v);
        Assert.True(PageTransHuge(head));
        Assert.Equal(1, page_count(head));
        Assert.Equal(1, page_mapcount(head));
        Assert.Equal(1, page_mapcount(pfn_to_page(page_to_pfn(head) + 100))); // PMD-mapped: every subpage

        var mn = RecordingNotifier.Create(withInvalidateRange: true);
        mn.RegisterOn(mm);
        split_huge_pmd(vma, pmd, start + 0x5000);
        Assert.False(pmd_trans_huge(pmdp_get(pmd)));
        for (int i = 0; i < HPAGE_PMD_NR; i += 51)
        {
            var pte = ptep_get(pte_offset_map(pmd, start + ((ulong)i * PAGE_SIZE)));
            Assert.True(pte_present(pte));
            Assert.True(pte_write(pte));
            Assert.Equal(page_to_pfn(head) + (ulong)i, pte_pfn(pte));
        }

        Assert.Equal(HPAGE_PMD_NR, page_count(head));   // one reference per PTE mapping
        Assert.Equal(HPAGE_PMD_NR, total_mapcount(head));
        Assert.Equal(new[] { "start 40000000-40200000", "range 40000000-40200000", "end 40000000-40200000" }, mn.Snapshot());

        // Now split the compound page itself.
        get_page(head);
        Assert.Equal(0, split_huge_page(head));
        Assert.False(PageCompound(head));
        var tail = pfn_to_page(page_to_pfn(head) + 3);
        Assert.False(PageTail(tail));
        Assert.Equal(1, page_count(tail));
        Assert.Equal(2, page_count(head));
        put_page(head);

        mn.UnregisterFrom(mm);
        var freed = TestMm.Freed(() => mmput(mm));
        Assert.Contains(head, freed);
        Assert.Contains(tail, freed);
    }

    [Fact]
    public void Write_to_a_shared_thp_after_fork_splits_and_copies_one_page()
    {
        ulong start = 0x80000000UL;
        var (parent, pvma) = TestMm.Anon(start, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        handle_mm_fault(pvma, start, FAULT_FLAG_WRITE);
        var head = pmd_page(pmdp_get(mm_find_pmd(parent, start)!));
        var child = dup_mm(parent);
        Assert.Equal(2, page_count(head));
        var cvma = find_vma(child, start)!;
        handle_mm_fault(cvma, start + PAGE_SIZE, FAULT_FLAG_WRITE);
        var cpmd = mm_find_pmd(child, start)!;
        Assert.False(pmd_trans_huge(pmdp_get(cpmd)));
        Assert.NotEqual(page_to_pfn(head) + 1, pte_pfn(ptep_get(pte_offset_map(cpmd, start + PAGE_SIZE))));
        Assert.Equal(page_to_pfn(head) + 2, pte_pfn(ptep_get(pte_offset_map(cpmd, start + (2 * PAGE_SIZE)))));
        var freed = TestMm.Freed(() =>
        {
            mmput(child);
            mmput(parent);
        });
        Assert.Contains(head, freed);
    }

    [Fact]
    public void Hugetlb_fault_maps_a_huge_page_and_cow_after_fork_copies_it()
    {
        ulong start = 0xC0000000UL;
        var (parent, pvma) = TestMm.Anon(start, HPAGE_PMD_SIZE, VM_HUGETLB);
        handle_mm_fault(pvma, start + 0x10, FAULT_FLAG_WRITE);
        var h = hstate_vma(pvma);
        Assert.Equal(HPAGE_PMD_SIZE, huge_page_size(h));
        Assert.Equal(HPAGE_PMD_MASK, huge_page_mask(h));
        var ptep = huge_pte_offset(parent, start)!;
        var entry = huge_ptep_get(ptep);
        var hpage = pte_page(entry);
        Assert.True(PageHuge(hpage));
        Assert.True(PageHead(hpage));

        var child = dup_mm(parent);
        var cvma = find_vma(child, start)!;
        var mn = RecordingNotifier.Create();
        mmu_notifier_register(mn, child);
        handle_mm_fault(cvma, start + 0x20, FAULT_FLAG_WRITE);
        var centry = huge_ptep_get(huge_pte_offset(child, start)!);
        Assert.NotEqual(pte_pfn(entry), pte_pfn(centry));
        Assert.True(huge_pte_write(centry));
        Assert.Equal(new[] { "start c0000000-c0200000", "end c0000000-c0200000" }, mn.Snapshot());
        mmu_notifier_unregister(mn, child);
        var freed = TestMm.Freed(() =>
        {
            mmput(child);
            mmput(parent);
        });
        Assert.Contains(hpage, freed);
    }

    [Fact]
    public void Zap_and_munmap_unmap_and_free_after_the_invalidation()
    {
        var (mm, vma) = TestMm.Anon();
        handle_mm_fault(vma, TestMm.Base, FAULT_FLAG_WRITE);
        handle_mm_fault(vma, TestMm.Base + PAGE_SIZE, FAULT_FLAG_WRITE);
        var p0 = TestMm.PageAt(mm, TestMm.Base);
        var p1 = TestMm.PageAt(mm, TestMm.Base + PAGE_SIZE);
        bool freedBeforeEnd = false;
        bool ended = false;
        mm.InvalidationEnded += (_, _, _) => ended = true;
        Action<page> onFree = p =>
        {
            if (ReferenceEquals(p, p0) && !ended)
            {
                freedBeforeEnd = true;
            }
        };
        MmRuntime.PageFreeing += onFree;
        try
        {
            zap_page_range(vma, TestMm.Base, PAGE_SIZE);
        }
        finally
        {
            MmRuntime.PageFreeing -= onFree;
        }

        Assert.False(freedBeforeEnd);
        Assert.True(pte_none(TestMm.PteOf(mm, TestMm.Base)));
        var freed = TestMm.Freed(() => Assert.Equal(0, do_munmap(mm, TestMm.Base + PAGE_SIZE, PAGE_SIZE)));
        Assert.Contains(p1, freed);
        Assert.Null(vma_lookup(mm, TestMm.Base + PAGE_SIZE));
        Assert.Equal(TestMm.Base + (2 * PAGE_SIZE), find_vma(mm, TestMm.Base + PAGE_SIZE)!.vm_start);
        Assert.Equal(TestMm.Base + PAGE_SIZE, find_vma(mm, TestMm.Base)!.vm_end);
        var e = Assert.Throws<ArgumentException>(() => zap_page_range(vma, TestMm.Base + 1, PAGE_SIZE));
        Assert.Contains("zap_page_range", e.Message);
        mmput(mm);
    }

    [Fact]
    public void Page_check_address_pmd_requires_the_page_table_lock()
    {
        ulong start = 0x100000000UL;
        var (mm, vma) = TestMm.Anon(start, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        handle_mm_fault(vma, start, FAULT_FLAG_WRITE);
        var head = pmd_page(pmdp_get(mm_find_pmd(mm, start)!));
        var e = Assert.Throws<InvalidOperationException>(() => page_check_address_pmd(head, mm, start, PAGE_CHECK_ADDRESS_PMD_FLAG));
        Assert.Contains("page_table_lock", e.Message);

        spin_lock(mm.page_table_lock);
        var pmd = page_check_address_pmd(head, mm, start, PAGE_CHECK_ADDRESS_PMD_NOTSPLITTING_FLAG);
        Assert.NotNull(pmd);
        pmdp_splitting_flush(vma, start, pmd!);
        Assert.Null(page_check_address_pmd(head, mm, start, PAGE_CHECK_ADDRESS_PMD_NOTSPLITTING_FLAG));
        Assert.NotNull(page_check_address_pmd(head, mm, start, PAGE_CHECK_ADDRESS_PMD_SPLITTING_FLAG));
        spin_unlock(mm.page_table_lock);
        mmput(mm);
    }

    [Fact]
    public void Unmapping_part_of_a_thp_splits_it_under_its_own_bracket_and_reports_nothing()
    {
        ulong start = 0x1C0000000UL;
        var (mm, vma) = TestMm.Anon(start, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        handle_mm_fault(vma, start, FAULT_FLAG_WRITE);
        var head = pmd_page(pmdp_get(mm_find_pmd(mm, start)!));
        var mn = RecordingNotifier.Create();
        mmu_notifier_register(mn, mm);
        var sink = new CollectingViolationSink();
        HashSet<page> freed;
        using (MmRuntime.UseSink(sink))
        {
            zap_page_range(vma, start + (4 * PAGE_SIZE), PAGE_SIZE);
            Assert.Equal(HPAGE_PMD_NR - 1, total_mapcount(head));
            mmu_notifier_unregister(mn, mm);
            freed = TestMm.Freed(() => mmput(mm));
        }

        Assert.Empty(sink.Violations);
        Assert.Contains(head, freed);
        Assert.Equal(
            new[] { "start 1c0004000-1c0005000", "start 1c0000000-1c0200000", "end 1c0000000-1c0200000", "end 1c0004000-1c0005000", "release" },
            mn.Snapshot());
    }

    [Fact]
    public void Zapping_a_thp_in_two_parts_frees_it_without_a_false_mmu010()
    {
        // The partial zap splits the THP; the split remaps the same pages with PTEs, so its pmd
        // clear must not stay pending until the second zap frees the THP.
        ulong start = 0x1C0000000UL;
        var (mm, vma) = TestMm.Anon(start, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        handle_mm_fault(vma, start, FAULT_FLAG_WRITE);
        var head = pmd_page(pmdp_get(mm_find_pmd(mm, start)!));
        var sink = new CollectingViolationSink();
        HashSet<page> freed;
        using (MmRuntime.UseSink(sink))
        {
            zap_page_range(vma, start, 4 * PAGE_SIZE);
            Assert.Equal(HPAGE_PMD_NR - 4, total_mapcount(head));
            freed = TestMm.Freed(() => zap_page_range(vma, start + (4 * PAGE_SIZE), HPAGE_PMD_SIZE - (4 * PAGE_SIZE)));
        }

        Assert.Contains(head, freed);
        Assert.Empty(sink.Violations);
        mmput(mm);
    }
}
