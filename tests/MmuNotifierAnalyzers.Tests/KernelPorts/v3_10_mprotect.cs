using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V3_10;

/// <summary>
/// mm/mprotect.c, Linux v3.10.9 (read from AndreiLux/ref-3.10 at 836f475c345f; that vendor tree's
/// CONFIG_TIMA_RKP_L2_GROUP branches are left out). Correct form, and a look-alike for MMU013 five
/// calls deep: change_pte_range clears each pte (ptep_modify_prot_start is ptep_get_and_clear in
/// asm-generic) and writes it back with the new protection under the PT lock, with no notifier of
/// its own; change_protection, the only runner of the walk, brackets it with
/// invalidate_range_start/_end over [start, end) (a5338e365c45, v3.15, later moved the bracket into
/// change_pmd_range to start it only where pmds are populated). The pgd and pud levels are walked
/// pmd by pmd, as Kernel.Mm has no upper levels to walk; hugetlb and THP protection changes live in
/// files not ported here.
/// </summary>
public static class mprotect
{
    /* ptep_modify_prot_start()/_commit(): asm-generic, a get-and-clear and a set. */
    private static pte_t ptep_modify_prot_start(mm_struct mm, ulong addr, pte_ptr ptep) =>
        ptep_get_and_clear(mm, addr, ptep); // no finding: MMU013, every runner of this is inside change_protection's bracket

    private static void ptep_modify_prot_commit(mm_struct mm, ulong addr, pte_ptr ptep, pte_t pte) =>
        set_pte_at(mm, addr, ptep, pte);

    /* pte_numa()/pte_mknuma()/pmd_mknuma(): Kernel.Mm has no NUMA hinting bit. */
    private static bool pte_numa(pte_t pte) => false;

    private static pte_t pte_mknuma(pte_t pte) => pte;

    private static pmd_t pmd_mknuma(pmd_t pmd) => pmd;

    /* page_to_nid(): one node. */
    private static int page_to_nid(page page) => 0;

    /* change_huge_pmd(): mm/huge_memory.c, not ported here; 0 lets the pmd fall through to the pte walk. */
    private static int change_huge_pmd(vm_area_struct vma, pmd_ptr pmd, ulong addr, pgprot_t newprot, int prot_numa) => 0;

    /* hugetlb_change_protection(): mm/hugetlb.c, not ported here (v4_19_hugetlb.cs has the 4.19 form). */
    private static ulong hugetlb_change_protection(vm_area_struct vma, ulong address, ulong end, pgprot_t newprot) => 0;

    /* arch_enter_lazy_mmu_mode()/arch_leave_lazy_mmu_mode(): batching hints, no-ops. */
    private static void arch_enter_lazy_mmu_mode()
    {
    }

    private static void arch_leave_lazy_mmu_mode()
    {
    }

    private static ulong change_pte_range(vm_area_struct vma, pmd_ptr pmd,
            ulong addr, ulong end, pgprot_t newprot,
            int dirty_accountable, int prot_numa, out bool ret_all_same_node)
    {
        mm_struct mm = vma.vm_mm;
        pte_ptr pte;
        pte_t oldpte;
        spinlock_t ptl;
        ulong pages = 0;
        bool all_same_node = true;
        int last_nid = -1;

        pte = pte_offset_map_lock(mm, pmd, addr, out ptl);
        arch_enter_lazy_mmu_mode();
        do
        {
            oldpte = ptep_get(pte);
            if (pte_present(oldpte))
            {
                pte_t ptent;
                bool updated = false;

                ptent = ptep_modify_prot_start(mm, addr, pte);
                if (prot_numa == 0)
                {
                    ptent = pte_modify(ptent, newprot);
                    updated = true;
                }
                else
                {
                    page? page;

                    page = vm_normal_page(vma, addr, oldpte);
                    if (page != null)
                    {
                        int this_nid = page_to_nid(page);
                        if (last_nid == -1)
                            last_nid = this_nid;
                        if (last_nid != this_nid)
                            all_same_node = false;

                        /* only check non-shared pages */
                        if (!pte_numa(oldpte) &&
                            page_mapcount(page) == 1)
                        {
                            ptent = pte_mknuma(ptent);
                            updated = true;
                        }
                    }
                }

                /*
                 * Avoid taking write faults for pages we know to be
                 * dirty.
                 */
                if (dirty_accountable != 0 && pte_dirty(ptent))
                {
                    ptent = pte_mkwrite(ptent);
                    updated = true;
                }

                if (updated)
                    pages++;
                ptep_modify_prot_commit(mm, addr, pte, ptent);
            }
            /* else if (IS_ENABLED(CONFIG_MIGRATION) && !pte_file(oldpte)): no migration entries in Kernel.Mm */
        } while (pte_next(ref pte, ref addr) != end);
        arch_leave_lazy_mmu_mode();
        pte_unmap_unlock(pte - 1, ptl);

        ret_all_same_node = all_same_node;
        return pages;
    }

