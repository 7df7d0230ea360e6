using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_4;

/// <summary>
/// drivers/gpu/drm/radeon/radeon_mn.c, Linux v5.4 (read as the minus side of "[PATCH hmm 07/15]
/// drm/radeon: use mmu_range_notifier_insert", Jason Gunthorpe, 2019-10-15, merged in v5.5 as "drm/radeon:
/// use mmu_interval_notifier_insert"). Two things to see. Registration went to the 5.4 get/put scheme
/// ("drm/radeon: use mmu_notifier_get/put for struct radeon_mn", v5.4): radeon_mn_register takes the
/// one notifier of the mm with mmu_notifier_get (no mmap_sem held: it takes it), radeon_mn_unregister
/// drops it with mmu_notifier_put, and the 4.14 work item that unregistered after ->release
/// (v4_14_radeon_mn.cs) is gone; MMU015 stays silent. The table still sets ->invalidate_range_start
/// alone, which the v5.5 commit names: "Since this driver is missing a invalidate_range_end callback,
/// but still calls get_user_pages(), it cannot be correct against all races" (MMU011). TTM and the
/// BO list are stubs or C# lists.
/// </summary>
public static class radeon_mn_c
{
    private const int EAGAIN = 11, ENOMEM = 12;

    public sealed class radeon_bo
    {
        public radeon_mn? mn;
        public bool bound;
        public ulong size;
    }

    public sealed class radeon_mn : mmu_notifier
    {
        /* objects protected by lock */
        public readonly mutex @lock = new("rmn->lock");
        public readonly rb_root_cached objects = new();
    }

    public sealed class radeon_mn_node
    {
        public readonly interval_tree_node it = new();
        public readonly List<radeon_bo> bos = new();
    }

    /* radeon_bo_reserve()/_unreserve(), the fence wait and ttm_bo_validate(): TTM is not modelled. */
    private static int radeon_bo_reserve(radeon_bo bo, bool no_intr) => 0;

    private static void radeon_bo_unreserve(radeon_bo bo)
    {
    }

    private static long dma_resv_wait_timeout_rcu(radeon_bo bo) => 1;

    private static long ttm_bo_validate_cpu_domain(radeon_bo bo) => 0;

    /**
     * radeon_mn_invalidate_range_start - callback to notify about mm change
     *
     * We block for all BOs between start and end to be idle and
     * unmap them by move them into system domain again.
     */
    private static int radeon_mn_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        radeon_mn rmn = (radeon_mn)mn;
        interval_tree_node? it;
        ulong end;
        int ret = 0;

        /* notification is exclusive, but interval is inclusive */
        end = range.end - 1;

        /* TODO we should be able to split locking for interval tree and
         * the tear down.
         */
        if (mmu_notifier_range_blockable(range))
            mutex_lock(rmn.@lock);
        else if (!mutex_trylock(rmn.@lock))
            return -EAGAIN;

        it = interval_tree_iter_first(rmn.objects, range.start, end);
        while (it != null)
        {
            radeon_mn_node node;
            long r;

            if (!mmu_notifier_range_blockable(range))
            {
                ret = -EAGAIN;
                goto out_unlock;
            }

            node = (radeon_mn_node)it.owner!;
            it = interval_tree_iter_next(it, range.start, end);

            foreach (var bo in node.bos)
            {
                if (!bo.bound)
                    continue;

                r = radeon_bo_reserve(bo, true);
                if (r != 0)
                    continue;

                r = dma_resv_wait_timeout_rcu(bo);
                r = ttm_bo_validate_cpu_domain(bo);

                radeon_bo_unreserve(bo);
            }
        }

    out_unlock:
        mutex_unlock(rmn.@lock);

        return ret;
    }

    private static void radeon_mn_release(mmu_notifier mn, mm_struct mm)
    {
        var range = new mmu_notifier_range
        {
            mm = mm,
            start = 0,
            end = ulong.MaxValue,
            flags = 0,
            @event = mmu_notifier_event.MMU_NOTIFY_UNMAP,
        };

        radeon_mn_invalidate_range_start(mn, range);
    }

    private static mmu_notifier? radeon_mn_alloc_notifier(mm_struct mm) => new radeon_mn { ops = radeon_mn_ops };

    /* kfree(container_of(mn, struct radeon_mn, mn)): the GC frees it. */
    private static void radeon_mn_free_notifier(mmu_notifier mn)
    {
    }

    public static readonly mmu_notifier_ops radeon_mn_ops = new()
    {
        release = radeon_mn_release,
        invalidate_range_start_range = radeon_mn_invalidate_range_start, // expect: MMU011
        alloc_notifier = radeon_mn_alloc_notifier,
        free_notifier = radeon_mn_free_notifier,
    };

    /**
     * radeon_mn_register - register a BO for notifier updates
     *
     * Registers an MMU notifier for the given BO at the specified address.
     * Returns 0 on success, -ERRNO if anything goes wrong.
     */
    public static int radeon_mn_register(radeon_bo bo, mm_struct current_mm, ulong addr)
    {
        ulong end = addr + bo.size - 1;
        mmu_notifier? mn;
        radeon_mn rmn;
        radeon_mn_node? node = null;
        var bos = new List<radeon_bo>();
        interval_tree_node? it;

        mn = mmu_notifier_get(radeon_mn_ops, current_mm); // no finding: takes mmap_sem itself, none held here
        if (mn == null)
            return -ENOMEM;
        rmn = (radeon_mn)mn;

        mutex_lock(rmn.@lock);

        while ((it = interval_tree_iter_first(rmn.objects, addr, end)) != null)
        {
            node = (radeon_mn_node)it.owner!;
            interval_tree_remove(node.it, rmn.objects);
            addr = System.Math.Min(it.start, addr);
            end = System.Math.Max(it.last, end);
            bos.AddRange(node.bos);
        }

        node = new radeon_mn_node();
        node.it.owner = node;

        bo.mn = rmn;

        node.it.start = addr;
        node.it.last = end;
        node.bos.AddRange(bos);
        node.bos.Add(bo);

        interval_tree_insert(node.it, rmn.objects);

        mutex_unlock(rmn.@lock);

        return 0;
    }

    /**
     * radeon_mn_unregister - unregister a BO for notifier updates
     *
     * Remove any registration of MMU notifier updates from the buffer object.
     */
    public static void radeon_mn_unregister(radeon_bo bo)
    {
        radeon_mn? rmn = bo.mn;

        if (rmn == null)
            return;

        mutex_lock(rmn.@lock);
        for (var it = interval_tree_iter_first(rmn.objects, 0, ulong.MaxValue); it != null; it = interval_tree_iter_next(it, 0, ulong.MaxValue))
        {
            var node = (radeon_mn_node)it.owner!;
            if (node.bos.Remove(bo) && node.bos.Count == 0)
            {
                interval_tree_remove(node.it, rmn.objects);
                break;
            }
        }

        mutex_unlock(rmn.@lock);

        mmu_notifier_put(rmn);
        bo.mn = null;
    }
}
