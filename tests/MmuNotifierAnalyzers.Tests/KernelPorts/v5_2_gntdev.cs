using System.Collections.Generic;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_2;

/// <summary>
/// drivers/xen/gntdev.c, v5.2 (the range form; <c>mmu_notifier_range_blockable</c> from 4a83bfe916f3,
/// read from that commit's diff). Michal Hocko's follow-up to 93065ac753e4 ("xen/gntdev: fix up
/// blockable calls to mn_invl_range_start", v4.19, <c>Fixes: 93065ac753e4</c>) passes the blockable
/// flag down: <c>unmap_if_in_range</c> refuses before <c>unmap_grant_pages</c>, which waits for the
/// unmap to complete ("The lock has to be sleepable because we wait for completion down in
/// gnttab_unmap_refs_sync"). The analyzer follows the flag into the helper.
/// </summary>
public static class gntdev_c
{
    public sealed class gntdev_grant_map
    {
        public vm_area_struct? vma;
        public int index;
        public int count;
    }

    public sealed class gntdev_priv : mmu_notifier
    {
        public readonly mutex @lock = new("priv->lock");
        public readonly List<gntdev_grant_map> maps = new();
        public readonly List<gntdev_grant_map> freeable_maps = new();
    }

    /* unmap_grant_pages(): __unmap_grant_pages -> gnttab_unmap_refs_sync, which waits for completion. */
    [MaySleep]
    private static int unmap_grant_pages(gntdev_grant_map map, int offset, int pages) => 0;

    /* WARN_ON(): report and go on. */
    private static bool WARN_ON(bool condition) => condition;

    private static bool in_range(gntdev_grant_map map, ulong start, ulong end)
    {
        if (map.vma is null)
            return false;
        if (map.vma.vm_start >= end)
            return false;
        if (map.vma.vm_end <= start)
            return false;

        return true;
    }

    private static int unmap_if_in_range(gntdev_grant_map map, ulong start, ulong end, bool blockable)
    {
        ulong mstart, mend;
        int err;

        if (!in_range(map, start, end))
            return 0;

        if (!blockable)
            return -EAGAIN;

        mstart = System.Math.Max(start, map.vma!.vm_start);
        mend = System.Math.Min(end, map.vma.vm_end);
        /* pr_debug("map %d+%d (%lx %lx), range %lx %lx, mrange %lx %lx\n", ...) */
        err = unmap_grant_pages(map,
                                (int)((mstart - map.vma.vm_start) >> PAGE_SHIFT),
                                (int)((mend - mstart) >> PAGE_SHIFT));
        WARN_ON(err != 0);

        return 0;
    }

    private static int mn_invl_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        gntdev_priv priv = (gntdev_priv)mn;
        int ret = 0;

        if (mmu_notifier_range_blockable(range))
            mutex_lock(priv.@lock);
        else if (!mutex_trylock(priv.@lock))
            return -EAGAIN;

        foreach (var map in priv.maps) {
            ret = unmap_if_in_range(map, range.start, range.end,
                                    mmu_notifier_range_blockable(range));   // no finding: refuses before it sleeps
            if (ret != 0)
                goto out_unlock;
        }
        foreach (var map in priv.freeable_maps) {
            ret = unmap_if_in_range(map, range.start, range.end,
                                    mmu_notifier_range_blockable(range));
            if (ret != 0)
                goto out_unlock;
        }

    out_unlock:
        mutex_unlock(priv.@lock);

        return ret;
    }

    public static readonly mmu_notifier_ops gntdev_mmu_ops = new()
    {
        invalidate_range_start_range = mn_invl_range_start,   // known false finding: MMU011 (no fault path re-establishes a grant mapping; the rule cannot see that)
    };
}
