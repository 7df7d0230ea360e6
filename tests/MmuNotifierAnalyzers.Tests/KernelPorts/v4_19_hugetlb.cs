using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_19;

/// <summary>
/// mm/hugetlb.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments at 0c8fdfc73a8e; the tree
/// stores no Makefile: 4.19 is confirmed by <c>adjust_range_if_pmd_sharing_possible</c> (new in
/// 4.19), the 0f10851ea475 "See Documentation/vm/mmu_notifier.rst" comments (4.19) and the
/// (mm, start, end) notifier calls (4.20 moved to <c>struct mmu_notifier_range</c>). The owner's
/// comments are left out). Correct forms: every notification inside start/end, ranges in bytes
/// aligned to the huge page. Kernel.Mm has no hugetlb reservations, shared PMDs, migration or
/// hwpoison entries: those helpers are stubbed as noted.
/// </summary>
public static class hugetlb
{
    /* adjust_range_if_pmd_sharing_possible(): widen to the PUD if PMDs may be shared; Kernel.Mm never shares. */
    private static void adjust_range_if_pmd_sharing_possible(vm_area_struct vma, ref ulong start, ref ulong end)
    {
    }

    /* huge_pmd_unshare(): Kernel.Mm does not share hugetlb PMDs. */
    private static bool huge_pmd_unshare(mm_struct mm, ref ulong address, pte_ptr ptep) => false;

    /* huge_pte_offset(mm, addr, sz): the 4.12+ three-argument form of Kernel.Mm's. */
    private static pte_ptr? huge_pte_offset(mm_struct mm, ulong addr, ulong sz) => Linux.huge_pte_offset(mm, addr);

    /* huge_pte_alloc(mm, addr, sz): as Kernel.Mm's. */
    private static pte_ptr? huge_pte_alloc(mm_struct mm, ulong addr, ulong sz) => Linux.huge_pte_alloc(mm, addr, sz);

    /* huge_pte_lockptr(): hugetlb page-table lock; mm->page_table_lock in Kernel.Mm. */
    private static spinlock_t huge_pte_lockptr(hstate h, mm_struct mm, pte_ptr pte) => mm.page_table_lock;

    /* is_hugetlb_entry_migration()/_hwpoisoned(): no such entries in Kernel.Mm. */
    private static bool is_hugetlb_entry_migration(pte_t pte) => false;

    private static bool is_hugetlb_entry_hwpoisoned(pte_t pte) => false;

    /* huge_pte_clear(): clears a non-present (migration/hwpoison) entry; never reached here. */
    private static void huge_pte_clear(mm_struct mm, ulong address, pte_ptr ptep, ulong sz)
    {
    }

    /* hugetlb_count_add()/_sub(): the mm's hugetlb RSS counter; not modelled. */
    private static void hugetlb_count_add(ulong l, mm_struct mm)
    {
    }

    private static void hugetlb_count_sub(ulong l, mm_struct mm)
    {
    }

    /* huge_pte_dirty(): pte_dirty on x86. */
    private static bool huge_pte_dirty(pte_t pte) => pte_dirty(pte);

    /* huge_pte_modify(): pte_modify on x86. */
    private static pte_t huge_pte_modify(pte_t pte, pgprot_t newprot) => pte_modify(pte, newprot);

    /* arch_make_huge_pte(): the identity except on sparc/arm. */
    private static pte_t arch_make_huge_pte(pte_t entry, vm_area_struct vma, page? page, int writable) => entry;

    /* HPAGE_RESV_OWNER/_UNMAPPED, is_vma_resv_set(), set_vma_resv_flags(): no reservations in Kernel.Mm. */
    private const int HPAGE_RESV_OWNER = 1;
    private const int HPAGE_RESV_UNMAPPED = 2;

    private static bool is_vma_resv_set(vm_area_struct vma, int flag) => false;

    private static void set_vma_resv_flags(vm_area_struct vma, int flags)
    {
    }

