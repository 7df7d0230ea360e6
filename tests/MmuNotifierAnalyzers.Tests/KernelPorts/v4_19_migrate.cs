using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_19;

/// <summary>
/// mm/migrate.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments at 0c8fdfc73a8e; 4.19 as for
/// that tree's hugetlb.c, and here by <c>mmu_notifier_invalidate_range_only_end(mm, start, end)</c>
/// (0f10851ea475, 4.19). The owner's comments are left out). Correct forms:
/// migrate_misplaced_transhuge_page clears the huge pmd with <c>pmdp_huge_clear_flush_notify</c>
/// inside start/end (the form this 4.19 tree has; later kernels changed this function, not
/// ported here); migrate_vma_insert_page notifies
/// inside the range its only caller, migrate_vma_pages, opened. Kernel.Mm has no NUMA nodes, LRU,
/// memcg or device memory: those steps are stubbed or elided as noted.
/// </summary>
public static class migrate
{
    /* mmu_notifier_invalidate_range_only_end(mm, start, end): _end without invalidate_range; Kernel.Mm has only the range form. */
    [ClosesInvalidationRange]
    private static void mmu_notifier_invalidate_range_only_end(mm_struct mm, ulong start, ulong end) =>
        mmu_notifier_invalidate_range_end(mm, start, end);

    /* page_is_file_cache(): 0 for the anon THPs NUMA balancing migrates. */
    private static int page_is_file_cache(page page) => PageAnon(page) ? 0 : 1;

    /* alloc_pages_node(node, GFP_TRANSHUGE_LIGHT | __GFP_THISNODE, order): one node in Kernel.Mm. */
    private static page? alloc_pages_node(int node, gfp_t gfp_mask, int order) => alloc_pages(gfp_mask, order);

    /* prep_transhuge_page(): deferred-split list setup; nothing to set up. */
    private static void prep_transhuge_page(page page)
    {
    }

    /* numamigrate_isolate_page(): isolate from the LRU (an extra reference) and drop the caller's; no LRU here. */
    private static int numamigrate_isolate_page(int node, page page) => 1;

    /* __SetPageLocked()/__SetPageSwapBacked(): the new page is not yet visible, so a plain lock. */
    private static void __SetPageLocked(page page) => lock_page(page);

    /* migrate_page_copy(): copy the contents and page state. */
    private static void migrate_page_copy(page newpage, page page) =>
        copy_user_huge_page(newpage, page, 0, null!, (uint)HPAGE_PMD_NR);

    /* page_ref_freeze()/page_ref_unfreeze(): freeze the count at 2 against gup; always succeeds here. */
    private static bool page_ref_freeze(page page, int count) => true;

    private static void page_ref_unfreeze(page page, int count)
    {
    }

    /* putback_lru_page(): back on the LRU, dropping the isolation reference; no LRU here. */
    private static void putback_lru_page(page page) => put_page(page);

    /* mlock_migrate_page(): move PG_mlocked to the new page. */
    private static void mlock_migrate_page(page newpage, page page)
    {
    }

    /* mk_huge_pmd(): mk_pmd with the huge bit. */
    private static pmd_t mk_huge_pmd(page page, pgprot_t prot) => pmd_mkhuge(mk_pmd(page, prot));

    /* pmd_modify(): new protection bits, same pfn. */
    private static pmd_t pmd_modify(pmd_t pmd, pgprot_t newprot) =>
        __pmd((pmd_val(pmd) & ~pgprot_val(PAGE_SHARED)) | pgprot_val(newprot));

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
        spinlock_t ptl;
        int isolated = 0;
        page? new_page = null;
        int page_lru = page_is_file_cache(page);
        ulong mmun_start = address & HPAGE_PMD_MASK;
        ulong mmun_end = mmun_start + HPAGE_PMD_SIZE;

        new_page = alloc_pages_node(node,
            GFP_TRANSHUGE,
            HPAGE_PMD_ORDER);
        if (new_page == null)
            goto out_fail;
        prep_transhuge_page(new_page);

