using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace Seeds.Common;

// mm/hugetlb.c (2012) pieces hugetlb_cow / __unmap_hugepage_range call.
public static partial class kernel
{
    public static pte_t huge_pte_mkwrite(pte_t pte) => pte_mkwrite(pte);

    public static pte_t huge_pte_mkdirty(pte_t pte) => pte_mkdirty(pte);

    /// <summary>set_huge_ptep_writable(): the huge pte made writable and dirty in place.</summary>
    public static void set_huge_ptep_writable(vm_area_struct vma, ulong address, pte_ptr ptep)
    {
        pte_t entry;

        entry = huge_pte_mkwrite(huge_pte_mkdirty(huge_ptep_get(ptep)));
        /* huge_ptep_set_access_flags(): same page, so a plain store (no clear, no flush) */
        set_huge_pte_at(vma.vm_mm, address, ptep, pte_mkyoung(entry));
    }
}
