using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace Seeds.Common;

/// <summary>
/// include/linux/rmap.h (4.13): <c>struct page_vma_mapped_walk</c>. Named with <c>_t</c> because C#
/// cannot give a type and the walk function the same simple name in one scope.
/// </summary>
public sealed class page_vma_mapped_walk_t
{
    public required page page { get; init; }
    public required vm_area_struct vma { get; init; }
    public ulong address;
    public pmd_ptr? pmd;
    public pte_ptr? pte;
    public spinlock_t? ptl;
    public uint flags;

    // Where the compound page's mapping ends in this vma, fixed by the first call.
    internal ulong end;
    internal bool started;
}

/// <summary>
/// mm/page_vma_mapped.c (4.13), the walk try_to_unmap_one()/page_mkclean_one() use since
/// c7ab0d2fdc84. Kernel.Mm has no page_vma_mapped_walk, so this is a faithful local copy for the
/// cases the seeds need: a page (or a THP) mapped by PTEs, or a THP mapped by one PMD. The walk
/// returns with the PT lock held (<c>pvmw.ptl</c>) and keeps it while it moves to the next PTE of
/// the same page table, as the kernel's does; it drops it when it returns false.
/// </summary>
public static class page_vma_mapped
{
    public const uint PVMW_SYNC = 1 << 0;       // look at the pte even if it is not present (sync with rmap)
    public const uint PVMW_MIGRATION = 1 << 1;  // look for migration entries

    /// <summary>Releases what a walk that was stopped early still holds.</summary>
    [ReleasesLock("pvmw.ptl")]
    public static void page_vma_mapped_walk_done(page_vma_mapped_walk_t pvmw)
    {
        if (pvmw.pte != null && pvmw.ptl != null)
        {
            pte_unmap_unlock(pvmw.pte, pvmw.ptl);
        }
        else if (pvmw.ptl != null)
        {
            spin_unlock(pvmw.ptl);
        }

        pvmw.ptl = null;
        pvmw.pte = null;
    }

    private static bool not_found(page_vma_mapped_walk_t pvmw)
    {
        page_vma_mapped_walk_done(pvmw);
        return false;
    }

    private static bool check_pte(page_vma_mapped_walk_t pvmw)
    {
        pte_t pte = ptep_get(pvmw.pte!);
        if (!pte_present(pte))
            return false;

        ulong pfn = pte_pfn(pte);
        ulong first = page_to_pfn(pvmw.page);
        ulong nr = 1UL << compound_order(pvmw.page);
        return pfn >= first && pfn < first + nr;
    }

    /// <summary>
    /// Finds the next PTE (or the PMD) in <c>pvmw.vma</c> that maps <c>pvmw.page</c>; on true,
    /// <c>pvmw.address</c>, <c>pvmw.pte</c> (null for a PMD mapping), <c>pvmw.pmd</c> and
    /// <c>pvmw.ptl</c> (held) describe it. The first call's <c>pvmw.address</c> must be where the
    /// page (its head for a THP) is mapped in the vma, as rmap_walk passes it.
    /// </summary>
    [AcquiresLock("pvmw.ptl", When = LockAcquisition.WhenReturnTrue)]
    public static bool page_vma_mapped_walk(page_vma_mapped_walk_t pvmw)
    {
        mm_struct mm = pvmw.vma.vm_mm;

        /* The only possible pmd mapping has been handled on last iteration */
        if (pvmw.started && pvmw.pmd != null && pvmw.pte == null)
            return not_found(pvmw);

        // Called again after returning a PTE: carry on from the next one (the C's "goto next_pte").
        bool next_pte = pvmw.pte != null;

        if (!pvmw.started)
        {
            pvmw.started = true;
            pvmw.end = pvmw.address + (PAGE_SIZE << compound_order(pvmw.page));
            if (pvmw.end > pvmw.vma.vm_end)
                pvmw.end = pvmw.vma.vm_end;
        }

    restart:
        if (!next_pte)
        {
            pvmw.pmd = mm_find_pmd(mm, pvmw.address);
            if (pvmw.pmd == null)
                return false;

            if (pmd_trans_huge(pmdp_get(pvmw.pmd)))
            {
                pvmw.ptl = mm.page_table_lock;
                spin_lock(pvmw.ptl);
                pmd_t pmde = pmdp_get(pvmw.pmd);
                if (pmd_trans_huge(pmde))
                {
                    if (pmd_page(pmde) != pvmw.page)
                        return not_found(pvmw);
                    pvmw.address &= HPAGE_PMD_MASK;
                    return true;
                }

                /* THP pmd was split under us: handle on pte level */
                spin_unlock(pvmw.ptl);
                pvmw.ptl = null;
            }

            pvmw.pte = pte_offset_map(pvmw.pmd, pvmw.address);
            pvmw.ptl = pte_lockptr(mm, pvmw.pmd);
            spin_lock(pvmw.ptl);
            if (check_pte(pvmw))
                return true;
        }

        next_pte = false;
        while (true)
        {
            do
            {
                pvmw.address += PAGE_SIZE;
                if (pvmw.address >= pvmw.end)
                    return not_found(pvmw);

                /* Did we cross page table boundary? */
                if ((pvmw.address & (HPAGE_PMD_SIZE - 1)) == 0)
                {
                    page_vma_mapped_walk_done(pvmw);
                    goto restart;
                }

                pvmw.pte = pte_offset_map(pvmw.pmd!, pvmw.address);
            }
            while (pte_none(ptep_get(pvmw.pte)));

            if (check_pte(pvmw))
                return true;
        }
    }
}
