using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_0;

/// <summary>
/// mm/huge_memory.c, Linux v4.0.5 (read from zhanglin496/linux-4.0.5 at 676ebe985ffd; the tree
/// stores no Makefile: the version is the repository's name, consistent with the code: the 3.19
/// <c>pmdp_clear_flush_notify</c> of 34ee645e83b6, <c>mem_cgroup_try_charge</c>/<c>_commit_charge</c>
/// (3.17+), khugepaged still in huge_memory.c and 2012-style THP refcounting (<c>pmd_trans_splitting</c>,
/// both gone in 4.5)). 4.0's <c>pmdp_clear_flush_notify</c> is called as Kernel.Mm's
/// <c>pmdp_huge_clear_flush_notify</c>, its 4.5 name. Correct forms: every notifying clear inside
/// start/end, ranges of HPAGE_PMD_SIZE bytes from a huge-page-aligned address. No memcg, LRU,
/// NUMA or huge zero page in Kernel.Mm: those steps are stubbed or elided as noted.
/// </summary>
public static class huge_memory
{
    /* get_user_huge_page()/put_user_huge_page(): get_page/put_page without CONFIG_DEBUG_PAGEALLOC. */
    private static void get_user_huge_page(page page) => get_page(page);

    private static void put_user_huge_page(page page) => put_page(page);

    /* is_huge_zero_pmd()/put_huge_zero_page(): Kernel.Mm has no huge zero page. */
    private static bool is_huge_zero_pmd(pmd_t pmd) => false;

    private static void put_huge_zero_page()
    {
    }

    /* alloc_hugepage_gfpmask(transparent_hugepage_defrag(vma), 0): GFP_TRANSHUGE. */
    private static gfp_t alloc_hugepage_gfpmask(vm_area_struct vma) => GFP_TRANSHUGE;

    /* alloc_hugepage_vma(gfp, vma, haddr, HPAGE_PMD_ORDER): Seeds.Common's. */
    private static page? alloc_hugepage_vma(gfp_t gfp, vm_area_struct vma, ulong haddr, int order) =>
        kernel.alloc_hugepage_vma(vma, haddr);

    /* clear_huge_page(): zero the HPAGE_PMD_NR subpages. */
    private static void clear_huge_page(page page, ulong addr, int pages_per_huge_page)
    {
        for (int i = 0; i < pages_per_huge_page; i++)
            clear_user_highpage(nth_page(page, i), addr + PAGE_SIZE * (ulong)i);
    }

    /* mk_huge_pmd(): mk_pmd with the huge bit. */
    private static pmd_t mk_huge_pmd(page page, pgprot_t prot) => pmd_mkhuge(mk_pmd(page, prot));

    /*
     * page_check_address_pmd(page, mm, address, flag, &ptl): the 4.0 form takes the pmd lock itself
     * and returns with it held when it found the pmd; Kernel.Mm's wants the lock held by the caller.
     */
    [AcquiresLock("ptl", When = LockAcquisition.WhenReturnNotNull)]
    private static pmd_ptr? page_check_address_pmd(page page, mm_struct mm, ulong address,
                                                   int flag, out spinlock_t ptl)
    {
        ptl = mm.page_table_lock;
        spin_lock(ptl);
        pmd_ptr? pmd = Linux.page_check_address_pmd(page, mm, address, flag);
        if (pmd == null)
            spin_unlock(ptl);
        return pmd;
    }

    /* khugepaged_alloc_page() (CONFIG_NUMA): drops mmap_sem for read, then allocates the huge page. */
    private static page? khugepaged_alloc_page(ref page? hpage, mm_struct mm,
                                               vm_area_struct vma, ulong address, int node)
    {
        up_read(mm.mmap_sem);
        hpage = kernel.alloc_hugepage_vma(vma, address);
        return hpage;
    }

    /* hugepage_vma_check(): VM_HUGEPAGE set, VM_NOHUGEPAGE clear, an anon_vma and no vm_ops. */
    private static bool hugepage_vma_check(vm_area_struct vma) =>
        transparent_hugepage_enabled(vma) && vma.anon_vma != null;

