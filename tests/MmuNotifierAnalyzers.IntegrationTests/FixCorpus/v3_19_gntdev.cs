using System;
using System.Collections.Generic;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V3_19;

/// <summary>
/// drivers/xen/gntdev.c, Linux v3.19: the grant-device's MMU-notifier callbacks and ops table.
/// Buggy form of 1401c00e59ea ("xen/gntdev: convert priv->lock to a mutex", v4.0: "Unmapping may
/// require sleeping and we unmap while holding priv->lock, so convert it to a mutex"):
/// <c>unmap_grant_pages</c> waits for the hypervisor's unmap under the <c>priv->lock</c> spinlock.
/// A sleeping call that is not a notifier call: MMU005's fix has no mechanical repair for it (the
/// kernel changed the lock's type), so it offers none. The driver's <c>invalidate_page</c> member is
/// MMU001's, which this corpus does not fix yet.
/// Ported from that release's mainline source; no stored copy of the file at that version was
/// read for it (the index holds none), so the C may differ in comments and layout.
/// </summary>
public static class gntdev
{
    public sealed class grant_map
    {
        public vm_area_struct? vma;
        public int index;
        public int count;
    }

    public sealed class gntdev_priv : mmu_notifier
    {
        /* maps with visible offsets in the file descriptor */
        public readonly List<grant_map> maps = new();
        /* maps that are not visible; will be freed on munmap */
        public readonly List<grant_map> freeable_maps = new();
        /* lock protects maps and freeable_maps */
        public readonly spinlock_t @lock = new();
    }

    /* unmap_grant_pages(): GNTTABOP_unmap_grant_ref for the pages, waiting for the hypervisor (gnttab_unmap_refs_sync). */
    [MaySleep]
    private static int unmap_grant_pages(grant_map map, int offset, int pages)
    {
        might_sleep();
        return 0;
    }

    /* pr_debug(): dynamic debug output; not modelled. */
    private static void pr_debug(string format, params object[] args)
    {
    }

    private static void unmap_if_in_range(grant_map map,
                                          ulong start, ulong end)
    {
        ulong mstart, mend;
        int err;

        if (map.vma == null)
            return;
        if (map.vma.vm_start >= end)
            return;
        if (map.vma.vm_end <= start)
            return;
        mstart = Math.Max(start, map.vma.vm_start);
        mend = Math.Min(end, map.vma.vm_end);
        pr_debug("map {0}+{1} ({2:x} {3:x}), range {4:x} {5:x}, mrange {6:x} {7:x}",
                 map.index, map.count,
                 map.vma.vm_start, map.vma.vm_end,
                 start, end, mstart, mend);
        err = unmap_grant_pages(map,
                                (int)((mstart - map.vma.vm_start) >> PAGE_SHIFT),
                                (int)((mend - mstart) >> PAGE_SHIFT));
        WARN_ON(err != 0);
    }

    private static void mn_invl_range_start(mmu_notifier mn,
                                            mm_struct mm,
                                            ulong start, ulong end)
    {
        gntdev_priv priv = (gntdev_priv)mn;

        spin_lock(priv.@lock);
        foreach (grant_map map in priv.maps)
        {
            unmap_if_in_range(map, start, end); // expect: MMU005
        }
        foreach (grant_map map in priv.freeable_maps)
        {
            unmap_if_in_range(map, start, end); // expect: MMU005
        }
        spin_unlock(priv.@lock);
    }

    private static void mn_invl_page(mmu_notifier mn,
                                     mm_struct mm,
                                     ulong address)
    {
        mn_invl_range_start(mn, mm, address, address + PAGE_SIZE);
    }

    private static void mn_release(mmu_notifier mn,
                                   mm_struct mm)
    {
        gntdev_priv priv = (gntdev_priv)mn;
        int err;

        spin_lock(priv.@lock);
        foreach (grant_map map in priv.maps)
        {
            if (map.vma == null)
                continue;
            pr_debug("map {0}+{1} ({2:x} {3:x})",
                     map.index, map.count,
                     map.vma.vm_start, map.vma.vm_end);
            err = unmap_grant_pages(map, /* offset */ 0, map.count); // expect: MMU005
            WARN_ON(err != 0);
        }
        foreach (grant_map map in priv.freeable_maps)
        {
            if (map.vma == null)
                continue;
            pr_debug("map {0}+{1} ({2:x} {3:x})",
                     map.index, map.count,
                     map.vma.vm_start, map.vma.vm_end);
            err = unmap_grant_pages(map, /* offset */ 0, map.count); // expect: MMU005
            WARN_ON(err != 0);
        }
        spin_unlock(priv.@lock);
    }

    public static readonly mmu_notifier_ops gntdev_mmu_ops = new()
    {
        release = mn_release,
        invalidate_page = mn_invl_page, // expect: MMU001
        invalidate_range_start = mn_invl_range_start,   // known false finding: MMU011 (no fault path re-establishes a grant mapping; the rule cannot see that)
    };
}