    /* The do-while's "pte++, addr += PAGE_SIZE, addr": the comma expression as a helper. */
    private static ulong pte_next(ref pte_ptr pte, ref ulong addr)
    {
        pte++;
        addr += PAGE_SIZE;
        return addr;
    }

    private static void change_pmd_protnuma(mm_struct mm, ulong addr,
                                            pmd_ptr pmd)
    {
        spin_lock(mm.page_table_lock);
        set_pmd_at(mm, addr & PMD_MASK, pmd, pmd_mknuma(pmdp_get(pmd)));
        spin_unlock(mm.page_table_lock);
    }

    /* change_pud_range()/pud_offset()/pmd_offset(): Kernel.Mm walks pmd by pmd. */
    private static ulong change_pmd_range(vm_area_struct vma,
            ulong addr, ulong end,
            pgprot_t newprot, int dirty_accountable, int prot_numa)
    {
        pmd_ptr? pmd;
        ulong next;
        ulong pages = 0;
        bool all_same_node;

        do
        {
            next = pmd_addr_end(addr, end);
            pmd = mm_find_pmd(vma.vm_mm, addr);
            if (pmd == null)
                continue;
            if (pmd_trans_huge(pmdp_get(pmd)))
            {
                if (next - addr != HPAGE_PMD_SIZE)
                    split_huge_page_pmd(vma, addr, pmd);
                else if (change_huge_pmd(vma, pmd, addr, newprot,
                                         prot_numa) != 0)
                {
                    pages += HPAGE_PMD_NR;
                    continue;
                }
                /* fall through */
            }
            if (pmd_none_or_clear_bad(vma.vm_mm, addr))
                continue;
            pages += change_pte_range(vma, pmd, addr, next, newprot,
                     dirty_accountable, prot_numa, out all_same_node);

            /*
             * If we are changing protections for NUMA hinting faults then
             * set pmd_numa if the examined pages were all on the same
             * node. This allows a regular PMD to be handled as one fault
             * and effectively batches the taking of the PTL
             */
            if (prot_numa != 0 && all_same_node)
                change_pmd_protnuma(vma.vm_mm, addr, pmd);
        } while ((addr = next) != end);

        return pages;
    }

    private static ulong change_protection_range(vm_area_struct vma,
            ulong addr, ulong end, pgprot_t newprot,
            int dirty_accountable, int prot_numa)
    {
        ulong start = addr;
        ulong pages = 0;

        BUG_ON(addr >= end);
        /* pgd_offset()/pgd_addr_end()/pgd_none_or_clear_bad(): Kernel.Mm walks pmd by pmd */
        flush_cache_range(vma, addr, end);
        pages += change_pmd_range(vma, addr, end, newprot,
                 dirty_accountable, prot_numa);

        /* Only flush the TLB if we actually modified any entries: */
        if (pages != 0)
            flush_tlb_range(vma, start, end);

        return pages;
    }

    public static ulong change_protection(vm_area_struct vma, ulong start,
               ulong end, pgprot_t newprot,
               int dirty_accountable, int prot_numa)
    {
        mm_struct mm = vma.vm_mm;
        ulong pages;

        mmu_notifier_invalidate_range_start(mm, start, end);
        if (is_vm_hugetlb_page(vma))
            pages = hugetlb_change_protection(vma, start, end, newprot);
        else
            pages = change_protection_range(vma, start, end, newprot, dirty_accountable, prot_numa); // no finding: MMU013, the change_pte_range walk runs inside this bracket
        mmu_notifier_invalidate_range_end(mm, start, end);

        return pages;
    }
}
