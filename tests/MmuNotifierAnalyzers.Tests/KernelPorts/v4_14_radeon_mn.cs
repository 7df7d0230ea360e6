using System;
using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V4_14;

/// <summary>
/// drivers/gpu/drm/radeon/radeon_mn.c of a v4.14/v4.15 kernel (RB_ROOT_CACHED, 4.14; ttm_bo_validate
/// still with two bools, before 4.16's ttm_operation_ctx; read from the search index, file id
/// 397943015, the whole file). The userptr notifier sets ->invalidate_range_start alone: start
/// waits for the buffer objects in the range and moves them to the CPU domain, but nothing keeps a
/// command submission from binding them again before the primary update is done (MMU011). v5.5's
/// "drm/radeon: use mmu_interval_notifier_insert" replaced the table with an interval notifier.
/// Registration is correct and must stay silent (MMU015): radeon_mn_get takes mmap_sem for write
/// and calls __mmu_notifier_register under it; radeon_mn_release does not unregister from inside
/// the callback but schedules radeon_mn_destroy, which does, on a work item. TTM, the BO list and
/// the workqueue are stubs.
/// </summary>
public static class radeon_mn_c
{
    public sealed class radeon_bo
    {
        public radeon_mn? mn;
        public bool bound;
    }

    public sealed class radeon_device
    {
        public readonly mutex mn_lock = new("rdev->mn_lock");
        public readonly Dictionary<mm_struct, radeon_mn> mn_hash = new();
    }

    public sealed class radeon_mn : mmu_notifier
    {
        /* constant after initialisation */
        public radeon_device rdev = null!;
        public mm_struct mm = null!;

        /* only used on destruction */
        public Action? work;

        /* objects protected by lock */
        public readonly mutex @lock = new("rmn->lock");
        public readonly rb_root_cached objects = new();
    }

    public sealed class radeon_mn_node
    {
        public readonly interval_tree_node it = new();
        public readonly List<radeon_bo> bos = new();
    }

    /* schedule_work(): queues the work for a kworker; it runs later, outside the callback. */
    private static readonly Queue<Action> system_wq = new();

    private static void schedule_work(Action work) => system_wq.Enqueue(work);

    /* radeon_bo_reserve()/_unreserve(), the fence wait and ttm_bo_validate(): TTM is not modelled. */
    private static int radeon_bo_reserve(radeon_bo bo, bool no_intr) => 0;

    private static void radeon_bo_unreserve(radeon_bo bo)
    {
    }

    private static long reservation_object_wait_timeout_rcu(radeon_bo bo) => 1;

    private static long ttm_bo_validate_cpu_domain(radeon_bo bo) => 0;

    /**
     * radeon_mn_destroy - destroy the rmn
     *
     * Lazy destroys the notifier from a work item
     */
    private static void radeon_mn_destroy(radeon_mn rmn)
    {
        radeon_device rdev = rmn.rdev;

        mutex_lock(rdev.mn_lock);
        mutex_lock(rmn.@lock);
        rdev.mn_hash.Remove(rmn.mm);
        for (var it = interval_tree_iter_first(rmn.objects, 0, ulong.MaxValue); it != null; it = interval_tree_iter_first(rmn.objects, 0, ulong.MaxValue))
        {
            var node = (radeon_mn_node)it.owner!;
            interval_tree_remove(node.it, rmn.objects);
            foreach (var bo in node.bos)
                bo.mn = null;
            node.bos.Clear();
        }
        mutex_unlock(rmn.@lock);
        mutex_unlock(rdev.mn_lock);
        mmu_notifier_unregister(rmn, rmn.mm); // no finding: a work item, not the release callback
    }

    /**
     * radeon_mn_release - callback to notify about mm destruction
     *
     * Shedule a work item to lazy destroy our notifier.
     */
    private static void radeon_mn_release(mmu_notifier mn, mm_struct mm)
    {
        radeon_mn rmn = (radeon_mn)mn;
        rmn.work = () => radeon_mn_destroy(rmn);
        schedule_work(rmn.work);
    }

    /**
     * radeon_mn_invalidate_range_start - callback to notify about mm change
     *
     * We block for all BOs between start and end to be idle and
     * unmap them by move them into system domain again.
     */
    private static void radeon_mn_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        radeon_mn rmn = (radeon_mn)mn;
        interval_tree_node? it;

        /* notification is exclusive, but interval is inclusive */
        end -= 1;

        mutex_lock(rmn.@lock);

        it = interval_tree_iter_first(rmn.objects, start, end);
        while (it != null)
        {
            radeon_mn_node node;
            long r;

            node = (radeon_mn_node)it.owner!;
            it = interval_tree_iter_next(it, start, end);

            foreach (var bo in node.bos)
            {
                if (!bo.bound)
                    continue;

                r = radeon_bo_reserve(bo, true);
                if (r != 0)
                    continue;

                r = reservation_object_wait_timeout_rcu(bo);
                r = ttm_bo_validate_cpu_domain(bo);

                radeon_bo_unreserve(bo);
            }
        }

        mutex_unlock(rmn.@lock);
    }

    public static readonly mmu_notifier_ops radeon_mn_ops = new()
    {
        release = radeon_mn_release,
        invalidate_range_start = radeon_mn_invalidate_range_start, // expect: MMU011
    };

    /**
     * radeon_mn_get - create notifier context
     *
     * Creates a notifier context for current->mm.
     */
    public static radeon_mn? radeon_mn_get(radeon_device rdev, mm_struct mm)
    {
        radeon_mn? rmn;
        int r;

        down_write(mm.mmap_sem);

        mutex_lock(rdev.mn_lock);

        if (rdev.mn_hash.TryGetValue(mm, out rmn))
            goto release_locks;

        rmn = new radeon_mn { ops = radeon_mn_ops };
        rmn.rdev = rdev;
        rmn.mm = mm;

        r = __mmu_notifier_register(rmn, mm); // no finding: mmap_sem is held for write
        if (r != 0)
            goto free_rmn;

        rdev.mn_hash.Add(mm, rmn);

    release_locks:
        mutex_unlock(rdev.mn_lock);
        up_write(mm.mmap_sem);

        return rmn;

    free_rmn:
        mutex_unlock(rdev.mn_lock);
        up_write(mm.mmap_sem);

        return null;
    }
}