    /* unmap_ref_private(): unmap the page from children without reserves; only with reservations. */
    private static void unmap_ref_private(mm_struct mm, vm_area_struct vma, page page, ulong address)
    {
    }

    /* restore_reserve_on_error(): reservation bookkeeping; nothing to restore. */
    private static void restore_reserve_on_error(hstate h, vm_area_struct vma, ulong address, page page)
    {
    }

    /* set_page_huge_active()/ClearPagePrivate(): page flags Kernel.Mm does not keep. */
    private static void set_page_huge_active(page page)
    {
    }

    private static void ClearPagePrivate(page page)
    {
    }

    /* page_move_anon_rmap(page, vma): the 4.19 form, without the address. */
    private static void page_move_anon_rmap(page page, vm_area_struct vma) =>
        kernel.page_move_anon_rmap(page, vma, vma.vm_start);

    /* i_mmap_lock_write/unlock(vma->vm_file->f_mapping): the file's i_mmap_rwsem; Kernel.Mm has no files. */
    private static void i_mmap_lock_write(vm_area_struct vma)
    {
    }

    private static void i_mmap_unlock_write(vm_area_struct vma)
    {
    }

    /* tlb_remove_check_page_size_change(): batch-size bookkeeping of the 4.19 mmu_gather. */
    private static void tlb_remove_check_page_size_change(mmu_gather tlb, ulong sz)
    {
    }

    /* tlb_remove_huge_tlb_entry(): tlb_remove_tlb_entry for a huge pte. */
    private static void tlb_remove_huge_tlb_entry(hstate h, mmu_gather tlb, pte_ptr ptep, ulong address) =>
        tlb_remove_tlb_entry(tlb, ptep, address);

    /* tlb_remove_page_size(): queue the page for freeing after the TLB flush (__tlb_remove_page, flushing when full). */
    private static void tlb_remove_page_size(mmu_gather tlb, page page, ulong page_size)
    {
        if (!__tlb_remove_page(tlb, page))
            tlb_flush_mmu(tlb);
    }

    /* flush_hugetlb_tlb_range(): flush_tlb_range unless the arch overrides it. */
    private static void flush_hugetlb_tlb_range(vm_area_struct vma, ulong start, ulong end) =>
        flush_tlb_range(vma, start, end);

