using System;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/hugetlb.h, mm/hugetlb.c (2 MiB pages mapped at the pmd level, as on x86)
public static partial class Linux
{
    private static readonly hstate s_default_hstate = new(HPAGE_PMD_ORDER);

    public static hstate hstate_vma(vm_area_struct vma)
    {
        ArgumentNullException.ThrowIfNull(vma);
        if (!is_vm_hugetlb_page(vma))
        {
            throw new ArgumentException($"hstate_vma: {vma} is not a hugetlb vma", nameof(vma));
        }

        return s_default_hstate;
    }

    public static ulong huge_page_size(hstate h)
    {
        ArgumentNullException.ThrowIfNull(h);
        return PAGE_SIZE << h.order;
    }

    public static ulong huge_page_mask(hstate h) => ~(huge_page_size(h) - 1);

    public static int huge_page_order(hstate h)
    {
        ArgumentNullException.ThrowIfNull(h);
        return h.order;
    }

    public static uint pages_per_huge_page(hstate h) => 1u << huge_page_order(h);

    public static bool PageHuge(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return ((page.head ?? page).flags & pageflags.PG_huge) != 0;
    }

    /// <summary>The huge PTE (the pmd slot) of <paramref name="address"/>, or null when no pmd table
    /// covers it.</summary>
    public static pte_ptr? huge_pte_offset(mm_struct mm, ulong address)
    {
        var pmd = walk_to_pmd(mm, address & HPAGE_PMD_MASK, alloc: false);
        return pmd is null ? null : new pte_ptr(pmd.table, pmd.index);
    }

    /// <summary>The huge PTE of <paramref name="address"/>, allocating the upper tables.</summary>
    public static pte_ptr? huge_pte_alloc(mm_struct mm, ulong address, ulong sz)
    {
        var pmd = walk_to_pmd(mm, address & HPAGE_PMD_MASK, alloc: true);
        return pmd is null ? null : new pte_ptr(pmd.table, pmd.index);
    }

    public static pte_t huge_ptep_get(pte_ptr ptep) => ptep_get(ptep);

    public static bool huge_pte_none(pte_t pte) => pte_none(pte);

    public static bool huge_pte_write(pte_t pte) => pte_write(pte);

    public static pte_t huge_pte_wrprotect(pte_t pte) => pte_wrprotect(pte);

    public static pte_t make_huge_pte(vm_area_struct vma, page page, int writable)
    {
        ArgumentNullException.ThrowIfNull(vma);
        var entry = pte_mkyoung(pte_mkhuge(mk_pte(page, vma.vm_page_prot)));
        return writable != 0 ? pte_mkwrite(pte_mkdirty(entry)) : pte_wrprotect(entry);
    }

    /// <summary>Clears a huge PTE and flushes. Secondary MMUs are not told: bracket with start/end.</summary>
    [NeverSleeps]
    public static void huge_ptep_clear_flush(vm_area_struct vma, ulong address, pte_ptr ptep)
    {
        ArgumentNullException.ThrowIfNull(vma);
        check_in_vma(vma, address, nameof(huge_ptep_clear_flush));
        huge_ptep_get_and_clear(vma.vm_mm, address, ptep);
        flush_tlb_range(vma, address & HPAGE_PMD_MASK, (address & HPAGE_PMD_MASK) + HPAGE_PMD_SIZE);
    }

    [NeverSleeps]
    public static pte_t huge_ptep_get_and_clear(mm_struct mm, ulong address, pte_ptr ptep)
    {
        check_slot(mm, address, ptep, nameof(huge_ptep_get_and_clear));
        var old = new pte_t(ptep.table.exchange(ptep.index, 0));
        if (pte_present(old))
        {
            InvalidationTwin.EntryChanged(mm, address & HPAGE_PMD_MASK, HPAGE_PMD_SIZE, old, cleared: true, notified: false, nameof(huge_ptep_get_and_clear));
        }

        return old;
    }

    [NeverSleeps]
    public static void set_huge_pte_at(mm_struct mm, ulong address, pte_ptr ptep, pte_t pte)
    {
        check_slot(mm, address, ptep, nameof(set_huge_pte_at));
        var old = new pte_t(ptep.table.exchange(ptep.index, pte_mkhuge(pte).val));
        if (pte_present(old))
        {
            bool cleared = !pte_present(pte) || pte_pfn(pte) != pte_pfn(old);
            if (cleared || (pte_write(old) && !pte_write(pte)))
            {
                InvalidationTwin.EntryChanged(mm, address & HPAGE_PMD_MASK, HPAGE_PMD_SIZE, old, cleared, notified: false, nameof(set_huge_pte_at));
            }
        }
    }

