using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;
using static Seeds.Common.page_vma_mapped;

namespace KernelPorts.V4_19;

/// <summary>
/// mm/ksm.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments; the owner's annotations are
/// left out). Correct forms: <c>set_pte_at_notify</c> inside <c>[mmun_start, mmun_end)</c>, and,
/// since 0f10851ea475 ("mm/mmu_notifier: avoid double notification when it is useless",
/// v4.19), plain <c>ptep_clear_flush</c> where the kernel documents that no invalidate_range is
/// needed (a downgrade to read-only; a read-only page replaced by one of the same content).
/// </summary>
public static class ksm
{
    /* page_address_in_vma(): the page's address in vma, or -EFAULT; Kernel.Mm's vma_address. */
    private static ulong page_address_in_vma(page page, vm_area_struct vma) => vma_address(page, vma);

    /* PageSwapCache(): Kernel.Mm has no swap cache. */
    private static bool PageSwapCache(page page) => false;

    /* try_to_free_swap(): Kernel.Mm has no swap. */
    private static void try_to_free_swap(page page)
    {
    }

    /* pte_protnone()/pte_savedwrite()/pte_clear_savedwrite(): NUMA-hinting ptes, not modelled. */
    private static bool pte_protnone(pte_t pte) => false;

    private static bool pte_savedwrite(pte_t pte) => false;

    private static pte_t pte_clear_savedwrite(pte_t pte) => pte;

    /* mm_tlb_flush_pending(): no deferred TLB flush in Kernel.Mm. */
    private static bool mm_tlb_flush_pending(mm_struct mm) => false;

    private static readonly ulong EFAULT_ADDR = unchecked((ulong)-EFAULT);

    public static int write_protect_page(vm_area_struct vma, page page,
                                         ref pte_t orig_pte)
    {
        mm_struct mm = vma.vm_mm;
        var pvmw = new page_vma_mapped_walk_t
        {
            page = page,
            vma = vma,
        };
        int swapped;
        int err = -EFAULT;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        pvmw.address = page_address_in_vma(page, vma);
        if (pvmw.address == EFAULT_ADDR)
            goto @out;

        BUG_ON(PageTransCompound(page));

        mmun_start = pvmw.address;
        mmun_end = pvmw.address + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);

        if (!page_vma_mapped_walk(pvmw))
            goto out_mn;
        if (WARN_ON(pvmw.pte == null)) /* WARN_ONCE: "Unexpected PMD mapping?" */
            goto out_unlock;

        if (pte_write(ptep_get(pvmw.pte!)) || pte_dirty(ptep_get(pvmw.pte!)) ||
            (pte_protnone(ptep_get(pvmw.pte!)) && pte_savedwrite(ptep_get(pvmw.pte!))) ||
            mm_tlb_flush_pending(mm))
        {
            pte_t entry;

            swapped = PageSwapCache(page) ? 1 : 0;
            flush_cache_page(vma, pvmw.address, page_to_pfn(page));
            /*
             * Ok this is tricky: clear the pte and flush the tlb before the
             * pagecount/mapcount check (get_user_pages_fast takes no lock).
             *
             * No need to notify as we are downgrading page table to read
             * only not changing it to point to a new page.
             */
            entry = ptep_clear_flush(vma, pvmw.address, pvmw.pte!);
            /*
             * Check that no O_DIRECT or similar I/O is in progress on the
             * page
             */
            if (page_mapcount(page) + 1 + swapped != page_count(page))
            {
                set_pte_at(mm, pvmw.address, pvmw.pte!, entry);
                goto out_unlock;
            }
            if (pte_dirty(entry))
                set_page_dirty(page);

            if (pte_protnone(entry))
                entry = pte_mkclean(pte_clear_savedwrite(entry));
            else
                entry = pte_mkclean(pte_wrprotect(entry));
            set_pte_at_notify(mm, pvmw.address, pvmw.pte!, entry); // no finding: MMU009, inside [mmun_start, mmun_end)
        }
        orig_pte = ptep_get(pvmw.pte!);
        err = 0;

    out_unlock:
        page_vma_mapped_walk_done(pvmw);
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    @out:
        return err;
    }

    /**
     * replace_page - replace page in vma by new ksm page
     * Returns 0 on success, -EFAULT on failure.
     */
    public static int replace_page(vm_area_struct vma, page page,
                                   page kpage, pte_t orig_pte)
    {
        mm_struct mm = vma.vm_mm;
        pmd_ptr? pmd;
        pte_ptr ptep;
        pte_t newpte;
        spinlock_t ptl;
        ulong addr;
        int err = -EFAULT;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        addr = page_address_in_vma(page, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        pmd = mm_find_pmd(mm, addr);
        if (pmd == null)
            goto @out;

        mmun_start = addr;
        mmun_end = addr + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);

        ptep = pte_offset_map_lock(mm, pmd, addr, out ptl);
        if (!pte_same(ptep_get(ptep), orig_pte))
        {
            pte_unmap_unlock(ptep, ptl);
            goto out_mn;
        }

        /*
         * No need to check ksm_use_zero_pages here: we can only have a
         * zero_page here if ksm_use_zero_pages was enabled alreaady.
         */
        if (!is_zero_pfn(page_to_pfn(kpage)))
        {
            get_page(kpage);
            page_add_anon_rmap(kpage, vma, addr, false);
            newpte = mk_pte(kpage, vma.vm_page_prot);
        }
        else
        {
            newpte = pte_mkspecial(pfn_pte(page_to_pfn(kpage),
                                           vma.vm_page_prot));
            /*
             * We're replacing an anonymous page with a zero page, which is
             * not anonymous: fix the accounting.
             */
            dec_mm_counter(mm, MM_ANONPAGES);
        }

        flush_cache_page(vma, addr, pte_pfn(ptep_get(ptep)));
        /*
         * No need to notify as we are replacing a read only page with another
         * read only page with the same content.
         */
        ptep_clear_flush(vma, addr, ptep);
        set_pte_at_notify(mm, addr, ptep, newpte); // no finding: MMU009, inside [mmun_start, mmun_end)

        page_remove_rmap(page, false);
        if (!page_mapped(page))
            try_to_free_swap(page);
        put_page(page); // no finding: MMU010, read-only page replaced by identical content and still referenced by the caller (0f10851ea475)

        pte_unmap_unlock(ptep, ptl);
        err = 0;
    out_mn:
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    @out:
        return err;
    }
}
