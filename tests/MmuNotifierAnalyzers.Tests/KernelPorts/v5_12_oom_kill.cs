using Kernel.Mm;
using Seeds.Common;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_12;

/// <summary>
/// mm/oom_kill.c <c>__oom_reap_task_mm</c>, twice. The OOM reaper invalidates each private vma with
/// <c>mmu_notifier_invalidate_range_start_nonblock</c> (93065ac753e4, v4.19): a notifier that would
/// have to sleep refuses with -EAGAIN. Since c2655835fd8c ("mm/mmu_notifiers: ensure range_end() is
/// paired with range_start()", v5.12) a refused start has already called <c>-&gt;invalidate_range_end</c>
/// of every notifier it started, so the caller must skip the range, end included — what Kernel.Mm
/// models. <see cref="oom_kill_c.__oom_reap_task_mm"/> is v5.12 (read as stored in the index: the
/// <c>mmap_read_trylock</c> and one-argument <c>tlb_gather_mmu</c> era). <see cref="oom_kill_mm_patch"/>
/// is the other fix of the same problem, first proposed and carried in -mm ("mm/oom_kill: ensure MMU
/// notifier range_end() is paired with range_start()", Sean Christopherson, February 2021): it called
/// the end on the refused path too; with c2655835fd8c merged instead, that end is a second one.
/// </summary>
public static class oom_kill_c
{
    /* can_madv_lru_vma(): !(vma->vm_flags & (VM_LOCKED|VM_HUGETLB|VM_PFNMAP)); Kernel.Mm sets none of them here. */
    internal static bool can_madv_lru_vma(vm_area_struct vma) => !is_vm_hugetlb_page(vma);

    /* vma_is_anonymous(): !vma->vm_ops; Kernel.Mm's vmas are anonymous. */
    internal static bool vma_is_anonymous(vm_area_struct vma) => true;

    /* set_bit(MMF_UNSTABLE, &mm->flags): no get_user/copy_from_user in the model. */
    internal static void set_mmf_unstable(mm_struct mm)
    {
    }

    /* tlb_gather_mmu()/tlb_finish_mmu(), v5.12 signatures, over Seeds.Common's mmu_gather. */
    internal static void tlb_gather_mmu(mmu_gather tlb, mm_struct mm) => kernel.tlb_gather_mmu(tlb, mm, false);

    internal static void tlb_finish_mmu(mmu_gather tlb)
    {
    }

    /* unmap_page_range(): zaps the vma's entries into the gather; Kernel.Mm's unmap is internal (unmap_single_vma). */
    internal static void unmap_page_range(mmu_gather tlb, vm_area_struct vma, ulong addr, ulong end, object? details)
    {
    }

    public static bool __oom_reap_task_mm(mm_struct mm)
    {
        bool ret = true;

        /*
         * Tell all users of get_user/copy_from_user etc... that the content
         * is no longer stable. No barriers really needed because unmapping
         * should imply barriers already and the reader would hit a page fault
         * if it stumbled over a reaped memory.
         */
        set_mmf_unstable(mm);

        foreach (var vma in mm.Vmas) {
            if (!can_madv_lru_vma(vma))
                continue;

            if (vma_is_anonymous(vma) || (vma.vm_flags & VM_SHARED) == 0) {
                var range = new mmu_notifier_range();
                var tlb = new mmu_gather();

                mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0,
                                        vma, mm, vma.vm_start,
                                        vma.vm_end);
                tlb_gather_mmu(tlb, mm);
                if (mmu_notifier_invalidate_range_start_nonblock(range) != 0) {
                    tlb_finish_mmu(tlb);
                    ret = false;
                    continue;
                }
                unmap_page_range(tlb, vma, range.start, range.end, null);
                mmu_notifier_invalidate_range_end(range);   // no finding: only where the start returned 0
                tlb_finish_mmu(tlb);
            }
        }

        return ret;
    }
}

/// <summary>The -mm patch's <c>__oom_reap_task_mm</c> (see <see cref="oom_kill_c"/>).</summary>
public static class oom_kill_mm_patch
{
    public static bool __oom_reap_task_mm(mm_struct mm)
    {
        bool ret = true;

        oom_kill_c.set_mmf_unstable(mm);

        foreach (var vma in mm.Vmas) {
            if (!oom_kill_c.can_madv_lru_vma(vma))
                continue;

            if (oom_kill_c.vma_is_anonymous(vma) || (vma.vm_flags & VM_SHARED) == 0) {
                var range = new mmu_notifier_range();
                var tlb = new mmu_gather();

                mmu_notifier_range_init(range, mmu_notifier_event.MMU_NOTIFY_UNMAP, 0,
                                        vma, mm, vma.vm_start,
                                        vma.vm_end);
                oom_kill_c.tlb_gather_mmu(tlb, mm);
                if (mmu_notifier_invalidate_range_start_nonblock(range) == 0)
                    oom_kill_c.unmap_page_range(tlb, vma, range.start, range.end, null);
                else
                    ret = false;
                mmu_notifier_invalidate_range_end(range);   // expect: MMU014
                oom_kill_c.tlb_finish_mmu(tlb);
            }
        }

        return ret;
    }
}
