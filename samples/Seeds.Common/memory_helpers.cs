using System.Runtime.CompilerServices;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace Seeds.Common;

// mm/memory.c, mm/mlock.c, include/linux/mm.h, include/linux/ksm.h, include/linux/swap.h
// pieces the 2012 do_wp_page / copy_page_range / move_page_tables call.
public static partial class kernel
{
    /// <summary>page_cache_get(): the 2012 name of get_page().</summary>
    public static void page_cache_get(page page) => get_page(page);

    /// <summary>PageKsm(): Kernel.Mm has no KSM, so no page is a KSM page.</summary>
    public static bool PageKsm(page page) => false;

    /// <summary>is_zero_pfn(): Kernel.Mm maps no shared zero page (read faults allocate).</summary>
    public static bool is_zero_pfn(ulong pfn) => false;

    /// <summary>
    /// reuse_swap_page(): can a write fault reuse this anonymous page in place? Without swap it
    /// is the kernel's <c>page_mapcount(page) &lt;= 1</c> test (no swap count to add).
    /// </summary>
    public static bool reuse_swap_page(page page) => page_mapcount(page) <= 1;

    /// <summary>
    /// page_move_anon_rmap(): move a page that is all ours to our anon_vma. Kernel.Mm shares one
    /// anon_vma between a parent and its children (no anon_vma chains), so it is already there.
    /// </summary>
    public static void page_move_anon_rmap(page page, vm_area_struct vma, ulong address)
    {
        VM_BUG_ON(!PageAnon(page));
        VM_BUG_ON(page_anon_vma(page) != vma.anon_vma);
    }

    public static page? alloc_zeroed_user_highpage_movable(vm_area_struct vma, ulong vaddr) =>
        alloc_page_vma(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, vma, vaddr);

    /// <summary>cow_user_page(): copy the old page into the new one.</summary>
    public static void cow_user_page(page dst, page src, ulong va, vm_area_struct vma) =>
        copy_user_highpage(dst, src, va, vma);

    // PG_mlocked: Kernel.Mm's page has no such flag; keep the set of mlocked pages beside them.
    private static readonly ConditionalWeakTable<page, object> s_mlocked = new();

    public static bool PageMlocked(page page) => s_mlocked.TryGetValue(page, out _);

    /// <summary>mlock_vma_page(): mark the page mlocked (it moves to the unevictable list).</summary>
    public static void mlock_vma_page(page page) => s_mlocked.AddOrUpdate(page, page);

    /// <summary>munlock_vma_page(): clear the mlock (the page goes back to the normal LRU).</summary>
    public static void munlock_vma_page(page page) => s_mlocked.Remove(page);

    /// <summary>pmd_mkclean(): the pmd with its dirty bit cleared.</summary>
    public static pmd_t pmd_mkclean(pmd_t pmd) => __pmd(pte_val(pte_mkclean(__pte(pmd_val(pmd)))));

    /// <summary>pmd_pgtable(): the pte-table page a (non-huge) pmd points to.</summary>
    public static page pmd_pgtable(pmd_t pmd) => pfn_to_page(pmd_pfn(pmd));

    // ---- fork: copy_pte_range and friends (mm/memory.c, 2012) ---------------------------------

    /// <summary>pmd_none_or_clear_bad(): nothing to copy at this pmd.</summary>
    public static bool pmd_none_or_clear_bad(mm_struct mm, ulong addr) => mm_find_pmd(mm, addr) == null;

    /// <summary>copy_hugetlb_page_range(): Kernel.Mm's fork copies hugetlb vmas itself.</summary>
    [MaySleep]
    public static int copy_hugetlb_page_range(mm_struct dst_mm, mm_struct src_mm, vm_area_struct vma)
    {
        vm_area_struct? dst_vma = find_vma(dst_mm, vma.vm_start);
        BUG_ON(dst_vma == null || dst_vma.vm_start != vma.vm_start);
        return copy_page_range(dst_mm, src_mm, vma, dst_vma);
    }

    /*
     * copy one vm_area from one task to the other. Assumes the page tables
     * already present in the new task to be cleared in the whole range
     * covered by this vma.
     */
    private static void copy_one_pte(mm_struct dst_mm, mm_struct src_mm,
                                     pte_ptr dst_pte, pte_ptr src_pte, vm_area_struct vma,
                                     ulong addr, long[] rss)
    {
        ulong vm_flags = vma.vm_flags;
        pte_t pte = ptep_get(src_pte);
        page? page;

        /* pte contains position in swap or file, so copy: no swap in Kernel.Mm */
        if (!pte_present(pte))
            return;

        /*
         * If it's a COW mapping, write protect it both
         * in the parent and the child
         */
        if (is_cow_mapping(vm_flags))
        {
            ptep_set_wrprotect(src_mm, addr, src_pte);
            pte = pte_wrprotect(pte);
        }

        /*
         * If it's a shared mapping, mark it clean in
         * the child
         */
        if ((vm_flags & VM_SHARED) != 0)
            pte = pte_mkclean(pte);
        pte = pte_mkold(pte);

        page = vm_normal_page(vma, addr, pte);
        if (page != null)
        {
            get_page(page);
            page_dup_rmap(page, false);
            if (PageAnon(page))
                rss[MM_ANONPAGES]++;
            else
                rss[MM_FILEPAGES]++;
        }

        set_pte_at(dst_mm, addr, dst_pte, pte);
    }

