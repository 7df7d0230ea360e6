using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V2_6_32;

/// <summary>
/// mm/ksm.c, Linux v2.6.32 (KSM's first release), write_protect_page and replace_page. Buggy
/// form of 6bdb913f0a70 ("mm: wrap calls to set_pte_at_notify with invalidate_range_start and
/// invalidate_range_end", v3.6): <c>set_pte_at_notify</c> runs with no start/end open, so a
/// start/end-only notifier (KVM after it dropped change_pte) never hears of the new PTE. Unlike
/// v3.1's form, write_protect_page restores the entry with <c>set_pte_at_notify</c> too, counts
/// <c>mapcount + 2</c>, and replace_page walks pgd/pud/pmd itself.
/// Ported from that release's mainline source; no stored copy of the file at that version was
/// read for it (the index holds none), so the C may differ in comments and layout.
/// </summary>
public static class ksm
{
    /* page_address_in_vma(): the page's address in vma, or -EFAULT. */
    private static ulong page_address_in_vma(page page, vm_area_struct vma) => vma_address(page, vma);

    /* PageSwapCache(): Kernel.Mm has no swap cache. */
    private static bool PageSwapCache(page page) => false;

    /* page_add_ksm_rmap(): 2.6.32's rmap for a KSM page; an anon rmap in Kernel.Mm. */
    private static void page_add_ksm_rmap(page page, vm_area_struct vma, ulong address) => page_add_anon_rmap(page, vma, address);

    private static readonly ulong EFAULT_ADDR = unchecked((ulong)-EFAULT);

    public static int write_protect_page(vm_area_struct vma, page page, ref pte_t orig_pte)
    {
        mm_struct mm = vma.vm_mm;
        ulong addr;
        pte_ptr? ptep;
        spinlock_t ptl;
        int swapped;
        int err = -EFAULT;

        addr = page_address_in_vma(page, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        ptep = page_check_address(page, mm, addr, out ptl, 0);
        if (ptep == null)
            goto @out;

        if (pte_write(ptep_get(ptep)))
        {
            pte_t entry;

            swapped = PageSwapCache(page) ? 1 : 0;
            flush_cache_page(vma, addr, page_to_pfn(page));
            /*
             * Ok this is tricky, when get_user_pages_fast() run it doesnt
             * take any lock, therefore the check that we are going to make
             * with the pagecount against the mapcount is racey and
             * O_DIRECT can happen right after the check.
             * So we clear the pte and flush the tlb before the check
             * this assure us that no O_DIRECT can happen after the check
             * or in the middle of the check.
             */
            entry = ptep_clear_flush(vma, addr, ptep);
            /*
             * Check that no O_DIRECT or similar I/O is in progress on the
             * page
             */
            if (page_mapcount(page) + 2 + swapped != page_count(page))
            {
                set_pte_at_notify(mm, addr, ptep, entry); // expect: MMU009
                goto out_unlock;
            }
            entry = pte_wrprotect(entry);
            set_pte_at_notify(mm, addr, ptep, entry); // expect: MMU009
        }
        orig_pte = ptep_get(ptep);
        err = 0;

    out_unlock:
        pte_unmap_unlock(ptep, ptl);
    @out:
        return err;
    }

    public static int replace_page(vm_area_struct vma, page oldpage, page newpage, pte_t orig_pte)
    {
        mm_struct mm = vma.vm_mm;
        pmd_ptr? pmd;
        pte_ptr ptep;
        spinlock_t ptl;
        ulong addr;
        pgprot_t prot;
        int err = -EFAULT;

        prot = vm_get_page_prot(vma.vm_flags & ~VM_WRITE);

        addr = page_address_in_vma(oldpage, vma);
        if (addr == EFAULT_ADDR)
            goto @out;

        /* pgd_offset/pud_offset/pmd_offset with their _present checks: Kernel.Mm's mm_find_pmd */
        pmd = mm_find_pmd(mm, addr);
        if (pmd == null)
            goto @out;

        ptep = pte_offset_map_lock(mm, pmd, addr, out ptl);
        if (!pte_same(ptep_get(ptep), orig_pte))
        {
            pte_unmap_unlock(ptep, ptl);
            goto @out;
        }

        get_page(newpage);
        page_add_ksm_rmap(newpage, vma, addr);

        flush_cache_page(vma, addr, pte_pfn(ptep_get(ptep)));
        ptep_clear_flush(vma, addr, ptep);
        set_pte_at_notify(mm, addr, ptep, mk_pte(newpage, prot)); // expect: MMU009

        page_remove_rmap(oldpage);
        put_page(oldpage);

        pte_unmap_unlock(ptep, ptl);
        err = 0;
    @out:
        return err;
    }
}
