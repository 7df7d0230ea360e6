using System;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace Seeds.Common;

// mm/huge_memory.c (2012) pieces do_huge_pmd_wp_page and collapse_huge_page call.
public static partial class kernel
{
    /// <summary>/sys/kernel/mm/transparent_hugepage/debug_cow: make THP COW take the fallback
    /// path (copy into 512 small pages). Per thread so parallel tests do not see each other's.</summary>
    [ThreadStatic]
    public static bool transparent_hugepage_debug_cow_enabled;

    public static bool transparent_hugepage_debug_cow() => transparent_hugepage_debug_cow_enabled;

    /// <summary>transparent_hugepage_enabled(): "madvise" mode, Kernel.Mm's only one.</summary>
    public static bool transparent_hugepage_enabled(vm_area_struct vma) =>
        (vma.vm_flags & VM_HUGEPAGE) != 0 && (vma.vm_flags & VM_NOHUGEPAGE) == 0;

    /// <summary>khugepaged's "always" setting: off, only VM_HUGEPAGE vmas are collapsed.</summary>
    public static bool khugepaged_always() => false;

    /// <summary>khugepaged_max_ptes_none: how many empty ptes a collapse may fill with zeroes.</summary>
    public const int khugepaged_max_ptes_none = HPAGE_PMD_NR - 1;

    public static bool khugepaged_test_exit(mm_struct mm) => mm.Users == 0;

    public static page? alloc_hugepage_vma(vm_area_struct vma, ulong haddr) =>
        alloc_pages_vma(GFP_TRANSHUGE, HPAGE_PMD_ORDER, vma, haddr);

    /// <summary>The <paramref name="n"/>th page after <paramref name="page"/> (C's <c>page + n</c>).</summary>
    public static page nth_page(page page, int n) => pfn_to_page(page_to_pfn(page) + (ulong)n);

    public static int pmdp_set_access_flags(vm_area_struct vma, ulong address, pmd_ptr pmdp, pmd_t entry, int dirty)
    {
        bool changed = !pmd_same(pmdp_get(pmdp), entry);
        if (changed && dirty != 0)
        {
            /* same page, more permissions: a plain store, no flush needed */
            set_pmd_at(vma.vm_mm, address & HPAGE_PMD_MASK, pmdp, entry);
        }

        return changed ? 1 : 0;
    }

    public static void update_mmu_cache_pmd(vm_area_struct vma, ulong address, pmd_ptr pmd) =>
        update_mmu_cache(vma, address, pmd);

    // ---- khugepaged ------------------------------------------------------------------------

    private static void release_pte_page(page page)
    {
        /* dec_zone_page_state(page, NR_ISOLATED_ANON); putback_lru_page(page): no LRU here */
        unlock_page(page);
    }

    private static void release_pte_pages(pte_ptr pte, pte_ptr _pte)
    {
        while (pte != _pte)
        {
            pte_t pteval = ptep_get(pte);
            if (!pte_none(pteval))
                release_pte_page(pte_page(pteval));
            pte++;
        }
    }

    private static void release_all_pte_pages(pte_ptr pte)
    {
        release_pte_pages(pte, pte + (HPAGE_PMD_NR - 1));
        pte_t last = ptep_get(pte + (HPAGE_PMD_NR - 1));
        if (!pte_none(last))
            release_pte_page(pte_page(last));
    }

    /// <summary>__collapse_huge_page_isolate(): every pte maps a private, unpinned, small anon
    /// page (or is none), each page locked ("isolated") — or nothing is taken. Caller holds ptl.</summary>
    public static bool __collapse_huge_page_isolate(vm_area_struct vma, ulong address, pte_ptr pte)
    {
        page? page;
        pte_ptr _pte;
        bool referenced = false, isolated = false;
        int none = 0;

        _pte = pte;
        for (int i = 0; i < HPAGE_PMD_NR; i++, address += PAGE_SIZE)
        {
            _pte = pte + i;
            pte_t pteval = ptep_get(_pte);
            if (pte_none(pteval))
            {
                if (++none <= khugepaged_max_ptes_none)
                    continue;
                else
                {
                    release_pte_pages(pte, _pte);
                    goto @out;
                }
            }
            if (!pte_present(pteval) || !pte_write(pteval))
            {
                release_pte_pages(pte, _pte);
                goto @out;
            }
            page = vm_normal_page(vma, address, pteval);
            if (unlikely(page == null))
            {
                release_pte_pages(pte, _pte);
                goto @out;
            }
            VM_BUG_ON(PageCompound(page!));
            BUG_ON(!PageAnon(page!));

            /* cannot use mapcount: can't collapse if there's a gup pin */
            if (page_count(page!) != 1)
            {
                release_pte_pages(pte, _pte);
                goto @out;
            }
            /*
             * We can do it before isolate_lru_page because the
             * page can't be freed from under us. NOTE: PG_lock
             * is needed to serialize against split_huge_page
             * when invoked from the VM.
             */
            if (!trylock_page(page!))
            {
                release_pte_pages(pte, _pte);
                goto @out;
            }
            /* isolate_lru_page(): no LRU in Kernel.Mm, the page lock is the isolation */

            /* If there is no mapped pte young don't collapse the page */
            if (pte_young(pteval) ||
                mmu_notifier_test_young(vma.vm_mm, address) != 0)
                referenced = true;
        }
        if (unlikely(!referenced))
            release_all_pte_pages(pte);
        else
            isolated = true;
    @out:
        return isolated;
    }

    /// <summary>__collapse_huge_page_copy(): copy the small pages into the huge one and free them.</summary>
    public static void __collapse_huge_page_copy(pte_ptr pte, page page,
                                                 vm_area_struct vma,
                                                 ulong address,
                                                 spinlock_t ptl)
    {
        for (int i = 0; i < HPAGE_PMD_NR; i++)
        {
            pte_ptr _pte = pte + i;
            pte_t pteval = ptep_get(_pte);
            page src_page;

            if (pte_none(pteval))
            {
                clear_user_highpage(page, address);
                add_mm_counter(vma.vm_mm, MM_ANONPAGES, 1);
            }
            else
            {
                src_page = pte_page(pteval);
                copy_user_highpage(page, src_page, address, vma);
                VM_BUG_ON(page_mapcount(src_page) != 1);
                release_pte_page(src_page);
                /*
                 * ptl mostly unnecessary, but preempt has to
                 * be disabled to update the per-cpu stats
                 * inside page_remove_rmap().
                 */
                spin_lock(ptl);
                /*
                 * paravirt calls inside pte_clear here are
                 * superfluous.
                 */
                pte_clear(vma.vm_mm, address, _pte);
                page_remove_rmap(src_page);
                spin_unlock(ptl);
                /* free_page_and_swap_cache(): no swap cache, just the reference */
                put_page(src_page);
            }

            address += PAGE_SIZE;
            if (i + 1 < HPAGE_PMD_NR)
                page = nth_page(page, 1);
        }
    }
}
