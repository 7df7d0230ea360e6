using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace Seeds.Before.Seed004;

/// <summary>
/// mm/huge_memory.c before seed 004 (v3.6): every huge-pmd clear goes through the 2012
/// <c>pmdp_clear_flush_notify</c> / <c>pmdp_splitting_flush_notify</c> macros, which call
/// invalidate_range_start/_end while <c>mm->page_table_lock</c> is held.
/// </summary>
public static partial class huge_memory
{
    public static vm_fault_t do_huge_pmd_wp_page_fallback(mm_struct mm,
                                                          vm_area_struct vma,
                                                          ulong address,
                                                          pmd_ptr pmd, pmd_t orig_pmd,
                                                          page page,
                                                          ulong haddr)
    {
        page pgtable;
        vm_fault_t ret = 0;
        int i;
        page?[]? pages;

        /* kmalloc(sizeof(struct page *) * HPAGE_PMD_NR, GFP_KERNEL): the array is a C# one */
        pages = kmalloc((nuint)(sizeof(ulong) * HPAGE_PMD_NR), GFP_KERNEL) == null
            ? null : new page?[HPAGE_PMD_NR];
        if (pages == null) // unlikely()
        {
            ret |= VM_FAULT_OOM;
            goto @out;
        }

        for (i = 0; i < HPAGE_PMD_NR; i++)
        {
            pages![i] = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, haddr); /* alloc_page_node(numa_node_id(), ...) */
            if (unlikely(pages[i] == null))
            {
                /* mem_cgroup_newpage_charge(): no memory cgroups in Kernel.Mm */
                while (--i >= 0)
                    put_page(pages[i]!);
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

        ulong mmun_start = haddr;
        ulong mmun_end = haddr + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        if (unlikely(!pmd_same(pmdp_get(pmd), orig_pmd)))
            goto out_free_pages;
        VM_BUG_ON(!PageHead(page));

        pmdp_huge_clear_flush_notify(vma, haddr, pmd);
        /* leave pmd empty until pte is filled */

        pgtable = pgtable_trans_huge_withdraw(mm, pmd);
        /*
         * pmd_populate(mm, &_pmd, pgtable) fills an on-stack pmd; Kernel.Mm has none, so the
         * table is filled through pmd itself, which is none until now and reachable only under
         * mm->page_table_lock, held here.
         */
        pmd_populate(mm, pmd, pgtable);

        for (i = 0; i < HPAGE_PMD_NR; i++, haddr += PAGE_SIZE)
        {
            pte_ptr pte;
            pte_t entry;
            entry = mk_pte(pages![i]!, vma.vm_page_prot);
            entry = maybe_mkwrite(pte_mkdirty(entry), vma);
            page_add_new_anon_rmap(pages[i]!, vma, haddr);
            pte = pte_offset_map(pmd, haddr);
            VM_BUG_ON(!pte_none(ptep_get(pte)));
            set_pte_at(mm, haddr, pte, entry);
            pte_unmap(pte);
        }
        kfree(pages);

        smp_wmb(); /* make pte visible before pmd */
        /* pmd_populate(mm, pmd, pgtable): done above */
        page_remove_rmap(page, true);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);

        ret |= VM_FAULT_WRITE;
        put_page(page);

    @out:
        return ret;

    out_free_pages:
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        for (i = 0; i < HPAGE_PMD_NR; i++)
        {
            /* mem_cgroup_uncharge_page(pages[i]) */
            put_page(pages![i]!);
        }
        kfree(pages);
        goto @out;
    }