    private static vm_fault_t do_huge_pmd_wp_page_fallback(mm_struct mm,
                                                           vm_area_struct vma,
                                                           ulong address,
                                                           pmd_ptr pmd, pmd_t orig_pmd,
                                                           page page,
                                                           ulong haddr)
    {
        spinlock_t ptl;
        page pgtable;
        vm_fault_t ret = 0;
        int i;
        page?[]? pages;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        /* kmalloc(sizeof(struct page *) * HPAGE_PMD_NR, GFP_KERNEL): the array is a C# one */
        pages = kmalloc((nuint)(sizeof(ulong) * HPAGE_PMD_NR), GFP_KERNEL) == null
            ? null : new page?[HPAGE_PMD_NR];
        if (unlikely(pages == null))
        {
            ret |= VM_FAULT_OOM;
            goto @out;
        }

        for (i = 0; i < HPAGE_PMD_NR; i++)
        {
            /* alloc_page_vma_node(GFP_HIGHUSER_MOVABLE | __GFP_OTHER_NODE, vma, address, page_to_nid(page)) */
            pages![i] = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, address);
            /* mem_cgroup_try_charge(): no memory cgroups in Kernel.Mm, only the allocation can fail */
            if (unlikely(pages[i] == null))
            {
                while (--i >= 0)
                {
                    /* mem_cgroup_cancel_charge(pages[i], memcg) */
                    put_page(pages[i]!);
                }
                kfree(pages);
                ret |= VM_FAULT_OOM;
                goto @out;
            }
        }

        for (i = 0; i < HPAGE_PMD_NR; i++)
        {
            copy_user_highpage(pages![i]!, nth_page(page, i),
                               haddr + PAGE_SIZE * (ulong)i, vma);
            __SetPageUptodate(pages[i]!);
            cond_resched();
        }

