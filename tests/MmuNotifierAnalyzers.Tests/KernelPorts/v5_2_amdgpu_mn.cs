using System.Collections.Generic;
using System.Threading;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_2;

/// <summary>
/// drivers/gpu/drm/amd/amdgpu/amdgpu_mn.c, v5.2 (read from torvalds/linux 00f5764dbb04: the range
/// form with <c>mmu_notifier_range_blockable</c>, <c>reservation_object_wait_timeout_rcu</c>,
/// <c>drm/drmP.h</c>). 93065ac753e4 (v4.19) made <c>amdgpu_mn_read_lock</c> try the
/// <c>read_lock</c> mutex in non-blockable mode, but it still takes <c>amn-&gt;lock</c> with
/// <c>down_read_non_owner</c>; in review of that commit (linux-mm, August 2018) Tetsuo Handa asked
/// why that one needs no trylock, and Michal Hocko answered that <c>amn-&gt;lock</c> "is the lock
/// which matters as it is taken in exclusive mode for expensive operations" (command submission's
/// <c>amdgpu_mn_lock</c>). The interval-notifier conversion (v5.5) removed it: the callbacks refuse a
/// non-blockable range first (v5_5_amdgpu_mn.cs). The interval tree walk is a list here.
/// </summary>
public static class amdgpu_mn_c
{
    public sealed class amdgpu_bo
    {
        public ulong userptr_start;
        public ulong userptr_end;
        public object? kfd_bo;
    }

    public sealed class amdgpu_mn_node
    {
        public ulong start;
        public ulong last;
        public readonly List<amdgpu_bo> bos = new();
    }

    public sealed class amdgpu_mn : mmu_notifier
    {
        public readonly rw_semaphore @lock = new("amn->lock");
        public readonly List<amdgpu_mn_node> objects = new();
        public readonly mutex read_lock = new("amn->read_lock");
        public int recursion;
    }

    /* down_read_non_owner(): down_read whose release may come from another task; sleeps like it. */
    [MaySleep]
    private static void down_read_non_owner(rw_semaphore sem) => down_read(sem);

    /* up_read_non_owner(): up_read from any task. */
    private static void up_read_non_owner(rw_semaphore sem) => up_read(sem);

    /* reservation_object_wait_timeout_rcu(): waits for the BO's fences (MAX_SCHEDULE_TIMEOUT). */
    [MaySleep]
    private static long reservation_object_wait_timeout_rcu(amdgpu_bo bo) => 1;

    /* amdgpu_ttm_tt_affect_userptr(): whether the BO's user pages overlap [start, end]. */
    private static bool amdgpu_ttm_tt_affect_userptr(amdgpu_bo bo, ulong start, ulong end) =>
        bo.userptr_start <= end && start < bo.userptr_end;

    /* amdgpu_ttm_tt_mark_user_pages(): set_page_dirty/mark_page_accessed of the user pages. */
    private static void amdgpu_ttm_tt_mark_user_pages(amdgpu_bo bo)
    {
    }

    /* amdgpu_amdkfd_evict_userptr(): schedules the KFD restore worker (not modelled). */
    private static void amdgpu_amdkfd_evict_userptr(object? mem, mm_struct mm)
    {
    }

    /* interval_tree_iter_first/next over amn->objects, as a list. */
    private static IEnumerable<amdgpu_mn_node> overlapping(amdgpu_mn amn, ulong start, ulong last)
    {
        foreach (var node in amn.objects)
            if (node.start <= last && start <= node.last)
                yield return node;
    }

    private static int amdgpu_mn_read_lock(amdgpu_mn amn, bool blockable)
    {
        if (blockable)
            mutex_lock(amn.read_lock);
        else if (!mutex_trylock(amn.read_lock))
            return -EAGAIN;

        if (Interlocked.Increment(ref amn.recursion) == 1)
            down_read_non_owner(amn.@lock);
        mutex_unlock(amn.read_lock);

        return 0;
    }

    private static void amdgpu_mn_read_unlock(amdgpu_mn amn)
    {
        if (Interlocked.Decrement(ref amn.recursion) == 0)
            up_read_non_owner(amn.@lock);
    }

    private static void amdgpu_mn_invalidate_node(amdgpu_mn_node node, ulong start, ulong end)
    {
        long r;

        foreach (var bo in node.bos) {

            if (!amdgpu_ttm_tt_affect_userptr(bo, start, end))
                continue;

            r = reservation_object_wait_timeout_rcu(bo);
            if (r <= 0)
                continue; /* DRM_ERROR("(%ld) failed to wait for user bo\n", r) */

            amdgpu_ttm_tt_mark_user_pages(bo);
        }
    }

    private static int amdgpu_mn_invalidate_range_start_gfx(mmu_notifier mn, mmu_notifier_range range)
    {
        amdgpu_mn amn = (amdgpu_mn)mn;
        ulong end;

        /* notification is exclusive, but interval is inclusive */
        end = range.end - 1;

        /* TODO we should be able to split locking for interval tree and
         * amdgpu_mn_invalidate_node
         */
        if (amdgpu_mn_read_lock(amn, mmu_notifier_range_blockable(range)) != 0)    // expect: MMU014
            return -EAGAIN;

        foreach (var node in overlapping(amn, range.start, end)) {
            if (!mmu_notifier_range_blockable(range)) {
                amdgpu_mn_read_unlock(amn);
                return -EAGAIN;
            }

            amdgpu_mn_invalidate_node(node, range.start, end);   // no finding: after the blockable test
        }

        return 0;
    }

    private static int amdgpu_mn_invalidate_range_start_hsa(mmu_notifier mn, mmu_notifier_range range)
    {
        amdgpu_mn amn = (amdgpu_mn)mn;
        ulong end;

        /* notification is exclusive, but interval is inclusive */
        end = range.end - 1;

        if (amdgpu_mn_read_lock(amn, mmu_notifier_range_blockable(range)) != 0)    // expect: MMU014
            return -EAGAIN;

        foreach (var node in overlapping(amn, range.start, end)) {
            if (!mmu_notifier_range_blockable(range)) {
                amdgpu_mn_read_unlock(amn);
                return -EAGAIN;
            }

            foreach (var bo in node.bos) {
                object? mem = bo.kfd_bo;

                if (amdgpu_ttm_tt_affect_userptr(bo, range.start, end))
                    amdgpu_amdkfd_evict_userptr(mem, range.mm);
            }
        }

        return 0;
    }

    private static void amdgpu_mn_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        amdgpu_mn amn = (amdgpu_mn)mn;

        amdgpu_mn_read_unlock(amn);
    }

    public static readonly mmu_notifier_ops[] amdgpu_mn_ops =
    {
        /* [AMDGPU_MN_TYPE_GFX] */
        new() { invalidate_range_start_range = amdgpu_mn_invalidate_range_start_gfx, invalidate_range_end_range = amdgpu_mn_invalidate_range_end },
        /* [AMDGPU_MN_TYPE_HSA] */
        new() { invalidate_range_start_range = amdgpu_mn_invalidate_range_start_hsa, invalidate_range_end_range = amdgpu_mn_invalidate_range_end },
    };
}
