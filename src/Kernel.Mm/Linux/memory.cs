using System;
using System.Collections.Generic;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// mm/memory.c
public static partial class Linux
{
    /// <summary>
    /// Resolves a fault at <paramref name="address"/> of <paramref name="vma"/>: allocates an anonymous
    /// page (a 2 MiB THP for a <c>VM_HUGEPAGE</c> vma where the range allows, a hugetlb page for a
    /// <c>VM_HUGETLB</c> vma), or breaks COW on a write to a read-only shared page (new page copied,
    /// old PTE cleared with <c>ptep_clear_flush_notify</c> inside a start/end pair, old page released
    /// after the end). May sleep.
    /// </summary>
    [MaySleep]
    public static vm_fault_t handle_mm_fault(vm_area_struct vma, ulong address, uint flags)
    {
        ArgumentNullException.ThrowIfNull(vma);
        might_sleep_in(nameof(handle_mm_fault));
        check_in_vma(vma, address, nameof(handle_mm_fault));
        if (!vma.inserted)
        {
            throw new InvalidOperationException($"handle_mm_fault: {vma} is not inserted in {vma.vm_mm} (insert_vm_struct)");
        }

        bool write = (flags & FAULT_FLAG_WRITE) != 0;
        if (write && (vma.vm_flags & VM_WRITE) == 0)
        {
            return VM_FAULT_SIGSEGV;
        }

        if ((vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) == 0)
        {
            return VM_FAULT_SIGSEGV;
        }

        if (is_vm_hugetlb_page(vma))
        {
            return hugetlb_fault(vma.vm_mm, vma, address, flags);
        }

        var mm = vma.vm_mm;
        var pmd = walk_to_pmd(mm, address, alloc: true)!;
        if (pmd_none(pmdp_get(pmd)) && transparent_hugepage_enabled(vma, address))
        {
            vm_fault_t r = do_huge_pmd_anonymous_page(vma, address, pmd, flags);
            if ((r & VM_FAULT_FALLBACK) == 0)
            {
                return r;
            }
        }

        var orig_pmd = pmdp_get(pmd);
        if (pmd_trans_huge(orig_pmd))
        {
            if (write && !pmd_write(orig_pmd))
            {
                // do_huge_pmd_wp_page's fallback: split the pmd, COW the 4 KiB page.
                split_huge_pmd(vma, pmd, address);
            }
            else
            {
                huge_pmd_set_accessed(vma, pmd, orig_pmd, write);
                return 0;
            }
        }

        if (pte_alloc(mm, pmd) != 0)
        {
            return VM_FAULT_OOM;
        }

        return handle_pte_fault(vma, address, pmd, flags);
    }

    private static bool transparent_hugepage_enabled(vm_area_struct vma, ulong address)
    {
        if ((vma.vm_flags & VM_HUGEPAGE) == 0 || (vma.vm_flags & (VM_NOHUGEPAGE | VM_SHARED)) != 0)
        {
            return false;
        }

        ulong haddr = address & HPAGE_PMD_MASK;
        return haddr >= vma.vm_start && haddr + HPAGE_PMD_SIZE <= vma.vm_end;
    }

    private static vm_fault_t handle_pte_fault(vm_area_struct vma, ulong address, pmd_ptr pmd, uint flags)
    {
        var mm = vma.vm_mm;
        var pte = pte_offset_map(pmd, address);
        var entry = ptep_get(pte);
        if (pte_none(entry))
        {
            return do_anonymous_page(vma, address, pmd, flags);
        }

        if (!pte_present(entry))
        {
            return VM_FAULT_SIGBUS; // no swap in this model
        }

        pte = pte_offset_map_lock(mm, pmd, address, out var ptl);
        if (!pte_same(ptep_get(pte), entry))
        {
            pte_unmap_unlock(pte, ptl);
            return 0;
        }

        if ((flags & FAULT_FLAG_WRITE) != 0)
        {
            if (!pte_write(entry))
            {
                return do_wp_page(vma, address, pmd, pte, ptl, entry);
            }

            entry = pte_mkdirty(entry);
        }

        entry = pte_mkyoung(entry);
        ptep_set_access_flags(vma, address & PAGE_MASK, pte, entry, (flags & FAULT_FLAG_WRITE) != 0 ? 1 : 0);
        pte_unmap_unlock(pte, ptl);
        return 0;
    }

