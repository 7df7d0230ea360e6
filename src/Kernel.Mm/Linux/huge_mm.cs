using System;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/huge_mm.h, mm/huge_memory.c
public static partial class Linux
{
    internal static vm_fault_t do_huge_pmd_anonymous_page(vm_area_struct vma, ulong address, pmd_ptr pmd, uint flags)
    {
        var mm = vma.vm_mm;
        ulong haddr = address & HPAGE_PMD_MASK;
        if (anon_vma_prepare(vma) != 0)
        {
            return VM_FAULT_OOM;
        }

        var page = alloc_pages_vma(GFP_TRANSHUGE, HPAGE_PMD_ORDER, vma, haddr);
        if (page is null)
        {
            return VM_FAULT_FALLBACK;
        }

        __SetPageUptodate(page);
        var pgtable = alloc_pt_table(mm, 1, haddr).page;
        spin_lock(mm.page_table_lock);
        if (!pmd_none(pmdp_get(pmd)))
        {
            spin_unlock(mm.page_table_lock);
            put_page(page);
            free_pt_table_page(pgtable);
            return 0;
        }

        var entry = pmd_mkyoung(pmd_mkhuge(mk_pmd(page, vma.vm_page_prot)));
        if ((vma.vm_flags & VM_WRITE) != 0)
        {
            entry = pmd_mkwrite(entry);
            if ((flags & FAULT_FLAG_WRITE) != 0)
            {
                entry = pmd_mkdirty(entry);
            }
        }

        page_add_new_anon_rmap(page, vma, haddr, compound: true);
        pgtable_trans_huge_deposit(mm, pmd, pgtable);
        set_pmd_at(mm, haddr, pmd, entry);
        spin_unlock(mm.page_table_lock);
        return 0;
    }

    private static void huge_pmd_set_accessed(vm_area_struct vma, pmd_ptr pmd, pmd_t orig_pmd, bool write)
    {
        var mm = vma.vm_mm;
        spin_lock(mm.page_table_lock);
        var v = pmdp_get(pmd);
        if (pmd_same(v, orig_pmd))
        {
            var entry = pmd_mkyoung(v);
            if (write)
            {
                entry = pmd_mkdirty(entry);
            }

            pmd.table.write(pmd.index, entry.val);
        }

        spin_unlock(mm.page_table_lock);
    }

    /// <summary>
    /// Splits the huge pmd mapping <paramref name="address"/> into 512 PTEs mapping the subpages of
    /// the (still compound) THP: start/end around, <c>pmdp_huge_clear_flush_notify</c> under
    /// mm->page_table_lock, the deposited pte table installed. No-op when the pmd is not huge.
    /// </summary>
    [MaySleep]
    public static void split_huge_pmd(vm_area_struct vma, pmd_ptr pmd, ulong address)
    {
        ArgumentNullException.ThrowIfNull(vma);
        ArgumentNullException.ThrowIfNull(pmd);
        might_sleep_in(nameof(split_huge_pmd));
        if (is_vm_hugetlb_page(vma))
        {
            throw new InvalidOperationException($"split_huge_pmd: {vma} is a hugetlb vma; hugetlb pages are never split");
        }

        __split_huge_pmd(vma, pmd, address, notify: true);
    }

    internal static void __split_huge_pmd(vm_area_struct vma, pmd_ptr pmd, ulong address, bool notify)
    {
        var mm = vma.vm_mm;
        ulong haddr = address & HPAGE_PMD_MASK;
        mmu_notifier_range? range = null;
        if (notify)
        {
            range = new mmu_notifier_range();
            mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, vma, mm, haddr, haddr + HPAGE_PMD_SIZE);
            mmu_notifier_invalidate_range_start(range);
        }

