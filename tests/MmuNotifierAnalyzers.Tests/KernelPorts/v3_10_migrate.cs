using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V3_10;

/// <summary>
/// mm/migrate.c, Linux v3.10.9 (read from AndreiLux/ref-3.10 at 147ee33213f0; its
/// <c>pmdp_clear_flush</c> before <c>set_pmd_at</c> is 3f926ab945b6 "mm: Close races between THP
/// migration and PMD numa clearing", which that vendor tree carries). Buggy form:
/// migrate_misplaced_transhuge_page clears the huge pmd of the old page and installs the new one
/// under the page-table lock with no MMU notifier at all, so KVM keeps mapping the old page
/// (Mel Gorman's "mm: numa: call MMU notifiers on THP migration", v3.13, bracketed the pmd change
/// with invalidate_range_start/end; v4_19_migrate.cs is the form that lasted). Kernel.Mm has no
/// NUMA nodes, LRU or memcg: those steps are stubbed or elided as noted.
/// </summary>
public static class migrate
{
    /* NODE_DATA(node): one node in Kernel.Mm; the node number stands for its pg_data_t. */
    private static int NODE_DATA(int node) => node;

    /* page_is_file_cache(): 0 for the anon THPs NUMA balancing migrates. */
    private static int page_is_file_cache(page page) => PageAnon(page) ? 0 : 1;

    /* numamigrate_update_ratelimit(pgdat, nr_pages): never rate limited here. */
    private static bool numamigrate_update_ratelimit(int pgdat, int nr_pages) => false;

    /* alloc_pages_node(node, (GFP_TRANSHUGE | GFP_THISNODE) & ~__GFP_WAIT, order): one node in Kernel.Mm. */
    private static page? alloc_pages_node(int node, gfp_t gfp_mask, int order) => alloc_pages(gfp_mask, order);

    /* numamigrate_isolate_page(): isolate from the LRU (an extra reference) and drop the caller's; no LRU here. */
    private static int numamigrate_isolate_page(int pgdat, page page) => 1;

    /* __set_page_locked(): the new page is not yet visible, so a plain lock. */
    private static void __set_page_locked(page page) => lock_page(page);

    /* migrate_page_copy(): copy the contents and page state. */
    private static void migrate_page_copy(page newpage, page page) =>
        copy_user_huge_page(newpage, page, 0, null!, (uint)HPAGE_PMD_NR);

    /* putback_lru_page(): back on the LRU, dropping the isolation reference; no LRU here. */
    private static void putback_lru_page(page page) => put_page(page);

    /* mlock_migrate_page(): move PG_mlocked to the new page. */
    private static void mlock_migrate_page(page newpage, page page)
    {
    }

    /* pmd_mknonnuma(): clear _PAGE_NUMA, set _PAGE_PRESENT; Kernel.Mm has no NUMA hinting bit. */
    private static pmd_t pmd_mknonnuma(pmd_t pmd) => __pmd(pmd_val(pmd) | _PAGE_PRESENT);

    /* update_mmu_cache_pmd(vma, address, &entry): a no-op on x86. */
    private static void update_mmu_cache_pmd(vm_area_struct vma, ulong address, pmd_t entry)
    {
    }

    /*
     * Migrates a THP to a given target node. page must be locked and is unlocked
     * before returning.
     */
    public static int migrate_misplaced_transhuge_page(mm_struct mm,
                                                       vm_area_struct vma,
                                                       pmd_ptr pmd, pmd_t entry,
                                                       ulong address,
                                                       page page, int node)
    {
        ulong haddr = address & HPAGE_PMD_MASK;
        int pgdat = NODE_DATA(node);
        int isolated = 0;
        page? new_page = null;
        int page_lru = page_is_file_cache(page);

        /*
         * Don't migrate pages that are mapped in multiple processes.
         * TODO: Handle false sharing detection instead of this hammer
         */
        if (page_mapcount(page) != 1)
            goto out_dropref;

        /*
         * Rate-limit the amount of data that is being migrated to a node.
         * Optimal placement is no good if the memory bus is saturated and
         * all the time is being spent migrating!
         */
        if (numamigrate_update_ratelimit(pgdat, HPAGE_PMD_NR))
            goto out_dropref;

        new_page = alloc_pages_node(node,
            GFP_TRANSHUGE, HPAGE_PMD_ORDER);
        if (new_page == null)
            goto out_fail;

        /* page_nid_xchg_last(new_page, page_nid_last(page)): no NUMA nodes */

        isolated = numamigrate_isolate_page(pgdat, page);
        if (isolated == 0)
        {
            put_page(new_page);
            goto out_fail;
        }

        /* Prepare a page as a migration target */
        __set_page_locked(new_page);
        /* SetPageSwapBacked(new_page); new_page->mapping/index = page's: not modelled */
        migrate_page_copy(new_page, page);

        /* Recheck the target PMD */
        spin_lock(mm.page_table_lock);
        if (unlikely(!pmd_same(pmdp_get(pmd), entry)))
        {
            spin_unlock(mm.page_table_lock);

            /* Reverse changes made by migrate_page_copy(): page flags, not modelled */
            mlock_migrate_page(page, new_page);

            unlock_page(new_page);
            put_page(new_page);     /* Free it */

            /* Retake the callers reference and putback on LRU */
            get_page(page);
            putback_lru_page(page);
            /* mod_zone_page_state(NR_ISOLATED_ANON + page_lru, -HPAGE_PMD_NR) */
            goto out_fail;
        }

        /* mem_cgroup_prepare_migration(page, new_page, &memcg): no memcg */

        entry = mk_pmd(new_page, vma.vm_page_prot);
        entry = pmd_mknonnuma(entry);
        entry = maybe_pmd_mkwrite(pmd_mkdirty(entry), vma);
        entry = pmd_mkhuge(entry);

        pmdp_clear_flush(vma, haddr, pmd); // expect: MMU013
        set_pmd_at(mm, haddr, pmd, entry); // no finding: MMU013, a fresh entry into the slot the clear above emptied
        page_add_new_anon_rmap(new_page, vma, haddr);
        update_mmu_cache_pmd(vma, address, entry);
        page_remove_rmap(page);
        /* mem_cgroup_end_migration(memcg, page, new_page, true) */
        spin_unlock(mm.page_table_lock);

        unlock_page(new_page);
        unlock_page(page);
        put_page(page);         /* Drop the rmap reference */
        put_page(page);         /* Drop the LRU isolation reference */

        /* count_vm_events(PGMIGRATE_SUCCESS), count_vm_numa_events(NUMA_PAGE_MIGRATE), mod_zone_page_state() */
        return isolated;

    out_fail:
        /* count_vm_events(PGMIGRATE_FAIL, HPAGE_PMD_NR) */
    out_dropref:
        entry = pmd_mknonnuma(entry);
        set_pmd_at(mm, haddr, pmd, entry); // no finding: MMU013, restores the entry the fault saw (access given back, nothing taken away)
        update_mmu_cache_pmd(vma, address, entry);

        unlock_page(page);
        put_page(page);
        return 0;
    }
}
