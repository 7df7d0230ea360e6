using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// How the secondary MMUs read the CPU page table: <c>follow_page</c> (gup's walk, under the
/// page-table lock, optionally taking a reference), the lock-free walk a hardware walker or the
/// checker does, and the fault-in a gup or a PRI page request ends with.
/// </summary>
internal static class secondary_walk
{
    /// <summary>
    /// follow_page(FOLL_GET): the page mapped at <paramref name="address"/>, with a reference
    /// taken under the page-table lock when <paramref name="get"/>, or null when nothing (or
    /// nothing writable, for a write) is mapped there.
    /// </summary>
    internal static page? follow_page(mm_struct mm, ulong address, bool write, bool get, out bool writable)
    {
        writable = false;
        pmd_ptr? pmd = mm_find_pmd(mm, address);
        if (pmd is null)
        {
            return null;
        }

        pmd_t pmdval = pmdp_get(pmd);
        if (!pmd_present(pmdval))
        {
            return null;
        }

        if (pmd_trans_huge(pmdval))
        {
            // follow_trans_huge_pmd: the huge pmd is stable under the pmd lock.
            spinlock_t ptl = pmd_lock(mm, pmd);
            pmdval = pmdp_get(pmd);
            page? sub = null;
            if (pmd_present(pmdval) && pmd_trans_huge(pmdval) && (!write || pmd_write(pmdval)))
            {
                sub = pfn_to_page(pmd_pfn(pmdval) + ((address & ~HPAGE_PMD_MASK) >> PAGE_SHIFT));
                writable = pmd_write(pmdval);
                if (get)
                {
                    get_page(sub);
                }
            }

            spin_unlock(ptl);
            if (sub is not null || (pmd_present(pmdval) && pmd_trans_huge(pmdval)))
            {
                return sub;
            }

            // Split under us: fall through to the pte level.
        }

        pte_ptr ptep = pte_offset_map_lock(mm, pmd, address, out spinlock_t pte_ptl);
        pte_t pte = ptep_get(ptep);
        page? page = null;
        if (pte_present(pte) && (!write || pte_write(pte)))
        {
            page = pte_page(pte);
            writable = pte_write(pte);
            if (get)
            {
                get_page(page);
            }
        }

        pte_unmap_unlock(ptep, pte_ptl);
        return page;
    }

    /// <summary>
    /// The page the CPU page table maps at <paramref name="address"/>, read without any lock,
    /// the way a hardware walker (the IOMMU) reads the shared table. Never sleeps, never locks
    /// (mm_find_pmd does not allocate, so nothing below it frees or waits).
    /// </summary>
    [NeverSleeps]
    internal static page? peek_page(mm_struct mm, ulong address, out bool writable)
    {
        writable = false;
        pmd_ptr? pmd = mm_find_pmd(mm, address);
        if (pmd is null)
        {
            return null;
        }

        pmd_t pmdval = pmdp_get(pmd);
        if (!pmd_present(pmdval))
        {
            return null;
        }

        if (pmd_trans_huge(pmdval))
        {
            writable = pmd_write(pmdval);
            return pfn_to_page(pmd_pfn(pmdval) + ((address & ~HPAGE_PMD_MASK) >> PAGE_SHIFT));
        }

        pte_t pte = ptep_get(pte_offset_map(pmd, address));
        if (!pte_present(pte))
        {
            return null;
        }

        writable = pte_write(pte);
        return pte_page(pte);
    }

    /// <summary>
    /// Faults <paramref name="address"/> in through the CPU's fault handler, as gup does after a
    /// failed follow_page. The caller holds mm->mmap_sem for reading. False when the address
    /// cannot be mapped with that access (no vma, no permission, OOM, SIGBUS).
    /// </summary>
    internal static bool fault_in(mm_struct mm, ulong address, bool write)
    {
        vm_area_struct? vma = find_vma(mm, address);
        if (vma is null || vma.vm_start > address)
        {
            return false;
        }

        if (write ? (vma.vm_flags & VM_WRITE) == 0 : (vma.vm_flags & VM_READ) == 0)
        {
            return false;
        }

        vm_fault_t ret = handle_mm_fault(vma, address, write ? FAULT_FLAG_WRITE : 0);
        return (ret & (VM_FAULT_OOM | VM_FAULT_SIGBUS)) == 0;
    }

    /// <summary>
    /// get_user_pages for one page: follow_page, faulting in as needed, with a reference taken.
    /// Takes mm->mmap_sem for reading around the walk (may sleep).
    /// </summary>
    internal static page? get_user_page(mm_struct mm, ulong address, bool write, out bool writable)
    {
        writable = false;
        down_read(mm.mmap_sem);
        try
        {
            // Bounded: a fault that keeps losing races with unmaps gives up like gup's -EAGAIN.
            for (int tries = 0; tries < 16; tries++)
            {
                page? page = follow_page(mm, address, write, get: true, out writable);
                if (page is not null)
                {
                    return page;
                }

                if (!fault_in(mm, address, write))
                {
                    return null;
                }
            }

            return null;
        }
        finally
        {
            up_read(mm.mmap_sem);
        }
    }
}