        var ptl = pmd_lock(mm, pmd);
        try
        {
            if (pmd_trans_huge(pmdp_get(pmd)))
            {
                __split_huge_pmd_locked(vma, pmd, haddr);
            }
        }
        finally
        {
            spin_unlock(ptl);
            if (range is not null)
            {
                mmu_notifier_invalidate_range_only_end(range);
            }
        }
    }

    private static void __split_huge_pmd_locked(vm_area_struct vma, pmd_ptr pmd, ulong haddr)
    {
        var mm = vma.vm_mm;
        var old = pmdp_get(pmd);
        var head = pmd_page(old);
        // Clear first so no CPU (or secondary MMU) keeps a huge translation while PTEs appear.
        pmdp_huge_clear_flush_notify(vma, haddr, pmd);

        var pgpage = pgtable_trans_huge_withdraw(mm, pmd);
        var table = new pt_table(mm, 1, pgpage, haddr);
        pgpage.pt = table;
        var prot = vma.vm_page_prot;
        for (int i = 0; i < HPAGE_PMD_NR; i++)
        {
            var sub = pfn_to_page(head.pfn + (ulong)i);
            var entry = mk_pte(sub, prot);
            if (pmd_write(old))
            {
                entry = pte_mkwrite(entry);
            }

            if (pmd_dirty(old))
            {
                entry = pte_mkdirty(entry);
            }

            if (pmd_young(old))
            {
                entry = pte_mkyoung(entry);
            }

            System.Threading.Interlocked.Increment(ref sub._mapcount);
            table.write(i, entry.val);
        }

        System.Threading.Interlocked.Decrement(ref head.compound_mapcount);
        System.Threading.Interlocked.Add(ref head._refcount, HPAGE_PMD_NR - 1); // one reference per PTE mapping
        pmd.table.write(pmd.index, (pgpage.pfn << PAGE_SHIFT) | _PAGE_TABLE);
    }

    /// <summary>
    /// Splits a THP into order-0 pages (__split_huge_page): PMD mappings are split first, then the
    /// references are distributed (each subpage keeps one per PTE mapping; the caller's pin stays on
    /// the head). The caller holds a reference. Returns 0, -EBUSY when other pins exist, -EINVAL for
    /// a page that is not a THP head.
    /// </summary>
    [MaySleep]
    public static int split_huge_page(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        might_sleep_in(nameof(split_huge_page));
        if (!PageTransHuge(page) || PageHuge(page))
        {
            return -EINVAL;
        }

        if (page.compound_mapcount > 0 && page.mapping is anon_vma av)
        {
            foreach (var vma in av.Vmas)
            {
                ulong address = vma_address(page, vma);
                if (address < vma.vm_start || address >= vma.vm_end)
                {
                    continue;
                }

                var pmd = walk_to_pmd(vma.vm_mm, address, alloc: false);
                if (pmd is not null && pmd_trans_huge(pmdp_get(pmd)) && pmd_pfn(pmdp_get(pmd)) == page.pfn)
                {
                    split_huge_pmd(vma, pmd, address);
                }
            }
        }

        lock (s_split_lock)
        {
            if (page.compound_mapcount != 0)
            {
                return -EBUSY;
            }

            int mapped = total_mapcount(page);
            if (page_count(page) != mapped + 1)
            {
                return -EBUSY;
            }

            int nr = 1 << page.order;
            for (int i = 1; i < nr; i++)
            {
                var t = pfn_to_page(page.pfn + (ulong)i);
                t._refcount = t._mapcount;
                t.head = null;
                t.flags = (t.flags & ~pageflags.PG_tail) | (page.flags & (pageflags.PG_anon | pageflags.PG_uptodate | pageflags.PG_dirty));
                t.mapping = page.mapping;
                t.index = page.index + (ulong)i;
                if (t._refcount == 0)
                {
                    t._refcount = 1;           // unmapped subpage: free it below
                    put_page(t);
                }
            }

            page._refcount = page._mapcount + 1;
            page.order = 0;
            page.flags &= ~pageflags.PG_head;
        }

        return 0;
    }

    private static readonly object s_split_lock = new();

    public static bool PageTransHuge(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.head is null && page.order == HPAGE_PMD_ORDER && (page.flags & pageflags.PG_head) != 0;
    }

    public static bool PageTransCompound(page page) => PageCompound(page);
}
