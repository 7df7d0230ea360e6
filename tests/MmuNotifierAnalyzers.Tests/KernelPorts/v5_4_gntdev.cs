using System;
using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V5_4;

/// <summary>
/// drivers/xen/gntdev.c, Linux v5.4 (read as the minus side of "xen/gntdev: use
/// mmu_interval_notifier_insert", Jason Gunthorpe, v5.5, which shows these functions whole): the
/// grant-device notifier sets ->invalidate_range_start and no ->invalidate_range_end, and nothing
/// it writes is re-checked before a grant is mapped again, so between its start (which unmaps the
/// grants in the range) and the primary update nothing stops a new mapping. v5.5 replaced the
/// whole mmu_notifier with an interval notifier per map (v5_5_gntdev.cs). The grant-table
/// hypercalls are stubs; the lists are C# lists.
/// </summary>
public static class gntdev
{
    public sealed class gntdev_grant_map
    {
        public vm_area_struct? vma;
        public int index;
        public int count;
    }

    public sealed class gntdev_priv : mmu_notifier
    {
        public readonly List<gntdev_grant_map> maps = new();
        public readonly List<gntdev_grant_map> freeable_maps = new();
        public readonly mutex @lock = new("gntdev_priv->lock");
    }

    private const int EAGAIN = 11;

    /* unmap_grant_pages(): GNTTABOP_unmap_grant_ref for the pages; the hypercall is not modelled. */
    private static int unmap_grant_pages(gntdev_grant_map map, int offset, int pages) => 0;

    private static bool in_range(gntdev_grant_map map, ulong start, ulong end)
    {
        if (map.vma == null)
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

        mstart = Math.Max(start, map.vma!.vm_start);
        mend = Math.Min(end, map.vma.vm_end);
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

        foreach (var map in priv.maps)
        {
            ret = unmap_if_in_range(map, range.start, range.end,
                                    mmu_notifier_range_blockable(range));
            if (ret != 0)
                goto out_unlock;
        }
        foreach (var map in priv.freeable_maps)
        {
            ret = unmap_if_in_range(map, range.start, range.end,
                                    mmu_notifier_range_blockable(range));
            if (ret != 0)
                goto out_unlock;
        }

    out_unlock:
        mutex_unlock(priv.@lock);

        return ret;
    }

    private static void mn_release(mmu_notifier mn, mm_struct mm)
    {
        gntdev_priv priv = (gntdev_priv)mn;
        int err;

        mutex_lock(priv.@lock);
        foreach (var map in priv.maps)
        {
            if (map.vma == null)
                continue;
            err = unmap_grant_pages(map, /* offset */ 0, map.count);
            WARN_ON(err != 0);
        }
        foreach (var map in priv.freeable_maps)
        {
            if (map.vma == null)
                continue;
            err = unmap_grant_pages(map, /* offset */ 0, map.count);
            WARN_ON(err != 0);
        }
        mutex_unlock(priv.@lock);
    }

    public static readonly mmu_notifier_ops gntdev_mmu_ops = new()
    {
        release = mn_release,
        invalidate_range_start_range = mn_invl_range_start, // expect: MMU011
    };
}