    /// <summary>copy_pte_range(): the ptes of [addr, end), all under one pmd.</summary>
    [MaySleep]
    public static int copy_pte_range(mm_struct dst_mm, mm_struct src_mm,
                                     vm_area_struct vma, ulong addr, ulong end)
    {
        pmd_ptr src_pmd = mm_find_pmd(src_mm, addr)!;
        pmd_ptr dst_pmd;
        pte_ptr orig_src_pte, orig_dst_pte;
        pte_ptr src_pte, dst_pte;
        spinlock_t src_ptl, dst_ptl;
        long[] rss = new long[NR_MM_COUNTERS];

        /* copy_huge_pmd() is not ported: a huge source pmd is split, its subpages then shared */
        if (pmd_trans_huge(pmdp_get(src_pmd)))
            split_huge_pmd(vma, src_pmd, addr);

        dst_pmd = pmd_alloc(dst_mm, addr);
        if (pte_alloc(dst_mm, dst_pmd) != 0)
            return -ENOMEM;
        dst_pte = pte_offset_map_lock(dst_mm, dst_pmd, addr, out dst_ptl);
        src_pte = pte_offset_map(src_pmd, addr);
        src_ptl = pte_lockptr(src_mm, src_pmd);
        spin_lock(src_ptl); /* spin_lock_nested(src_ptl, SINGLE_DEPTH_NESTING) */
        orig_src_pte = src_pte;
        orig_dst_pte = dst_pte;

        while (true)
        {
            copy_one_pte(dst_mm, src_mm, dst_pte, src_pte, vma, addr, rss);
            addr += PAGE_SIZE;
            if (addr == end)
                break;
            dst_pte++;
            src_pte++;
        }

        spin_unlock(src_ptl);
        pte_unmap(orig_src_pte);
        add_mm_counter(dst_mm, MM_FILEPAGES, rss[MM_FILEPAGES]);
        add_mm_counter(dst_mm, MM_ANONPAGES, rss[MM_ANONPAGES]);
        pte_unmap_unlock(orig_dst_pte, dst_ptl);
        cond_resched();
        return 0;
    }

    // ---- mremap (mm/mremap.c, 2012) --------------------------------------------------------

    public static pmd_ptr? get_old_pmd(mm_struct mm, ulong addr) => mm_find_pmd(mm, addr);

    public static pmd_ptr? alloc_new_pmd(mm_struct mm, vm_area_struct vma, ulong addr) => pmd_alloc(mm, addr);

    /// <summary>split_huge_page_pmd(): the 2012 name of split_huge_pmd.</summary>
    [MaySleep]
    public static void split_huge_page_pmd(vm_area_struct vma, ulong address, pmd_ptr pmd) =>
        split_huge_pmd(vma, pmd, address);

    public static void move_ptes(vm_area_struct vma, pmd_ptr old_pmd,
                                 ulong old_addr, ulong old_end,
                                 vm_area_struct new_vma, pmd_ptr new_pmd,
                                 ulong new_addr)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr old_pte, new_pte;
        pte_t pte;
        spinlock_t old_ptl, new_ptl;

        if (pmd_none(pmdp_get(new_pmd)) && pte_alloc(new_vma.vm_mm, new_pmd) != 0)
            return;

        /*
         * We don't have to worry about the ordering of src and dst
         * pte locks because exclusive mmap_sem prevents deadlock.
         */
        old_pte = pte_offset_map_lock(mm, old_pmd, old_addr, out old_ptl);
        new_pte = pte_offset_map(new_pmd, new_addr);
        new_ptl = pte_lockptr(mm, new_pmd);
        if (new_ptl != old_ptl)
            spin_lock(new_ptl); /* spin_lock_nested(new_ptl, SINGLE_DEPTH_NESTING) */

        for (; old_addr < old_end; old_addr += PAGE_SIZE, new_addr += PAGE_SIZE)
        {
            old_pte = pte_offset_map(old_pmd, old_addr);
            new_pte = pte_offset_map(new_pmd, new_addr);
            if (pte_none(ptep_get(old_pte)))
                continue;
            pte = ptep_get_and_clear(mm, old_addr, old_pte);
            /* move_pte(): the identity except on arches with a virtually indexed zero page */
            set_pte_at(mm, new_addr, new_pte, pte);
        }

        if (new_ptl != old_ptl)
            spin_unlock(new_ptl);
        pte_unmap(new_pte);
        pte_unmap_unlock(old_pte, old_ptl);
    }
}