    [NeverSleeps]
    public static void huge_ptep_set_wrprotect(mm_struct mm, ulong address, pte_ptr ptep)
    {
        check_slot(mm, address, ptep, nameof(huge_ptep_set_wrprotect));
        var old = new pte_t(ptep.table.read(ptep.index));
        ptep.table.write(ptep.index, old.val & ~_PAGE_RW);
        if (pte_present(old) && pte_write(old))
        {
            InvalidationTwin.EntryChanged(mm, address & HPAGE_PMD_MASK, HPAGE_PMD_SIZE, old, cleared: false, notified: false, nameof(huge_ptep_set_wrprotect));
        }
    }

    /// <summary>Allocates a hugetlb page (refcount 1) for <paramref name="vma"/>; null when none is
    /// left. May sleep.</summary>
    [MaySleep]
    public static page? alloc_huge_page(vm_area_struct vma, ulong addr, int avoid_reserve)
    {
        var h = hstate_vma(vma);
        var page = alloc_pages(GFP_HIGHUSER | __GFP_COMP, h.order);
        if (page is not null)
        {
            set_page_flags(page, pageflags.PG_huge);
        }

        return page;
    }

    public static void hugepage_add_new_anon_rmap(page page, vm_area_struct vma, ulong address) =>
        page_add_new_anon_rmap(page, vma, address & HPAGE_PMD_MASK, compound: true);

    internal static vm_fault_t hugetlb_fault(mm_struct mm, vm_area_struct vma, ulong address, uint flags)
    {
        var h = hstate_vma(vma);
        ulong haddr = address & huge_page_mask(h);
        var ptep = huge_pte_alloc(mm, haddr, huge_page_size(h));
        if (ptep is null)
        {
            return VM_FAULT_OOM;
        }

        bool write = (flags & FAULT_FLAG_WRITE) != 0;
        var entry = huge_ptep_get(ptep);
        if (huge_pte_none(entry))
        {
            if (anon_vma_prepare(vma) != 0)
            {
                return VM_FAULT_OOM;
            }

            var page = alloc_huge_page(vma, haddr, 0);
            if (page is null)
            {
                return VM_FAULT_OOM;
            }

            __SetPageUptodate(page);
            spin_lock(mm.page_table_lock);
            if (!huge_pte_none(huge_ptep_get(ptep)))
            {
                spin_unlock(mm.page_table_lock);
                put_page(page);
                return 0;
            }

            hugepage_add_new_anon_rmap(page, vma, haddr);
            set_huge_pte_at(mm, haddr, ptep, make_huge_pte(vma, page, (vma.vm_flags & VM_WRITE) != 0 ? 1 : 0));
            spin_unlock(mm.page_table_lock);
            return 0;
        }

        spin_lock(mm.page_table_lock);
        vm_fault_t ret = 0;
        entry = huge_ptep_get(ptep);
        if (write && pte_present(entry) && !huge_pte_write(entry))
        {
            ret = hugetlb_cow(mm, vma, address, ptep, entry);
        }
        else if (pte_present(entry))
        {
            ptep.table.write(ptep.index, (write ? pte_mkdirty(pte_mkyoung(entry)) : pte_mkyoung(entry)).val);
        }

        spin_unlock(mm.page_table_lock);
        return ret;
    }

    /// <summary>Huge COW, as seed 004 left it: entered and left with mm->page_table_lock held
    /// (dropped around the allocation and around the notifier calls).</summary>
    private static vm_fault_t hugetlb_cow(mm_struct mm, vm_area_struct vma, ulong address, pte_ptr ptep, pte_t pte)
    {
        var h = hstate_vma(vma);
        var old_page = pte_page(pte);
        if (page_mapcount(old_page) == 1 && PageAnon(old_page))
        {
            ptep.table.write(ptep.index, pte_mkyoung(pte_mkdirty(pte_mkwrite(pte))).val);
            return VM_FAULT_WRITE;
        }

        get_page(old_page);
        spin_unlock(mm.page_table_lock);
        var new_page = alloc_huge_page(vma, address, 0);
        if (new_page is null)
        {
            put_page(old_page);
            spin_lock(mm.page_table_lock);
            return VM_FAULT_OOM;
        }

        copy_user_huge_page(new_page, old_page, address, vma, pages_per_huge_page(h));
        __SetPageUptodate(new_page);

        ulong mmun_start = address & huge_page_mask(h);
        ulong mmun_end = mmun_start + huge_page_size(h);
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        ptep = huge_pte_offset(mm, mmun_start)!;
        if (pte_same(huge_ptep_get(ptep), pte))
        {
            huge_ptep_clear_flush(vma, mmun_start, ptep);
            set_huge_pte_at(mm, mmun_start, ptep, make_huge_pte(vma, new_page, 1));
            page_remove_rmap(old_page, compound: true);
            hugepage_add_new_anon_rmap(new_page, vma, mmun_start);
            new_page = old_page; // the old mapping's reference is dropped below
        }

        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);   // caller expects lock to be held
        page_cache_release(new_page);
        page_cache_release(old_page);
        return VM_FAULT_WRITE;
    }
}
