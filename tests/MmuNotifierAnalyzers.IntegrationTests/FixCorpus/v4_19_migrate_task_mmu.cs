using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V4_19;

/// <summary>
/// mm/migrate.c, Linux v4.19, migrate_vma_collect (HMM's device migration, 8763cb45ab96, v4.14):
/// start/end on the migration's <c>[start, end)</c> around the collecting walk; <c>migrate->end</c>
/// is rewritten only after the end (no MMU003: the fields the range reads do not change between).
/// Correct form. Ported from that release's mainline source, not checked against the stored copy
/// (0x88888888/linux-4.19-comments), so the C may differ in comments and layout.
/// </summary>
public static class migrate
{
    public sealed class migrate_vma
    {
        public vm_area_struct vma = null!;
        public ulong start;
        public ulong end;
        public ulong npages;
    }

    /* walk_page_range() with migrate_vma_collect_pmd/_hole: fills migrate->src[] under the PTE locks. */
    private static void walk_page_range(ulong start, ulong end, migrate_vma migrate)
    {
    }

    public static void migrate_vma_collect(migrate_vma migrate)
    {
        mm_struct mm = migrate.vma.vm_mm;

        mmu_notifier_invalidate_range_start(mm,
                                            migrate.start,
                                            migrate.end);
        walk_page_range(migrate.start, migrate.end, migrate);
        mmu_notifier_invalidate_range_end(mm,
                                          migrate.start,
                                          migrate.end);

        migrate.end = migrate.start + (migrate.npages << PAGE_SHIFT);
    }
}

/// <summary>
/// fs/proc/task_mmu.c, Linux v4.19, the soft-dirty part of clear_refs_write: start/end on the whole
/// address space (<c>0</c>, <c>-1</c>) both under <c>if (type == CLEAR_REFS_SOFT_DIRTY)</c>, so
/// the end runs iff the start did (64e455079e1b, v4.0, added the notifier calls). The
/// <c>goto out_mm</c> leaves before the start. Correct form. Ported from that release's mainline
/// source; no stored copy of the file at that version was read for it (the index holds none), so
/// the C may differ in comments and layout.
/// </summary>
public static class task_mmu
{
    private const int CLEAR_REFS_SOFT_DIRTY = 4;
    private const int EINTR = 4;
    private const ulong VM_SOFTDIRTY = 0x8000000;

    /* vma->vm_next: the next vma of the mm by address. */
    private static vm_area_struct? vm_next(vm_area_struct vma) => find_vma(vma.vm_mm, vma.vm_end);

    /* mm->mmap: the mm's first vma. */
    private static vm_area_struct? mmap_first(mm_struct mm) => find_vma(mm, 0);

    /* down_write_killable(): down_write, never interrupted here. */
    private static bool down_write_killable(rw_semaphore sem)
    {
        down_write(sem);
        return false;
    }

    /* vma_set_page_prot(): recomputes vm_page_prot from vm_flags (write-notify once soft-dirty is clear). */
    private static void vma_set_page_prot(vm_area_struct vma) => vma.vm_page_prot = vm_get_page_prot(vma.vm_flags);

    /* walk_page_range(0, mm->highest_vm_end, &clear_refs_walk): clear_refs_pte_range under the PTE locks. */
    private static void walk_page_range(mm_struct mm, ulong start, ulong end)
    {
    }

    /* mm->highest_vm_end */
    private static ulong highest_vm_end(mm_struct mm) => TASK_SIZE;

    private const ulong TASK_SIZE = 1UL << 47;

    public static long clear_refs_soft_dirty(mm_struct mm, int type, long count)
    {
        vm_area_struct? vma;
        mmu_gather tlb = new();

        down_read(mm.mmap_sem);
        tlb_gather_mmu(tlb, mm, true);
        if (type == CLEAR_REFS_SOFT_DIRTY)
        {
            for (vma = mmap_first(mm); vma != null; vma = vm_next(vma))
            {
                if ((vma.vm_flags & VM_SOFTDIRTY) == 0)
                    continue;
                up_read(mm.mmap_sem);
                if (down_write_killable(mm.mmap_sem))
                {
                    count = -EINTR;
                    goto out_mm;
                }
                for (vma = mmap_first(mm); vma != null; vma = vm_next(vma))
                {
                    vma.vm_flags &= ~VM_SOFTDIRTY;
                    vma_set_page_prot(vma);
                }
                downgrade_write(mm.mmap_sem);
                break;
            }
            mmu_notifier_invalidate_range_start(mm, 0, unchecked((ulong)-1));
        }
        walk_page_range(mm, 0, highest_vm_end(mm));
        if (type == CLEAR_REFS_SOFT_DIRTY)
            mmu_notifier_invalidate_range_end(mm, 0, unchecked((ulong)-1));
        tlb_finish_mmu(tlb, 0, unchecked((ulong)-1));
        up_read(mm.mmap_sem);
    out_mm:
        mmput(mm);
        return count;
    }
}