    private static vm_fault_t do_anonymous_page(vm_area_struct vma, ulong address, pmd_ptr pmd, uint flags)
    {
        var mm = vma.vm_mm;
        if (anon_vma_prepare(vma) != 0)
        {
            return VM_FAULT_OOM;
        }

        var page = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, address);
        if (page is null)
        {
            return VM_FAULT_OOM;
        }

        __SetPageUptodate(page);
        var entry = pte_mkyoung(mk_pte(page, vma.vm_page_prot));
        if ((vma.vm_flags & VM_WRITE) != 0)
        {
            entry = pte_mkwrite(entry);
            if ((flags & FAULT_FLAG_WRITE) != 0)
            {
                entry = pte_mkdirty(entry);
            }
        }

        ulong addr = address & PAGE_MASK;
        var pte = pte_offset_map_lock(mm, pmd, addr, out var ptl);
        if (!pte_none(ptep_get(pte)))
        {
            pte_unmap_unlock(pte, ptl);
            put_page(page); // lost the race: never mapped
            return 0;
        }

        page_add_new_anon_rmap(page, vma, addr);
        set_pte_at(mm, addr, pte, entry);
        update_mmu_cache(vma, addr, pte);
        pte_unmap_unlock(pte, ptl);
        return 0;
    }

    /// <summary>Write to a write-protected PTE; entered with <paramref name="ptl"/> held, returns
    /// with it released (__releases(ptl)).</summary>
    private static vm_fault_t do_wp_page(vm_area_struct vma, ulong address, pmd_ptr pmd, pte_ptr page_table, spinlock_t ptl, pte_t orig_pte)
    {
        var mm = vma.vm_mm;
        ulong addr = address & PAGE_MASK;
        var old_page = vm_normal_page(vma, addr, orig_pte);
        if (old_page is not null && PageAnon(old_page) && !PageCompound(old_page)
            && page_mapcount(old_page) == 1 && page_count(old_page) == 1)
        {
            // Only we map it: reuse in place (same page, permissions upgrade only).
            var entry = maybe_mkwrite(pte_mkdirty(pte_mkyoung(orig_pte)), vma);
            ptep_set_access_flags(vma, addr, page_table, entry, 1);
            pte_unmap_unlock(page_table, ptl);
            return VM_FAULT_WRITE;
        }

        if (old_page is not null)
        {
            get_page(old_page);
        }

        pte_unmap_unlock(page_table, ptl);

        if (anon_vma_prepare(vma) != 0)
        {
            if (old_page is not null)
            {
                put_page(old_page);
            }

            return VM_FAULT_OOM;
        }

        var new_page = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr);
        if (new_page is null)
        {
            if (old_page is not null)
            {
                put_page(old_page);
            }

            return VM_FAULT_OOM;
        }

        if (old_page is not null)
        {
            copy_user_highpage(new_page, old_page, addr, vma);
        }

        __SetPageUptodate(new_page);

        var range = new mmu_notifier_range();
        mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, addr, addr + PAGE_SIZE);
        mmu_notifier_invalidate_range_start(range);

        vm_fault_t ret = 0;
        page? to_free;
        page_table = pte_offset_map_lock(mm, pmd, addr, out ptl);
        if (pte_same(ptep_get(page_table), orig_pte))
        {
            flush_cache_page(vma, addr, pte_pfn(orig_pte));
            var entry = maybe_mkwrite(pte_mkdirty(pte_mkyoung(mk_pte(new_page, vma.vm_page_prot))), vma);
            ptep_clear_flush_notify(vma, addr, page_table);
            page_add_new_anon_rmap(new_page, vma, addr);
            set_pte_at_notify(mm, addr, page_table, entry);
            update_mmu_cache(vma, addr, page_table);
            if (old_page is not null)
            {
                page_remove_rmap(old_page);
            }

            to_free = old_page;   // the old mapping's reference
            ret = VM_FAULT_WRITE;
        }
        else
        {
            to_free = new_page;   // raced: not used
        }

        pte_unmap_unlock(page_table, ptl);
        mmu_notifier_invalidate_range_end(range);
        if (to_free is not null)
        {
            put_page(to_free);
        }

        if (old_page is not null)
        {
            put_page(old_page);
        }

        return ret;
    }

    /// <summary>Copies a page's contents (COW).</summary>
    public static void copy_user_highpage(page to, page from, ulong address, vm_area_struct vma)
    {
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(from);
        var src = from.data;
        if (src is null)
        {
            to.data = null;
            return;
        }

        to.data = (byte[])src.Clone();
    }

    /// <summary>Copies <paramref name="pages_per_huge_page"/> subpages (huge COW).</summary>
    public static void copy_user_huge_page(page dst, page src, ulong addr, vm_area_struct vma, uint pages_per_huge_page)
    {
        ArgumentNullException.ThrowIfNull(dst);
        ArgumentNullException.ThrowIfNull(src);
        for (uint i = 0; i < pages_per_huge_page; i++)
        {
            copy_user_highpage(pfn_to_page(dst.pfn + i), pfn_to_page(src.pfn + i), addr + (i * PAGE_SIZE), vma);
        }
    }

    public static void clear_user_highpage(page page, ulong vaddr)
    {
        ArgumentNullException.ThrowIfNull(page);
        page.data = null;
    }

    /// <summary>The page's contents (<c>kmap</c>): PAGE_SIZE bytes, zero until written.</summary>
    public static byte[] kmap(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        if (page.IsFree)
        {
            throw new InvalidOperationException($"kmap: pfn 0x{page.pfn:x} is free");
        }

        return page.data ??= new byte[PAGE_SIZE];
    }

    public static void kunmap(page page) => ArgumentNullException.ThrowIfNull(page);

    /// <summary>
    /// Unmaps [address, address+size) of <paramref name="vma"/> (MADV_DONTNEED): start/end bracket the
    /// page-table updates, pages are released after the end.
    /// </summary>
    [MaySleep]
    public static void zap_page_range(vm_area_struct vma, ulong address, ulong size)
    {
        ArgumentNullException.ThrowIfNull(vma);
        might_sleep_in(nameof(zap_page_range));
        ulong end = address + size;
        if ((address & ~PAGE_MASK) != 0 || (size & ~PAGE_MASK) != 0 || address < vma.vm_start || end > vma.vm_end || end < address)
        {
            throw new ArgumentException($"zap_page_range: [0x{address:x}, 0x{end:x}) is not a page-aligned range inside {vma}", nameof(address));
        }

        unmap_single_vma(vma, address, end, notify: true);
    }

    internal static void unmap_single_vma(vm_area_struct vma, ulong start, ulong end, bool notify)
    {
        var mm = vma.vm_mm;
        var freed = new List<page>();
        mmu_notifier_range? range = null;
        if (notify)
        {
            range = new mmu_notifier_range();
            mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, vma, mm, start, end);
            mmu_notifier_invalidate_range_start(range);
        }

        try
        {
            for (ulong addr = start; addr < end;)
            {
                ulong next = pmd_addr_end(addr, end);
                var pmd = walk_to_pmd(mm, addr, alloc: false);
                if (pmd is null)
                {
                    addr = next;
                    continue;
                }

                var v = pmdp_get(pmd);
                if (pmd_trans_huge(v))
                {
                    if (is_vm_hugetlb_page(vma) || (addr == (addr & HPAGE_PMD_MASK) && next - addr == HPAGE_PMD_SIZE))
                    {
                        zap_huge_pmd(vma, pmd, addr & HPAGE_PMD_MASK, freed);
                        addr = next;
                        continue;
                    }

                    // Partial unmap of a THP: split it inside its own (nested) 2 MiB bracket,
                    // as __split_huge_pmd does, so the huge mapping is invalidated as a whole.
                    __split_huge_pmd(vma, pmd, addr, notify: true);
                    v = pmdp_get(pmd);
                }

                if (pmd_present(v))
                {
                    zap_pte_range(vma, pmd, addr, next, freed);
                }

                addr = next;
            }
        }
        finally
        {
            if (range is not null)
            {
                mmu_notifier_invalidate_range_end(range);
            }
        }

        // tlb_finish_mmu: pages are freed only after every secondary MMU was told.
        foreach (var p in freed)
        {
            put_page(p);
        }
    }

    private static void zap_pte_range(vm_area_struct vma, pmd_ptr pmd, ulong addr, ulong end, List<page> freed)
    {
        var mm = vma.vm_mm;
        var pte = pte_offset_map_lock(mm, pmd, addr, out var ptl);
        try
        {
            for (; addr < end; addr += PAGE_SIZE, pte = addr < end ? pte + 1 : pte)
            {
                var v = ptep_get(pte);
                if (!pte_present(v))
                {
                    continue;
                }

                var old = ptep_get_and_clear(mm, addr, pte);
                var page = vm_normal_page(vma, addr, old);
                if (page is null)
                {
                    continue;
                }

                if (pte_dirty(old))
                {
                    SetPageDirty(page);
                }

                page_remove_rmap(page);
                freed.Add(page);
            }

            flush_tlb_range(vma, addr, end);
        }
        finally
        {
            release_spinlock(ptl, nameof(pte_unmap_unlock));
        }
    }

    private static void zap_huge_pmd(vm_area_struct vma, pmd_ptr pmd, ulong haddr, List<page> freed)
    {
        var mm = vma.vm_mm;
        spin_lock(mm.page_table_lock);
        try
        {
            var old = pmdp_huge_get_and_clear(mm, haddr, pmd);
            if (!pmd_trans_huge(old))
            {
                return;
            }

            var page = pmd_page(old);
            page_remove_rmap(page, compound: true);
            if (!is_vm_hugetlb_page(vma))
            {
                free_pt_table_page(pgtable_trans_huge_withdraw(mm, pmd));
            }

            freed.Add(page);
            flush_tlb_range(vma, haddr, haddr + HPAGE_PMD_SIZE);
        }
        finally
        {
            release_spinlock(mm.page_table_lock, nameof(spin_unlock));
        }
    }

    private static void free_pt_table_page(page p)
    {
        p.pt = null;
        p.flags &= ~pageflags.PG_table;
        put_page_as(p, "pte_free");
    }

    internal static void free_pgtables(mm_struct mm)
    {
        var pgd = mm.pgd;
        if (pgd is null)
        {
            return;
        }

        for (int i = 0; i < 512; i++)
        {
            ulong pv = pgd.read(i);
            if (pv == 0)
            {
                continue;
            }

            var pud = pfn_to_page(pte_pfn(new pte_t(pv))).pt!;
            for (int j = 0; j < 512; j++)
            {
                ulong uv = pud.read(j);
                if (uv == 0)
                {
                    continue;
                }

                var pmdt = pfn_to_page(pte_pfn(new pte_t(uv))).pt!;
                for (int k = 0; k < 512; k++)
                {
                    ulong mv = pmdt.read(k);
                    if (mv != 0 && !pmd_trans_huge(new pmd_t(mv)))
                    {
                        free_pt_table(pfn_to_page(pmd_pfn(new pmd_t(mv))).pt!);
                    }
                }

                free_pt_table(pmdt);
            }

            free_pt_table(pud);
        }

        free_pt_table(pgd);
        mm.pgd = null;
        lock (mm.pmd_huge_pte)
        {
            while (mm.pmd_huge_pte.Count > 0)
            {
                free_pt_table_page(mm.pmd_huge_pte.Pop());
            }
        }
    }

    /// <summary>
    /// fork: copies the mappings of <paramref name="vma"/> from <paramref name="src_mm"/> into
    /// <paramref name="dst_vma"/> of <paramref name="dst_mm"/>. For a COW mapping both sides are
    /// write-protected, inside start/end on the source mm (seed 004's <c>is_cow</c> bracket).
    /// </summary>
    [MaySleep]
    public static int copy_page_range(mm_struct dst_mm, mm_struct src_mm, vm_area_struct vma, vm_area_struct dst_vma)
    {
        ArgumentNullException.ThrowIfNull(dst_mm);
        ArgumentNullException.ThrowIfNull(src_mm);
        ArgumentNullException.ThrowIfNull(vma);
        ArgumentNullException.ThrowIfNull(dst_vma);
        might_sleep_in(nameof(copy_page_range));
        ulong mmun_start = vma.vm_start;
        ulong mmun_end = vma.vm_end;
        bool is_cow = is_cow_mapping(vma.vm_flags) || (vma.vm_flags & VM_SHARED) == 0;
        if (is_cow)
        {
            mmu_notifier_invalidate_range_start(src_mm, mmun_start, mmun_end);
        }

        try
        {
            for (ulong addr = vma.vm_start; addr < vma.vm_end;)
            {
                ulong next = pmd_addr_end(addr, vma.vm_end);
                var src_pmd = walk_to_pmd(src_mm, addr, alloc: false);
                if (src_pmd is null || !pmd_present(pmdp_get(src_pmd)))
                {
                    addr = next;
                    continue;
                }

                var dst_pmd = walk_to_pmd(dst_mm, addr, alloc: true)!;
                if (pmd_trans_huge(pmdp_get(src_pmd)))
                {
                    copy_huge_pmd(dst_mm, src_mm, dst_pmd, src_pmd, addr & HPAGE_PMD_MASK, vma, is_cow);
                    addr = next;
                    continue;
                }

                pte_alloc(dst_mm, dst_pmd);
                var dst_pte = pte_offset_map_lock(dst_mm, dst_pmd, addr, out var dst_ptl);
                var src_ptl = pte_lockptr(src_mm, src_pmd);
                spin_lock(src_ptl);
                var src_pte = pte_offset_map(src_pmd, addr);
                for (ulong a = addr; a < next; a += PAGE_SIZE)
                {
                    var v = ptep_get(src_pte);
                    if (pte_present(v))
                    {
                        var page = vm_normal_page(vma, a, v);
                        if (page is not null)
                        {
                            get_page(page);
                            page_dup_rmap(page, false);
                        }

                        if (is_cow && pte_write(v))
                        {
                            ptep_set_wrprotect(src_mm, a, src_pte);
                            v = pte_wrprotect(v);
                        }

                        set_pte_at(dst_mm, a, dst_pte, pte_mkold(v));
                    }

                    if (a + PAGE_SIZE < next)
                    {
                        src_pte++;
                        dst_pte++;
                    }
                }

                release_spinlock(src_ptl, nameof(spin_unlock));
                pte_unmap_unlock(dst_pte, dst_ptl);
                addr = next;
            }
        }
        finally
        {
            if (is_cow)
            {
                mmu_notifier_invalidate_range_end(src_mm, mmun_start, mmun_end);
            }
        }

        return 0;
    }

    private static void copy_huge_pmd(mm_struct dst_mm, mm_struct src_mm, pmd_ptr dst_pmd, pmd_ptr src_pmd, ulong haddr, vm_area_struct vma, bool is_cow)
    {
        page? pgtable = is_vm_hugetlb_page(vma) ? null : alloc_pt_table(dst_mm, 1, haddr).page;
        spin_lock(dst_mm.page_table_lock);
        spin_lock(src_mm.page_table_lock);
        try
        {
            var v = pmdp_get(src_pmd);
            if (!pmd_trans_huge(v))
            {
                if (pgtable is not null)
                {
                    free_pt_table_page(pgtable);
                }

                return;
            }

            var page = pmd_page(v);
            get_page(page);
            page_dup_rmap(page, true);
            if (is_cow && pmd_write(v))
            {
                src_pmd.table.write(src_pmd.index, pmd_wrprotect(v).val);
                v = pmd_wrprotect(v);
            }

            if (pgtable is not null)
            {
                pgtable_trans_huge_deposit(dst_mm, dst_pmd, pgtable);
            }

            set_pmd_at(dst_mm, haddr, dst_pmd, pmd_mkold(v));
        }
        finally
        {
            release_spinlock(src_mm.page_table_lock, nameof(spin_unlock));
            release_spinlock(dst_mm.page_table_lock, nameof(spin_unlock));
        }
    }
}