    public static int copy_hugetlb_page_range(mm_struct dst, mm_struct src,
                                              vm_area_struct vma)
    {
        pte_ptr? src_pte, dst_pte;
        pte_t entry;
        page ptepage;
        ulong addr;
        bool cow;
        hstate h = hstate_vma(vma);
        ulong sz = huge_page_size(h);
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */
        int ret = 0;

        cow = (vma.vm_flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;

        mmun_start = vma.vm_start;
        mmun_end = vma.vm_end;
        if (cow)
            mmu_notifier_invalidate_range_start(src, mmun_start, mmun_end);

        for (addr = vma.vm_start; addr < vma.vm_end; addr += sz)
        {
            spinlock_t src_ptl, dst_ptl;
            src_pte = huge_pte_offset(src, addr, sz);
            if (src_pte == null)
                continue;
            dst_pte = huge_pte_alloc(dst, addr, sz);
            if (dst_pte == null)
            {
                ret = -ENOMEM;
                break;
            }

            /* If the pagetables are shared don't copy or take references */
            if (dst_pte == src_pte)
                continue;

            /* huge_pte_lock(h, dst, dst_pte) */
            dst_ptl = huge_pte_lockptr(h, dst, dst_pte);
            spin_lock(dst_ptl);
            src_ptl = huge_pte_lockptr(h, src, src_pte);
            spin_lock(src_ptl); /* spin_lock_nested(src_ptl, SINGLE_DEPTH_NESTING) */
            entry = huge_ptep_get(src_pte);
            if (huge_pte_none(entry))
            { /* skip none entry */
            }
            else if (unlikely(is_hugetlb_entry_migration(entry) ||
                              is_hugetlb_entry_hwpoisoned(entry)))
            {
                /* migration/hwpoison swap entries: never present in Kernel.Mm, elided */
            }
            else
            {
                if (cow)
                {
                    /*
                     * No need to notify as we are downgrading page
                     * table protection not changing it to point
                     * to a new page.
                     *
                     * See Documentation/vm/mmu_notifier.rst
                     */
                    huge_ptep_set_wrprotect(src, addr, src_pte);
                }
                entry = huge_ptep_get(src_pte);
                ptepage = pte_page(entry);
                get_page(ptepage);
                page_dup_rmap(ptepage, true);
                set_huge_pte_at(dst, addr, dst_pte, entry);
                hugetlb_count_add(pages_per_huge_page(h), dst);
            }
            spin_unlock(src_ptl);
            spin_unlock(dst_ptl);
        }

        if (cow)
            mmu_notifier_invalidate_range_end(src, mmun_start, mmun_end);

        return ret;
    }

    public static void __unmap_hugepage_range(mmu_gather tlb, vm_area_struct vma,
                                              ulong start, ulong end,
                                              page? ref_page)
    {
        mm_struct mm = vma.vm_mm;
        ulong address;
        pte_ptr? ptep;
        pte_t pte;
        spinlock_t ptl;
        page page;
        hstate h = hstate_vma(vma);
        ulong sz = huge_page_size(h);
        ulong mmun_start = start;   /* For mmu_notifiers */
        ulong mmun_end = end;       /* For mmu_notifiers */

        WARN_ON(!is_vm_hugetlb_page(vma));
        BUG_ON((start & ~huge_page_mask(h)) != 0);
        BUG_ON((end & ~huge_page_mask(h)) != 0);

        /*
         * This is a hugetlb vma, all the pte entries should point
         * to huge page.
         */
        tlb_remove_check_page_size_change(tlb, sz);
        tlb_start_vma(tlb, vma);

        /*
         * If sharing possible, alert mmu notifiers of worst case.
         */
        adjust_range_if_pmd_sharing_possible(vma, ref mmun_start, ref mmun_end);
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        address = start;
        for (; address < end; address += sz)
        {
            ptep = huge_pte_offset(mm, address, sz);
            if (ptep == null)
                continue;

            /* huge_pte_lock(h, mm, ptep) */
            ptl = huge_pte_lockptr(h, mm, ptep);
            spin_lock(ptl);
            if (huge_pmd_unshare(mm, ref address, ptep))
            {
                spin_unlock(ptl);
                /*
                 * We just unmapped a page of PMDs by clearing a PUD.
                 * The caller's TLB flush range should cover this area.
                 */
                continue;
            }

            pte = huge_ptep_get(ptep);
            if (huge_pte_none(pte))
            {
                spin_unlock(ptl);
                continue;
            }

            /*
             * Migrating hugepage or HWPoisoned hugepage is already
             * unmapped and its refcount is dropped, so just clear pte here.
             */
            if (unlikely(!pte_present(pte)))
            {
                huge_pte_clear(mm, address, ptep, sz);
                spin_unlock(ptl);
                continue;
            }

            page = pte_page(pte);
            /*
             * If a reference page is supplied, it is because a specific
             * page is being unmapped, not a range. Ensure the page we
             * are about to unmap is the actual page of interest.
             */
            if (ref_page != null)
            {
                if (page != ref_page)
                {
                    spin_unlock(ptl);
                    continue;
                }
                /*
                 * Mark the VMA as having unmapped its page so that
                 * future faults in this VMA will fail rather than
                 * looking like data was lost
                 */
                set_vma_resv_flags(vma, HPAGE_RESV_UNMAPPED);
            }

            pte = huge_ptep_get_and_clear(mm, address, ptep);
            tlb_remove_huge_tlb_entry(h, tlb, ptep, address);
            if (huge_pte_dirty(pte))
                set_page_dirty(page);

            hugetlb_count_sub(pages_per_huge_page(h), mm);
            page_remove_rmap(page, true);

            spin_unlock(ptl);
            tlb_remove_page_size(tlb, page, huge_page_size(h)); // no finding: MMU010, the page goes to the mmu_gather and is freed after the TLB flush, not here
            /*
             * Bail out after unmapping reference page if supplied
             */
            if (ref_page != null)
                break;
        }
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
        tlb_end_vma(tlb, vma);
    }

    /*
     * Hugetlb_cow() should be called with page lock of the original hugepage held.
     * Called with hugetlb_instantiation_mutex held and pte_page locked so we
     * cannot race with other handlers or page migration.
     * Keep the pte_same checks anyway to make transition from the mutex easier.
     */
    [MustHoldLock("ptl")]
    public static vm_fault_t hugetlb_cow(mm_struct mm, vm_area_struct vma,
                                         ulong address, pte_ptr? ptep,
                                         page? pagecache_page, spinlock_t ptl)
    {
        pte_t pte;
        hstate h = hstate_vma(vma);
        page old_page;
        page? new_page;
        int outside_reserve = 0;
        vm_fault_t ret = 0;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */
        ulong haddr = address & huge_page_mask(h);

        pte = huge_ptep_get(ptep!);
        old_page = pte_page(pte);

    retry_avoidcopy:
        /* If no-one else is actually using this page, avoid the copy
         * and just make the page writable */
        if (page_mapcount(old_page) == 1 && PageAnon(old_page))
        {
            page_move_anon_rmap(old_page, vma);
            set_huge_ptep_writable(vma, haddr, ptep!);
            return 0;
        }

        /*
         * If the process that created a MAP_PRIVATE mapping is about to
         * perform a COW due to a shared page count, attempt to satisfy
         * the allocation without using the existing reserves. The pagecache
         * page is used to determine if the reserve at this address was
         * consumed or not. If reserves were used, a partial faulted mapping
         * at the time of fork() could consume its reserves on COW instead
         * of the full address range.
         */
        if (is_vma_resv_set(vma, HPAGE_RESV_OWNER) &&
                old_page != pagecache_page)
            outside_reserve = 1;

        get_page(old_page);

        /*
         * Drop page table lock as buddy allocator may be called. It will
         * be acquired again before returning to the caller, as expected.
         */
        spin_unlock(ptl);
        new_page = alloc_huge_page(vma, haddr, outside_reserve);

        if (new_page == null) /* IS_ERR(new_page) */
        {
            /*
             * If a process owning a MAP_PRIVATE mapping fails to COW,
             * it is due to references held by a child and an insufficient
             * huge page pool. To guarantee the original mappers
             * reliability, unmap the page from child processes. The child
             * may get SIGKILLed if it later faults.
             */
            if (outside_reserve != 0)
            {
                put_page(old_page);
                BUG_ON(huge_pte_none(pte));
                unmap_ref_private(mm, vma, old_page, haddr);
                BUG_ON(huge_pte_none(pte));
                spin_lock(ptl);
                ptep = huge_pte_offset(mm, haddr, huge_page_size(h));
                if (likely(ptep != null &&
                           pte_same(huge_ptep_get(ptep), pte)))
                    goto retry_avoidcopy;
                /*
                 * race occurs while re-acquiring page table
                 * lock, and our job is done.
                 */
                return 0;
            }

            ret = VM_FAULT_OOM; /* vmf_error(PTR_ERR(new_page)) */
            goto out_release_old;
        }

        /*
         * When the original hugepage is shared one, it does not have
         * anon_vma prepared.
         */
        if (unlikely(anon_vma_prepare(vma) != 0))
        {
            ret = VM_FAULT_OOM;
            goto out_release_all;
        }

        copy_user_huge_page(new_page, old_page, address, vma,
                            pages_per_huge_page(h));
        __SetPageUptodate(new_page);
        set_page_huge_active(new_page);

        mmun_start = haddr;
        mmun_end = mmun_start + huge_page_size(h);
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end); // no finding: MMU007/MMU008, haddr is address & huge_page_mask(h) and the length is huge_page_size(h) bytes

        /*
         * Retake the page table lock to check for racing updates
         * before the page tables are altered
         */
        spin_lock(ptl);
        ptep = huge_pte_offset(mm, haddr, huge_page_size(h));
        if (likely(ptep != null && pte_same(huge_ptep_get(ptep), pte)))
        {
            ClearPagePrivate(new_page);

            /* Break COW */
            huge_ptep_clear_flush(vma, haddr, ptep);
            mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
            set_huge_pte_at(mm, haddr, ptep,
                            make_huge_pte(vma, new_page, 1));
            page_remove_rmap(old_page, true);
            hugepage_add_new_anon_rmap(new_page, vma, haddr);
            /* Make the old page be freed below */
            new_page = old_page;
        }
        spin_unlock(ptl);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    out_release_all:
        restore_reserve_on_error(h, vma, haddr, new_page);
        put_page(new_page);
    out_release_old:
        put_page(old_page);

        spin_lock(ptl); /* Caller expects lock to be held */
        return ret;
    }

