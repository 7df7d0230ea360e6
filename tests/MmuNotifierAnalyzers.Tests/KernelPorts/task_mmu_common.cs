using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.Common;

/// <summary>
/// What both fs/proc/task_mmu.c ports (v3_11_task_mmu.cs, v3_16_task_mmu.cs) run on and neither
/// Kernel.Mm nor Seeds.Common has: mm/pagewalk.c's walk reduced to the pmd level Kernel.Mm has,
/// the vma list, and the page-flag and TLB helpers the clear_refs walk calls, as one-line stubs.
/// </summary>
public static class task_mmu_common
{
    /* struct mm_walk: the callbacks walk_page_range() runs, and their private data. */
    public delegate int pmd_entry_fn(pmd_ptr pmd, ulong addr, ulong end, mm_walk walk);

    public sealed class mm_walk
    {
        public pmd_entry_fn? pmd_entry;
        public mm_struct? mm;
        public object? @private;
    }

    /* walk_page_range(): mm/pagewalk.c, ->pmd_entry for each pmd of [addr, end) that has a pte table. */
    public static int walk_page_range(ulong addr, ulong end, mm_walk walk)
    {
        int err = 0;
        do
        {
            ulong next = pmd_addr_end(addr, end);
            var pmd = mm_find_pmd(walk.mm!, addr);
            if (pmd != null && walk.pmd_entry != null)
                err = walk.pmd_entry(pmd, addr, next, walk);
            addr = next;
        } while (err == 0 && addr != end);
        return err;
    }

    /* mm->mmap, vma->vm_next: the vma list, walked with find_vma(). */
    public static vm_area_struct? first_vma(mm_struct mm) => find_vma(mm, 0);

    public static vm_area_struct? vm_next(vm_area_struct vma) => find_vma(vma.vm_mm, vma.vm_end);

    /* vma->vm_file == NULL: Kernel.Mm has no files; every vma is anonymous. */
    public static bool PageAnonVma(vm_area_struct vma) => true;

    /* pmd_trans_unstable(): a huge or none pmd materialised under us. */
    public static bool pmd_trans_unstable(pmd_ptr pmd) => !pmd_present(pmdp_get(pmd)) || pmd_trans_huge(pmdp_get(pmd));

    /* ptep_test_and_clear_young(): the accessed bit cleared in place; Kernel.Mm's form also flushes. */
    public static int ptep_test_and_clear_young(vm_area_struct vma, ulong addr, pte_ptr pte) =>
        ptep_clear_flush_young(vma, addr, pte);

    /* ClearPageReferenced(), flush_tlb_mm(): page flags and the CPU TLB, not modelled. */
    public static void ClearPageReferenced(page page)
    {
    }

    public static void flush_tlb_mm(mm_struct mm)
    {
    }

    /* pte_clear_flags(pte, _PAGE_SOFT_DIRTY): Kernel.Mm has no soft-dirty bit; the entry is unchanged. */
    public const ulong _PAGE_SOFT_DIRTY = 0;

    public static pte_t pte_clear_flags(pte_t pte, ulong clear) => __pte(pte_val(pte) & ~clear);
}
