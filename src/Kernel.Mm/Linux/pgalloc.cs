using System;

namespace Kernel.Mm;

// include/asm-generic/pgalloc.h, mm/memory.c: the page-table allocation steps the 2012 seed
// ports call directly (copy_page_range's dst pmd, mremap's alloc_new_pmd, the THP COW fallback's
// withdrawn table). Added by helper "ports" for samples/ (see its report).
public static partial class Linux
{
    /// <summary>
    /// pud_alloc() + pmd_alloc(): the pmd slot of <paramref name="address"/>, allocating the upper
    /// tables it needs. The slot itself may be none (then <see cref="pte_alloc"/> fills it).
    /// </summary>
    public static pmd_ptr pmd_alloc(mm_struct mm, ulong address)
    {
        ArgumentNullException.ThrowIfNull(mm);
        return walk_to_pmd(mm, address, alloc: true)
            ?? throw new InvalidOperationException($"pmd_alloc: {mm} has no page-table root (torn down?)");
    }

    /// <summary>
    /// pmd_populate(): points the (none) <paramref name="pmd"/> at <paramref name="pgtable"/>, a
    /// pte-table page (one withdrawn with <see cref="pgtable_trans_huge_withdraw"/>). Caller holds
    /// mm->page_table_lock. The table starts empty.
    /// </summary>
    public static void pmd_populate(mm_struct mm, pmd_ptr pmd, page pgtable)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(pmd);
        ArgumentNullException.ThrowIfNull(pgtable);
        if (!pmd_none(pmdp_get(pmd)))
        {
            throw new InvalidOperationException($"pmd_populate: the pmd at 0x{pmd.Address:x} is not none ({pmdp_get(pmd)})");
        }

        var table = new pt_table(mm, 1, pgtable, pmd.Address);
        pgtable.pt = table;
        pgtable.flags |= pageflags.PG_table;
        pmd.table.write(pmd.index, (pgtable.pfn << PAGE_SHIFT) | _PAGE_TABLE);
    }
}