        mmun_start = haddr;
        mmun_end = haddr + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end); // no finding: MMU007/MMU008, haddr is address & HPAGE_PMD_MASK (do_huge_pmd_wp_page) and the length HPAGE_PMD_SIZE bytes

        ptl = pmd_lock(mm, pmd);
        if (unlikely(!pmd_same(pmdp_get(pmd), orig_pmd)))
            goto out_free_pages;
        VM_BUG_ON(!PageHead(page));

        pmdp_huge_clear_flush_notify(vma, haddr, pmd); /* pmdp_clear_flush_notify() in 4.0 */
        /* leave pmd empty until pte is filled */

        pgtable = pgtable_trans_huge_withdraw(mm, pmd);
        /*
         * pmd_populate(mm, &_pmd, pgtable) fills an on-stack pmd; Kernel.Mm has none, so the
         * table is filled through pmd itself, none since the clear and reachable only under ptl.
         */
        pmd_populate(mm, pmd, pgtable);

        for (i = 0; i < HPAGE_PMD_NR; i++, haddr += PAGE_SIZE)
        {
            pte_ptr pte;
            pte_t entry;
            entry = mk_pte(pages![i]!, vma.vm_page_prot);
            entry = maybe_mkwrite(pte_mkdirty(entry), vma);
            /* memcg = page_private(pages[i]); set_page_private(pages[i], 0): memcg not modelled */
            page_add_new_anon_rmap(pages[i]!, vma, haddr);
            /* mem_cgroup_commit_charge(), lru_cache_add_active_or_unevictable(): not modelled */
            pte = pte_offset_map(pmd, haddr);
            VM_BUG_ON(!pte_none(ptep_get(pte)));
            set_pte_at(mm, haddr, pte, entry);
            pte_unmap(pte);
        }
        kfree(pages);

        smp_wmb(); /* make pte visible before pmd */
        /* pmd_populate(mm, pmd, pgtable): done above */
        page_remove_rmap(page, true);
        spin_unlock(ptl);

        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);

        ret |= VM_FAULT_WRITE;
        put_page(page);

    @out:
        return ret;

    out_free_pages:
        spin_unlock(ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        for (i = 0; i < HPAGE_PMD_NR; i++)
        {
            /* mem_cgroup_cancel_charge(pages[i], memcg) */
            put_page(pages![i]!);
        }
        kfree(pages);
        goto @out;
    }

    public static vm_fault_t do_huge_pmd_wp_page(mm_struct mm, vm_area_struct vma,
                                                 ulong address, pmd_ptr pmd, pmd_t orig_pmd)
    {
        spinlock_t ptl;
        vm_fault_t ret = 0;
        page? page = null, new_page;
        ulong haddr;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        ptl = pmd_lockptr(mm, pmd);
        VM_BUG_ON(vma.anon_vma == null);
        haddr = address & HPAGE_PMD_MASK;
        if (is_huge_zero_pmd(orig_pmd))
            goto alloc;
        spin_lock(ptl);
        if (unlikely(!pmd_same(pmdp_get(pmd), orig_pmd)))
            goto out_unlock;

        page = pmd_page(orig_pmd);
        VM_BUG_ON(!PageCompound(page) || !PageHead(page));
        if (page_mapcount(page) == 1)
        {
            pmd_t entry;
            entry = pmd_mkyoung(orig_pmd);
            entry = maybe_pmd_mkwrite(pmd_mkdirty(entry), vma);
            if (pmdp_set_access_flags(vma, haddr, pmd, entry, 1) != 0)
                update_mmu_cache_pmd(vma, address, pmd);
            ret |= VM_FAULT_WRITE;
            goto out_unlock;
        }
        get_user_huge_page(page);
        spin_unlock(ptl);
    alloc:
        if (transparent_hugepage_enabled(vma) &&
            !transparent_hugepage_debug_cow())
        {
            gfp_t gfp;

            gfp = alloc_hugepage_gfpmask(vma);
            new_page = alloc_hugepage_vma(gfp, vma, haddr, HPAGE_PMD_ORDER);
        }
        else
            new_page = null;

        if (unlikely(new_page == null))
        {
            if (page == null)
            {
                split_huge_page_pmd(vma, address, pmd);
                ret |= VM_FAULT_FALLBACK;
            }
            else
            {
                ret = do_huge_pmd_wp_page_fallback(mm, vma, address,
                                                   pmd, orig_pmd, page, haddr);
                if ((ret & VM_FAULT_OOM) != 0)
                {
                    split_huge_page(page);
                    ret |= VM_FAULT_FALLBACK;
                }
                put_user_huge_page(page);
            }
            /* count_vm_event(THP_FAULT_FALLBACK) */
            goto @out;
        }

        /* mem_cgroup_try_charge(new_page, mm, GFP_TRANSHUGE, &memcg): no memory cgroups, never fails; its fallback branch elided */

        /* count_vm_event(THP_FAULT_ALLOC) */

        if (page == null)
            clear_huge_page(new_page!, haddr, HPAGE_PMD_NR);
        else
            copy_user_huge_page(new_page!, page, haddr, vma, (uint)HPAGE_PMD_NR);
        __SetPageUptodate(new_page!);

        mmun_start = haddr;
        mmun_end = haddr + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end); // no finding: MMU007/MMU008, haddr = address & HPAGE_PMD_MASK, length HPAGE_PMD_SIZE bytes

        spin_lock(ptl);
        if (page != null)
            put_user_huge_page(page); // no finding: MMU010, drops the extra reference taken above while the pmd still maps the page; nothing was cleared yet
        if (unlikely(!pmd_same(pmdp_get(pmd), orig_pmd)))
        {
            spin_unlock(ptl);
            /* mem_cgroup_cancel_charge(new_page, memcg) */
            put_page(new_page!);
            goto out_mn;
        }
        else
        {
            pmd_t entry;
            entry = mk_huge_pmd(new_page!, vma.vm_page_prot);
            entry = maybe_pmd_mkwrite(pmd_mkdirty(entry), vma);
            pmdp_huge_clear_flush_notify(vma, haddr, pmd); /* pmdp_clear_flush_notify() in 4.0 */
            page_add_new_anon_rmap(new_page!, vma, haddr, true);
            /* mem_cgroup_commit_charge(), lru_cache_add_active_or_unevictable(): not modelled */
            set_pmd_at(mm, haddr, pmd, entry);
            update_mmu_cache_pmd(vma, address, pmd);
            if (page == null)
            {
                add_mm_counter(mm, MM_ANONPAGES, HPAGE_PMD_NR);
                put_huge_zero_page();
            }
            else
            {
                VM_BUG_ON(!PageHead(page));
                page_remove_rmap(page, true);
                put_page(page); // no finding: MMU010, pmdp_clear_flush_notify already ran invalidate_range for this pmd
            }
            ret |= VM_FAULT_WRITE;
        }
        spin_unlock(ptl);
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    @out:
        return ret;
    out_unlock:
        spin_unlock(ptl);
        return ret;
    }

    public static int __split_huge_page_splitting(page page,
                                                  vm_area_struct vma,
                                                  ulong address)
    {
        mm_struct mm = vma.vm_mm;
        spinlock_t ptl;
        pmd_ptr? pmd;
        int ret = 0;
        /* For mmu_notifiers (const in the C) */
        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;

        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end); // no finding: MMU008, page_check_address_pmd() finds nothing (and nothing changes) unless address is HPAGE_PMD_MASK-aligned
        pmd = page_check_address_pmd(page, mm, address,
                                     PAGE_CHECK_ADDRESS_PMD_NOTSPLITTING_FLAG, out ptl);
        if (pmd != null)
        {
            /*
             * We can't temporarily set the pmd to null in order
             * to split it, the pmd must remain marked huge at all
             * times or the VM won't take the pmd_trans_huge paths
             * and it won't wait on the anon_vma->root->rwsem to
             * serialize against split_huge_page*.
             */
            pmdp_splitting_flush(vma, address, pmd);

            ret = 1;
            spin_unlock(ptl);
        }
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);

        return ret;
    }

    public static void collapse_huge_page(mm_struct mm,
                                          ulong address,
                                          ref page? hpage,
                                          vm_area_struct? vma,
                                          int node)
    {
        pmd_ptr? pmd;
        pmd_t _pmd;
        pte_ptr pte;
        page pgtable;
        page? new_page;
        spinlock_t pmd_ptl, pte_ptl;
        bool isolated;
        ulong hstart, hend;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        VM_BUG_ON((address & ~HPAGE_PMD_MASK) != 0);

        /* release the mmap_sem read lock. */
        new_page = khugepaged_alloc_page(ref hpage, mm, vma!, address, node);
        if (new_page == null)
            return;

        /* mem_cgroup_try_charge(): no memory cgroups in Kernel.Mm, never fails */

        /*
         * Prevent all access to pagetables with the exception of
         * gup_fast later hanlded by the ptep_clear_flush and the VM
         * handled by the anon_vma lock + PG_lock.
         */
        down_write(mm.mmap_sem);
        if (unlikely(khugepaged_test_exit(mm)))
            goto @out;

        vma = find_vma(mm, address);
        if (vma == null)
            goto @out;
        hstart = (vma.vm_start + ~HPAGE_PMD_MASK) & HPAGE_PMD_MASK;
        hend = vma.vm_end & HPAGE_PMD_MASK;
        if (address < hstart || address + HPAGE_PMD_SIZE > hend)
            goto @out;
        if (!hugepage_vma_check(vma))
            goto @out;
        pmd = mm_find_pmd(mm, address);
        if (pmd == null)
            goto @out;

        anon_vma_lock_write(vma.anon_vma!);

        pte = pte_offset_map(pmd, address);
        pte_ptl = pte_lockptr(mm, pmd);

        mmun_start = address;
        mmun_end = address + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end); // no finding: MMU008, VM_BUG_ON(address & ~HPAGE_PMD_MASK) above: address is aligned
        pmd_ptl = pmd_lock(mm, pmd); /* probably unnecessary */
        /*
         * After this gup_fast can't run anymore. This also removes
         * any huge TLB entry from the CPU so we won't allow
         * huge and small TLB entries for the same virtual address
         * to avoid the risk of CPU bugs in that area.
         */
        _pmd = pmdp_clear_flush(vma, address, pmd);
        spin_unlock(pmd_ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);

        spin_lock(pte_ptl);
        isolated = __collapse_huge_page_isolate(vma, address, pte);
        spin_unlock(pte_ptl);

        if (unlikely(!isolated))
        {
            pte_unmap(pte);
            spin_lock(pmd_ptl);
            BUG_ON(!pmd_none(pmdp_get(pmd)));
            /*
             * We can only use set_pmd_at when establishing
             * hugepmds and never for establishing regular pmds that
             * points to regular pagetables. Use pmd_populate for that
             */
            pmd_populate(mm, pmd, pmd_pgtable(_pmd));
            spin_unlock(pmd_ptl);
            anon_vma_unlock_write(vma.anon_vma!);
            goto @out;
        }

        /*
         * All pages are isolated and locked so anon_vma rmap
         * can't run anymore.
         */
        anon_vma_unlock_write(vma.anon_vma!);

        __collapse_huge_page_copy(pte, new_page, vma, address, pte_ptl);
        pte_unmap(pte);
        __SetPageUptodate(new_page);
        pgtable = pmd_pgtable(_pmd);

        _pmd = mk_huge_pmd(new_page, vma.vm_page_prot);
        _pmd = maybe_pmd_mkwrite(pmd_mkdirty(_pmd), vma);

        /*
         * spin_lock() below is not the equivalent of smp_wmb(), so
         * this is needed to avoid the copy_huge_page writes to become
         * visible after the set_pmd_at() write.
         */
        smp_wmb();

        spin_lock(pmd_ptl);
        BUG_ON(!pmd_none(pmdp_get(pmd)));
        page_add_new_anon_rmap(new_page, vma, address, true);
        /* mem_cgroup_commit_charge(), lru_cache_add_active_or_unevictable(): not modelled */
        pgtable_trans_huge_deposit(mm, pmd, pgtable);
        set_pmd_at(mm, address, pmd, _pmd);
        update_mmu_cache_pmd(vma, address, pmd);
        spin_unlock(pmd_ptl);

        hpage = null;

        /* khugepaged_pages_collapsed++ */
    out_up_write:
        up_write(mm.mmap_sem);
        return;

    @out:
        /* mem_cgroup_cancel_charge(new_page, memcg) */
        goto out_up_write;
    }

    private static void __split_huge_zero_page_pmd(vm_area_struct vma,
                                                   ulong haddr, pmd_ptr pmd)
    {
        mm_struct mm = vma.vm_mm;
        page pgtable;
        int i;

        pmdp_huge_clear_flush_notify(vma, haddr, pmd); // no finding: MMU006, the only caller __split_huge_page_pmd holds start/end open over [haddr, haddr + HPAGE_PMD_SIZE)
        /* leave pmd empty until pte is filled */

        pgtable = pgtable_trans_huge_withdraw(mm, pmd);
        /* pmd_populate(mm, &_pmd, pgtable): filled through pmd itself, as in do_huge_pmd_wp_page_fallback */
        pmd_populate(mm, pmd, pgtable);

        for (i = 0; i < HPAGE_PMD_NR; i++, haddr += PAGE_SIZE)
        {
            pte_ptr pte;
            pte_t entry;
            /* pfn_pte(my_zero_pfn(haddr), ...): Kernel.Mm has no zero page; this path is never taken (is_huge_zero_pmd is false) */
            entry = pfn_pte(0, vma.vm_page_prot);
            entry = pte_mkspecial(entry);
            pte = pte_offset_map(pmd, haddr);
            VM_BUG_ON(!pte_none(ptep_get(pte)));
            set_pte_at(mm, haddr, pte, entry);
            pte_unmap(pte);
        }
        smp_wmb(); /* make pte visible before pmd */
        /* pmd_populate(mm, pmd, pgtable): done above */
        put_huge_zero_page();
    }

    public static void __split_huge_page_pmd(vm_area_struct vma, ulong address,
                                             pmd_ptr pmd)
    {
        spinlock_t ptl;
        page page;
        mm_struct mm = vma.vm_mm;
        ulong haddr = address & HPAGE_PMD_MASK;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        BUG_ON(vma.vm_start > haddr || vma.vm_end < haddr + HPAGE_PMD_SIZE);

        mmun_start = haddr;
        mmun_end = haddr + HPAGE_PMD_SIZE;
    again:
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        ptl = pmd_lock(mm, pmd);
        if (unlikely(!pmd_trans_huge(pmdp_get(pmd))))
        {
            spin_unlock(ptl);
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
            return;
        }
        if (is_huge_zero_pmd(pmdp_get(pmd)))
        {
            __split_huge_zero_page_pmd(vma, haddr, pmd);
            spin_unlock(ptl);
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
            return;
        }
        page = pmd_page(pmdp_get(pmd));
        VM_BUG_ON(page_count(page) == 0);
        get_page(page);
        spin_unlock(ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);

        split_huge_page(page);

        put_page(page);

        /*
         * We don't always have down_write of mmap_sem here: a racing
         * do_huge_pmd_wp_page() might have copied-on-write to another
         * huge page before our split_huge_page() got the anon_vma lock.
         */
        if (unlikely(pmd_trans_huge(pmdp_get(pmd))))
            goto again;
    }
}