    public static ulong hugetlb_change_protection(vm_area_struct vma,
                                                  ulong address, ulong end, pgprot_t newprot)
    {
        mm_struct mm = vma.vm_mm;
        ulong start = address;
        pte_ptr? ptep;
        pte_t pte;
        hstate h = hstate_vma(vma);
        ulong pages = 0;
        ulong f_start = start;
        ulong f_end = end;
        bool shared_pmd = false;

        /*
         * In the case of shared PMDs, the area to flush could be beyond
         * start/end.  Set f_start/f_end to cover the maximum possible
         * range if PMD sharing is possible.
         */
        adjust_range_if_pmd_sharing_possible(vma, ref f_start, ref f_end);

        BUG_ON(address >= end);
        flush_cache_range(vma, f_start, f_end);

        mmu_notifier_invalidate_range_start(mm, f_start, f_end);
        i_mmap_lock_write(vma);
        for (; address < end; address += huge_page_size(h))
        {
            spinlock_t ptl;
            ptep = huge_pte_offset(mm, address, huge_page_size(h));
            if (ptep == null)
                continue;
            /* huge_pte_lock(h, mm, ptep) */
            ptl = huge_pte_lockptr(h, mm, ptep);
            spin_lock(ptl);
            if (huge_pmd_unshare(mm, ref address, ptep))
            {
                pages++;
                spin_unlock(ptl);
                shared_pmd = true;
                continue;
            }
            pte = huge_ptep_get(ptep);
            if (unlikely(is_hugetlb_entry_hwpoisoned(pte)))
            {
                spin_unlock(ptl);
                continue;
            }
            if (unlikely(is_hugetlb_entry_migration(pte)))
            {
                /* write migration entry made read: no migration entries in Kernel.Mm, elided */
                spin_unlock(ptl);
                continue;
            }
            if (!huge_pte_none(pte))
            {
                pte = huge_ptep_get_and_clear(mm, address, ptep);
                pte = pte_mkhuge(huge_pte_modify(pte, newprot));
                pte = arch_make_huge_pte(pte, vma, null, 0);
                set_huge_pte_at(mm, address, ptep, pte);
                pages++;
            }
            spin_unlock(ptl);
        }
        /*
         * Must flush TLB before releasing i_mmap_rwsem: x86's huge_pmd_unshare
         * may have cleared our pud entry and done put_page on the page table:
         * once we release i_mmap_rwsem, another task can do the final put_page
         * and that page table be reused and filled with junk.  If we actually
         * did unshare a page of pmds, flush the range corresponding to the pud.
         */
        if (shared_pmd)
            flush_hugetlb_tlb_range(vma, f_start, f_end);
        else
            flush_hugetlb_tlb_range(vma, start, end);
        /*
         * No need to call mmu_notifier_invalidate_range() we are downgrading
         * page table protection not changing it to point to a new page.
         *
         * See Documentation/vm/mmu_notifier.rst
         */
        i_mmap_unlock_write(vma);
        mmu_notifier_invalidate_range_end(mm, f_start, f_end);

        return pages << huge_page_order(h);
    }
}