    public static vm_fault_t do_huge_pmd_wp_page(mm_struct mm, vm_area_struct vma,
                                                 ulong address, pmd_ptr pmd, pmd_t orig_pmd)
    {
        vm_fault_t ret = 0;
        page page;
        page? new_page;
        ulong haddr;

        VM_BUG_ON(vma.anon_vma == null);
        spin_lock(mm.page_table_lock);
        if (unlikely(!pmd_same(pmdp_get(pmd), orig_pmd)))
            goto out_unlock;

        page = pmd_page(orig_pmd);
        VM_BUG_ON(!PageCompound(page) || !PageHead(page));
        haddr = address & HPAGE_PMD_MASK;
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
        get_page(page);
        spin_unlock(mm.page_table_lock);

        if (transparent_hugepage_enabled(vma) &&
            !transparent_hugepage_debug_cow())
            new_page = alloc_hugepage_vma(vma, haddr);
        else
            new_page = null;

        if (new_page == null) // unlikely()
        {
            /* count_vm_event(THP_FAULT_FALLBACK) */
            ret = do_huge_pmd_wp_page_fallback(mm, vma, address,
                                               pmd, orig_pmd, page, haddr);
            if ((ret & VM_FAULT_OOM) != 0)
                split_huge_page(page);
            put_page(page);
            goto @out;
        }
        /* count_vm_event(THP_FAULT_ALLOC); mem_cgroup_newpage_charge(): no memcg */

        copy_user_huge_page(new_page, page, haddr, vma, HPAGE_PMD_NR);
        __SetPageUptodate(new_page);

        ulong mmun_start = haddr;
        ulong mmun_end = haddr + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        put_page(page);
        if (unlikely(!pmd_same(pmdp_get(pmd), orig_pmd)))
        {
            spin_unlock(mm.page_table_lock);
            mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
            put_page(new_page);
            goto @out;
        }
        else
        {
            pmd_t entry;
            VM_BUG_ON(!PageHead(page));
            entry = mk_pmd(new_page, vma.vm_page_prot);
            entry = maybe_pmd_mkwrite(pmd_mkdirty(entry), vma);
            entry = pmd_mkhuge(entry);
            pmdp_huge_clear_flush_notify(vma, haddr, pmd);
            page_add_new_anon_rmap(new_page, vma, haddr, true);
            set_pmd_at(mm, haddr, pmd, entry);
            update_mmu_cache_pmd(vma, address, pmd);
            page_remove_rmap(page, true);
            put_page(page);
            ret |= VM_FAULT_WRITE;
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);
        goto @out;
    out_unlock:
        spin_unlock(mm.page_table_lock);
    @out:
        return ret;
    }