        isolated = numamigrate_isolate_page(node, page);
        if (isolated == 0)
        {
            put_page(new_page);
            goto out_fail;
        }

        /* Prepare a page as a migration target */
        __SetPageLocked(new_page);
        /* PageSwapBacked -> __SetPageSwapBacked; new_page->mapping/index = page's: not modelled */
        migrate_page_copy(new_page, page);

        /* Recheck the target PMD */
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end); // no finding: MMU007/MMU008, address & HPAGE_PMD_MASK plus HPAGE_PMD_SIZE bytes
        ptl = pmd_lock(mm, pmd);
        if (unlikely(!pmd_same(pmdp_get(pmd), entry) || !page_ref_freeze(page, 2)))
        {
            spin_unlock(ptl);
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);

            /* Reverse changes made by migrate_page_copy(): page flags, not modelled */

            unlock_page(new_page);
            put_page(new_page);     /* Free it */

            /* Retake the callers reference and putback on LRU */
            get_page(page);
            putback_lru_page(page);
            /* mod_node_page_state(NR_ISOLATED_ANON + page_lru, -HPAGE_PMD_NR) */

            goto out_unlock;
        }

        entry = mk_huge_pmd(new_page, vma.vm_page_prot);
        entry = maybe_pmd_mkwrite(pmd_mkdirty(entry), vma);

        /*
         * Clear the old entry under pagetable lock and establish the new PTE.
         * Any parallel GUP will either observe the old page blocking on the
         * page lock, block on the page table lock or observe the new page.
         * The SetPageUptodate on the new page and page_add_new_anon_rmap
         * guarantee the copy is visible before the pagetable update.
         */
        flush_cache_range(vma, mmun_start, mmun_end);
        page_add_anon_rmap(new_page, vma, mmun_start, true);
        pmdp_huge_clear_flush_notify(vma, mmun_start, pmd);
        set_pmd_at(mm, mmun_start, pmd, entry);
        update_mmu_cache_pmd(vma, address, entry);

        page_ref_unfreeze(page, 2);
        mlock_migrate_page(new_page, page);
        page_remove_rmap(page, true);
        /* set_page_owner_migrate_reason(new_page, MR_NUMA_MISPLACED) */

        spin_unlock(ptl);
        /*
         * No need to double call mmu_notifier->invalidate_range() callback as
         * the above pmdp_huge_clear_flush_notify() did already call it.
         */
        mmu_notifier_invalidate_range_only_end(mm, mmun_start, mmun_end);

        /* Take an "isolate" reference and put new page on the LRU. */
        get_page(new_page);
        putback_lru_page(new_page);

        unlock_page(new_page);
        unlock_page(page);
        put_page(page);         /* Drop the rmap reference */
        put_page(page);         /* Drop the LRU isolation reference */

        /* count_vm_events(PGMIGRATE_SUCCESS), count_vm_numa_events(NUMA_PAGE_MIGRATE), mod_node_page_state() */
        return isolated;

    out_fail:
        /* count_vm_events(PGMIGRATE_FAIL, HPAGE_PMD_NR) */
        ptl = pmd_lock(mm, pmd);
        if (pmd_same(pmdp_get(pmd), entry))
        {
            entry = pmd_modify(entry, vma.vm_page_prot);
            set_pmd_at(mm, mmun_start, pmd, entry);
            update_mmu_cache_pmd(vma, address, entry);
        }
        spin_unlock(ptl);

    out_unlock:
        unlock_page(page);
        put_page(page);
        return 0;
    }

    /* struct migrate_vma: the range being migrated and its pfn arrays. */
    public sealed class migrate_vma_t
    {
        public vm_area_struct vma = null!;
        public ulong[] dst = null!;
        public ulong[] src = null!;
        public ulong cpages;
        public ulong npages;
        public ulong start;
        public ulong end;
    }

    /* MIGRATE_PFN_*: flags in the low bits of a migrate pfn. */
    private const ulong MIGRATE_PFN_VALID = 1UL << 0;
    private const ulong MIGRATE_PFN_MIGRATE = 1UL << 1;
    private const int MIGRATE_PFN_SHIFT = 6;

    /* migrate_pfn_to_page(): the page a migrate pfn names, or NULL. */
    private static page? migrate_pfn_to_page(ulong mpfn) =>
        (mpfn & MIGRATE_PFN_VALID) == 0 ? null : pfn_to_page(mpfn >> MIGRATE_PFN_SHIFT);

    /* vma_is_anonymous(): no vm_ops; every Kernel.Mm vma is anonymous. */
    private static bool vma_is_anonymous(vm_area_struct vma) => true;

    /* pmd_trans_unstable(): a huge or none pmd materialised under us. */
    private static bool pmd_trans_unstable(pmd_ptr pmd) => pmd_trans_huge(pmdp_get(pmd));

    /* is_zone_device_page(): no ZONE_DEVICE memory in Kernel.Mm. */
    private static bool is_zone_device_page(page page) => false;

    /* userfaultfd_missing(): no userfaultfd in Kernel.Mm. */
    private static bool userfaultfd_missing(vm_area_struct vma) => false;

    /* page_mapping(): the anon pages migrated here have none. */
    private static object? page_mapping(page page) => null;

    /* migrate_page(mapping, newpage, page, MIGRATE_SYNC_NO_COPY): move the struct page state; succeeds. */
    private const int MIGRATEPAGE_SUCCESS = 0;

    private static int migrate_page(object? mapping, page newpage, page page) => MIGRATEPAGE_SUCCESS;

    public static void migrate_vma_insert_page(migrate_vma_t migrate,
                                               ulong addr,
                                               page page,
                                               ref ulong src,
                                               ref ulong dst)
    {
        vm_area_struct vma = migrate.vma;
        mm_struct mm = vma.vm_mm;
        bool flush = false;
        spinlock_t ptl;
        pte_t entry;
        pmd_ptr? pmdp;
        pte_ptr ptep;

        /* Only allow populating anonymous memory */
        if (!vma_is_anonymous(vma))
            goto abort;

        /* pgd_offset, p4d_alloc, pud_alloc, pmd_alloc: Kernel.Mm's pmd_alloc */
        pmdp = pmd_alloc(mm, addr);
        if (pmdp == null)
            goto abort;

        if (pmd_trans_huge(pmdp_get(pmdp)) /* || pmd_devmap(*pmdp) */)
            goto abort;

        /*
         * Use pte_alloc() instead of pte_alloc_map().  We can't run
         * pte_offset_map() on pmds where a huge pmd might be created
         * from a different thread.
         *
         * pte_alloc_map() is safe to use under down_write(mmap_sem) or when
         * parallel threads are excluded by other means.
         *
         * Here we only have down_read(mmap_sem).
         */
        if (pte_alloc(mm, pmdp) != 0)
            goto abort;

        /* See the comment in pte_alloc_one_map() */
        if (unlikely(pmd_trans_unstable(pmdp)))
            goto abort;

        if (unlikely(anon_vma_prepare(vma) != 0))
            goto abort;

        /* mem_cgroup_try_charge(): no memory cgroups in Kernel.Mm */

        /*
         * The memory barrier inside __SetPageUptodate makes sure that
         * preceding stores to the page contents become visible before
         * the set_pte_at() write.
         */
        __SetPageUptodate(page);

        /* is_zone_device_page(page): device private/public entries, elided (no device memory) */
        entry = mk_pte(page, vma.vm_page_prot);
        if ((vma.vm_flags & VM_WRITE) != 0)
            entry = pte_mkwrite(pte_mkdirty(entry));

        ptep = pte_offset_map_lock(mm, pmdp, addr, out ptl);

        if (pte_present(ptep_get(ptep)))
        {
            ulong pfn = pte_pfn(ptep_get(ptep));

            if (!is_zero_pfn(pfn))
            {
                pte_unmap_unlock(ptep, ptl);
                goto abort;
            }
            flush = true;
        }
        else if (!pte_none(ptep_get(ptep)))
        {
            pte_unmap_unlock(ptep, ptl);
            goto abort;
        }

        /*
         * Check for usefaultfd but do not deliver the fault. Instead,
         * just back off.
         */
        if (userfaultfd_missing(vma))
        {
            pte_unmap_unlock(ptep, ptl);
            goto abort;
        }

        inc_mm_counter(mm, MM_ANONPAGES);
        page_add_new_anon_rmap(page, vma, addr, false);
        /* mem_cgroup_commit_charge(), lru_cache_add_active_or_unevictable(): not modelled */
        get_page(page);

        if (flush)
        {
            flush_cache_page(vma, addr, pte_pfn(ptep_get(ptep)));
            ptep_clear_flush_notify(vma, addr, ptep); // no finding: MMU006, the only caller migrate_vma_pages opened start(mm, mmu_start, migrate->end) over addr before calling
            set_pte_at_notify(mm, addr, ptep, entry); // no finding: MMU009, inside the range migrate_vma_pages opened
            update_mmu_cache(vma, addr, ptep);
        }
        else
        {
            /* No need to invalidate - it was non-present before */
            set_pte_at(mm, addr, ptep, entry);
            update_mmu_cache(vma, addr, ptep);
        }

        pte_unmap_unlock(ptep, ptl);
        src = MIGRATE_PFN_MIGRATE;
        return;

    abort:
        src &= ~MIGRATE_PFN_MIGRATE;
    }

    /*
     * migrate_vma_pages() - migrate meta-data from src page to dst page
     * @migrate: migrate struct containing all migration information
     *
     * This migrates struct page meta-data from source struct page to destination
     * struct page. This effectively finishes the migration from source page to the
     * destination page.
     */
    public static void migrate_vma_pages(migrate_vma_t migrate)
    {
        ulong npages = migrate.npages;
        ulong start = migrate.start;
        vm_area_struct vma = migrate.vma;
        mm_struct mm = vma.vm_mm;
        ulong addr, i, mmu_start = 0;
        bool notified = false;

        for (i = 0, addr = start; i < npages; addr += PAGE_SIZE, i++)
        {
            page? newpage = migrate_pfn_to_page(migrate.dst[i]);
            page? page = migrate_pfn_to_page(migrate.src[i]);
            object? mapping;
            int r;

            if (newpage == null)
            {
                migrate.src[i] &= ~MIGRATE_PFN_MIGRATE;
                continue;
            }

            if (page == null)
            {
                if ((migrate.src[i] & MIGRATE_PFN_MIGRATE) == 0)
                {
                    continue;
                }
                if (!notified)
                {
                    mmu_start = addr;
                    notified = true;
                    mmu_notifier_invalidate_range_start(mm, // no finding: MMU002/MMU003, start runs once (guarded by notified), mmu_start is not written again, and _only_end runs iff notified
                                                        mmu_start,
                                                        migrate.end);
                }
                migrate_vma_insert_page(migrate, addr, newpage,
                                        ref migrate.src[i],
                                        ref migrate.dst[i]);
                continue;
            }

            mapping = page_mapping(page);

            /* is_zone_device_page(newpage): device private/public checks, elided (no device memory) */

            r = migrate_page(mapping, newpage, page);
            if (r != MIGRATEPAGE_SUCCESS)
                migrate.src[i] &= ~MIGRATE_PFN_MIGRATE;
        }

        /*
         * No need to double call mmu_notifier->invalidate_range() callback as
         * the above ptep_clear_flush_notify() inside migrate_vma_insert_page()
         * did already call it.
         */
        if (notified)
            mmu_notifier_invalidate_range_only_end(mm, mmu_start,
                                                   migrate.end);
    }
}
