using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V4_19;

/// <summary>
/// mm/mremap.c, Linux v4.19, move_page_tables. Correct form: the range is captured in
/// <c>mmun_start</c>/<c>mmun_end</c> before the loop moves <c>old_addr</c> (the convention
/// 2ec74c3ef2d8, v3.6, introduced), so the end closes exactly what the start opened (no MMU003).
/// Kernel.Mm has no swap PMDs, rmap locks or THP moves: those helpers are stubbed as noted.
/// Ported from that release's mainline source; no stored copy of the file at that version was
/// read for it (the index holds none), so the C may differ in comments and layout.
/// </summary>
public static class mremap
{
    private const ulong LATENCY_LIMIT = 64 * PAGE_SIZE;

    /* is_swap_pmd(): no swap/migration PMDs in Kernel.Mm. */
    private static bool is_swap_pmd(pmd_t pmd) => false;

    /* take_rmap_locks()/drop_rmap_locks(): i_mmap_rwsem and anon_vma lock; no files in Kernel.Mm. */
    private static void take_rmap_locks(vm_area_struct vma)
    {
    }

    private static void drop_rmap_locks(vm_area_struct vma)
    {
    }

    /* move_huge_pmd(): moves a whole PMD mapping; Kernel.Mm splits instead. */
    private static bool move_huge_pmd(vm_area_struct vma, ulong old_addr, ulong new_addr, ulong old_end, pmd_ptr old_pmd, pmd_ptr new_pmd) => false;

    /* pmd_trans_unstable(): the PMD may still be huge or none after the split. */
    private static bool pmd_trans_unstable(pmd_ptr pmd) => pmd_none(pmdp_get(pmd)) || pmd_trans_huge(pmdp_get(pmd));

    public static ulong move_page_tables(vm_area_struct vma,
                                         ulong old_addr, vm_area_struct new_vma,
                                         ulong new_addr, ulong len,
                                         bool need_rmap_locks)
    {
        ulong extent, next, old_end;
        pmd_ptr? old_pmd, new_pmd;
        bool need_flush = false;
        ulong mmun_start;   /* For mmu_notifiers */
        ulong mmun_end;     /* For mmu_notifiers */

        old_end = old_addr + len;
        flush_cache_range(vma, old_addr, old_end);

        mmun_start = old_addr;
        mmun_end = old_end;
        mmu_notifier_invalidate_range_start(vma.vm_mm, mmun_start, mmun_end);

        for (; old_addr < old_end; old_addr += extent, new_addr += extent)
        {
            cond_resched();
            next = (old_addr + PMD_SIZE) & PMD_MASK;
            /* even if next overflowed, extent below will be ok */
            extent = next - old_addr;
            if (extent > old_end - old_addr)
                extent = old_end - old_addr;
            old_pmd = get_old_pmd(vma.vm_mm, old_addr);
            if (old_pmd == null)
                continue;
            new_pmd = alloc_new_pmd(vma.vm_mm, vma, new_addr);
            if (new_pmd == null)
                break;
            if (is_swap_pmd(pmdp_get(old_pmd)) || pmd_trans_huge(pmdp_get(old_pmd)))
            {
                if (extent == HPAGE_PMD_SIZE)
                {
                    bool moved;
                    /* See comment in move_ptes() */
                    if (need_rmap_locks)
                        take_rmap_locks(vma);
                    moved = move_huge_pmd(vma, old_addr, new_addr, old_end, old_pmd, new_pmd);
                    if (need_rmap_locks)
                        drop_rmap_locks(vma);
                    if (moved)
                    {
                        need_flush = true;
                        continue;
                    }
                }
                split_huge_pmd(vma, old_pmd, old_addr);
                if (pmd_trans_unstable(old_pmd))
                    continue;
            }
            if (pte_alloc(new_vma.vm_mm, new_pmd) != 0)
                break;
            next = (new_addr + PMD_SIZE) & PMD_MASK;
            if (extent > next - new_addr)
                extent = next - new_addr;
            if (extent > LATENCY_LIMIT)
                extent = LATENCY_LIMIT;
            move_ptes(vma, old_pmd, old_addr, old_addr + extent, new_vma, new_pmd, new_addr);
            need_flush = true;
        }
        if (need_flush)
            flush_tlb_range(vma, old_end - len, old_addr);

        mmu_notifier_invalidate_range_end(vma.vm_mm, mmun_start, mmun_end);

        return len + old_addr - old_end;    /* how much done */
    }
}