    /*
     * Marks the huge pmd mapping the page "splitting" (2012 THP refcounting): the pmd keeps
     * mapping the page, but gup and the VM wait for the split.
     */
    public static int __split_huge_page_splitting(page page,
                                                  vm_area_struct vma,
                                                  ulong address)
    {
        mm_struct mm = vma.vm_mm;
        pmd_ptr? pmd;
        int ret = 0;

        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock);
        pmd = page_check_address_pmd(page, mm, address,
                                     PAGE_CHECK_ADDRESS_PMD_NOTSPLITTING_FLAG);
        if (pmd != null)
        {
            /*
             * We can't temporarily set the pmd to null in order
             * to split it, the pmd must remain marked huge at all
             * times or the VM won't take the pmd_trans_huge paths
             * and it won't wait on the anon_vma->root->mutex to
             * serialize against split_huge_page*.
             */
            pmdp_splitting_flush(vma, address, pmd);
            ret = 1;
        }
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);

        return ret;
    }

    /*
     * khugepaged: replace the 512 ptes of [address, address + HPAGE_PMD_SIZE) with one huge pmd
     * mapping a copy (the CONFIG_NUMA path: the huge page is allocated here, *hpage stays NULL).
     * Called with mmap_sem held for read; returns with it released.
     */
    public static void collapse_huge_page(mm_struct mm,
                                          ulong address,
                                          ref page? hpage,
                                          vm_area_struct vma,
                                          int node)
    {
        pmd_ptr? pmd;
        pmd_t _pmd;
        pte_ptr pte;
        page pgtable;
        page? new_page;
        spinlock_t ptl;
        bool isolated;
        ulong hstart, hend;

        VM_BUG_ON((address & ~HPAGE_PMD_MASK) != 0);
        VM_BUG_ON(hpage != null);
        /*
         * Allocate the page while the vma is still valid and under
         * the mmap_sem read mode so there is no memory allocation
         * later when we take the mmap_sem in write mode. This is more
         * friendly behavior (OTOH it may actually hide bugs) to
         * filesystems in userland with daemons allocating memory in
         * the userland I/O paths.  Allocating memory with the
         * mmap_sem in read mode is good idea also to allow greater
         * scalability.
         */
        new_page = alloc_hugepage_vma(vma, address);

        /*
         * After allocating the hugepage, release the mmap_sem read lock in
         * preparation for taking it in write mode.
         */
        up_read(mm.mmap_sem);
        if (new_page == null) // unlikely()
        {
            /* count_vm_event(THP_COLLAPSE_ALLOC_FAILED); *hpage = ERR_PTR(-ENOMEM) */
            return;
        }

        /* count_vm_event(THP_COLLAPSE_ALLOC); mem_cgroup_newpage_charge(): no memcg */

        /*
         * Prevent all access to pagetables with the exception of
         * gup_fast later hanlded by the ptep_clear_flush and the VM
         * handled by the anon_vma lock + PG_lock.
         */
        down_write(mm.mmap_sem);
        if (unlikely(khugepaged_test_exit(mm)))
            goto @out;

        vma = find_vma(mm, address)!;
        hstart = (vma.vm_start + ~HPAGE_PMD_MASK) & HPAGE_PMD_MASK;
        hend = vma.vm_end & HPAGE_PMD_MASK;
        if (address < hstart || address + HPAGE_PMD_SIZE > hend)
            goto @out;

        if (((vma.vm_flags & VM_HUGEPAGE) == 0 && !khugepaged_always()) ||
            (vma.vm_flags & VM_NOHUGEPAGE) != 0)
            goto @out;

        if (vma.anon_vma == null)
            goto @out;

        /* pgd_offset/pud_offset/pmd_offset, then: */
        pmd = mm_find_pmd(mm, address);
        /* pmd can't go away or become huge under us */
        if (pmd == null || pmd_trans_huge(pmdp_get(pmd)))
            goto @out;

        anon_vma_lock_write(vma.anon_vma);

        pte = pte_offset_map(pmd, address);
        ptl = pte_lockptr(mm, pmd);

        ulong mmun_start = address;
        ulong mmun_end = address + HPAGE_PMD_SIZE;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);
        spin_lock(mm.page_table_lock); /* probably unnecessary */
        /*
         * After this gup_fast can't run anymore. This also removes
         * any huge TLB entry from the CPU so we won't allow
         * huge and small TLB entries for the same virtual address
         * to avoid the risk of CPU bugs in that area.
         */
        _pmd = pmdp_huge_clear_flush_notify(vma, address, pmd);
        spin_unlock(mm.page_table_lock);
        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);

        spin_lock(ptl);
        isolated = __collapse_huge_page_isolate(vma, address, pte);
        spin_unlock(ptl);

        if (unlikely(!isolated))
        {
            pte_unmap(pte);
            spin_lock(mm.page_table_lock);
            BUG_ON(!pmd_none(pmdp_get(pmd)));
            set_pmd_at(mm, address, pmd, _pmd);
            spin_unlock(mm.page_table_lock);
            anon_vma_unlock_write(vma.anon_vma);
            goto @out;
        }

        /*
         * All pages are isolated and locked so anon_vma rmap
         * can't run anymore.
         */
        anon_vma_unlock_write(vma.anon_vma);

        __collapse_huge_page_copy(pte, new_page, vma, address, ptl);
        pte_unmap(pte);
        __SetPageUptodate(new_page);
        pgtable = pmd_pgtable(_pmd);

        _pmd = mk_pmd(new_page, vma.vm_page_prot);
        _pmd = maybe_pmd_mkwrite(pmd_mkdirty(_pmd), vma);
        _pmd = pmd_mkhuge(_pmd);

        /*
         * spin_lock() below is not the equivalent of smp_wmb(), so
         * this is needed to avoid the copy_huge_page writes to become
         * visible after the set_pmd_at() write.
         */
        smp_wmb();

        spin_lock(mm.page_table_lock);
        BUG_ON(!pmd_none(pmdp_get(pmd)));
        page_add_new_anon_rmap(new_page, vma, address, true);
        set_pmd_at(mm, address, pmd, _pmd);
        update_mmu_cache_pmd(vma, address, pmd);
        pgtable_trans_huge_deposit(mm, pmd, pgtable);
        spin_unlock(mm.page_table_lock);

        /* khugepaged_pages_collapsed++ */
    out_up_write:
        up_write(mm.mmap_sem);
        return;

    @out:
        /* mem_cgroup_uncharge_page(new_page) */
        put_page(new_page);
        goto out_up_write;
    }
}
