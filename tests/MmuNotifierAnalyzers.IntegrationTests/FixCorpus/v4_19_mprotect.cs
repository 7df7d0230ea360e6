using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V4_19;

/// <summary>
/// mm/mprotect.c, Linux v4.19, change_pmd_range. Correct form since a5338093bfb4 ("mm: move
/// mmu notifier call from change_protection to change_pmd_range", v3.14): the start is issued
/// once, lazily, for the first populated PMD, on <c>[mni_start, end)</c> with <c>mni_start</c>
/// captured before the loop moves <c>addr</c>, and the end is called iff the start was
/// (<c>if (mni_start)</c>): no MMU002, no MMU003. The pmd walk (<c>pmd++</c>) is a lookup per
/// address in Kernel.Mm; swap PMDs, devmap and NUMA counters are stubbed.
/// Ported from that release's mainline source; no stored copy of the file at that version was
/// read for it (the index holds none), so the C may differ in comments and layout.
/// </summary>
public static class mprotect
{
    /* is_swap_pmd()/pmd_devmap(): no swap or device PMDs in Kernel.Mm. */
    private static bool is_swap_pmd(pmd_t pmd) => false;

    private static bool pmd_devmap(pmd_t pmd) => false;

    /* __split_huge_pmd(vma, pmd, addr, freeze, page): Kernel.Mm's split_huge_pmd. */
    private static void __split_huge_pmd(vm_area_struct vma, pmd_ptr pmd, ulong address, bool freeze, page? page) =>
        split_huge_pmd(vma, pmd, address);

    /* change_huge_pmd(): changes a huge PMD's protection in place; Kernel.Mm splits it (0 = not handled). */
    private static int change_huge_pmd(vm_area_struct vma, pmd_ptr pmd, ulong addr, pgprot_t newprot, int prot_numa) => 0;

    /* change_pte_range(): the per-PTE loop under the PTE lock, flushing nothing (the caller's flush_tlb_range does). */
    private static ulong change_pte_range(vm_area_struct vma, pmd_ptr pmd, ulong addr, ulong end, pgprot_t newprot, int dirty_accountable, int prot_numa)
    {
        ulong pages = 0;
        pte_ptr pte = pte_offset_map_lock(vma.vm_mm, pmd, addr, out spinlock_t ptl);
        for (; addr < end; addr += PAGE_SIZE)
        {
            pte = pte_offset_map(pmd, addr);
            pte_t oldpte = ptep_get(pte);
            if (pte_present(oldpte))
            {
                pte_t ptent = ptep_get_and_clear(vma.vm_mm, addr, pte);
                set_pte_at(vma.vm_mm, addr, pte, pte_modify(ptent, newprot));
                pages++;
            }
        }
        pte_unmap_unlock(pte, ptl);
        return pages;
    }

    /* count_vm_numa_events(): vmstat counters; not modelled. */
    private static void count_vm_numa_events(int item, ulong delta)
    {
    }

    private const int NUMA_HUGE_PTE_UPDATES = 0;

    public static ulong change_pmd_range(vm_area_struct vma,
                                         ulong addr, ulong end, pgprot_t newprot,
                                         int dirty_accountable, int prot_numa)
    {
        pmd_ptr? pmd;
        mm_struct mm = vma.vm_mm;
        ulong next;
        ulong pages = 0;
        ulong nr_huge_updates = 0;
        ulong mni_start = 0;

        do
        {
            ulong this_pages;

            /* pmd_offset(pud, addr), then pmd++ per iteration: one lookup per address here */
            pmd = mm_find_pmd(mm, addr);
            next = pmd_addr_end(addr, end);
            if (pmd == null)
                goto next;
            if (!is_swap_pmd(pmdp_get(pmd)) && !pmd_trans_huge(pmdp_get(pmd)) && !pmd_devmap(pmdp_get(pmd))
                && pmd_none_or_clear_bad(mm, addr))
                goto next;

            /* invoke the mmu notifier if the pmd is populated */
            if (mni_start == 0)
            {
                mni_start = addr;
                mmu_notifier_invalidate_range_start(mm, mni_start, end); // known false finding: MMU002 (the start runs iff mni_start != 0, addr is never 0: see NotFixed in FixCorpusFormatTests)
            }

            if (is_swap_pmd(pmdp_get(pmd)) || pmd_trans_huge(pmdp_get(pmd)) || pmd_devmap(pmdp_get(pmd)))
            {
                if (next - addr != HPAGE_PMD_SIZE)
                {
                    __split_huge_pmd(vma, pmd, addr, false, null);
                }
                else
                {
                    int nr_ptes = change_huge_pmd(vma, pmd, addr, newprot, prot_numa);

                    if (nr_ptes != 0)
                    {
                        if (nr_ptes == HPAGE_PMD_NR)
                        {
                            pages += HPAGE_PMD_NR;
                            nr_huge_updates++;
                        }

                        /* huge pmd was handled */
                        goto next;
                    }
                }
                /* fall through, the trans huge pmd just split */
            }
            this_pages = change_pte_range(vma, pmd, addr, next, newprot, dirty_accountable, prot_numa);
            pages += this_pages;
        next:
            cond_resched();
        } while ((addr = next) != end);

        if (mni_start != 0)
            mmu_notifier_invalidate_range_end(mm, mni_start, end);

        if (nr_huge_updates != 0)
            count_vm_numa_events(NUMA_HUGE_PTE_UPDATES, nr_huge_updates);
        return pages;
    }
}
