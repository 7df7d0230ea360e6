using System;
using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V5_5;

/// <summary>
/// drivers/xen/gntdev.c, Linux v5.5: the fixed form of v5_4_gntdev.cs. "xen/gntdev: use
/// mmu_interval_notifier_insert" (Jason Gunthorpe, v5.5) gave each grant map its own interval
/// notifier (gntdev_invalidate, the plus side of that commit): no mmu_notifier_ops table is left,
/// and the interval notifier's invalidate/sequence protocol replaces the start-only callback. The
/// grant-table hypercall is a stub.
/// </summary>
public static class gntdev
{
    public sealed class gntdev_grant_map : mmu_interval_notifier
    {
        public vm_area_struct? vma;
        public int index;
        public int count;
    }

    /* unmap_grant_pages(): GNTTABOP_unmap_grant_ref for the pages; the hypercall is not modelled. */
    private static int unmap_grant_pages(gntdev_grant_map map, int offset, int pages) => 0;

    private static bool gntdev_invalidate(mmu_interval_notifier mn, mmu_notifier_range range, ulong cur_seq)
    {
        gntdev_grant_map map = (gntdev_grant_map)mn;
        ulong mstart, mend;
        int err;

        if (!mmu_notifier_range_blockable(range))
            return false;

        /*
         * If the VMA is split or otherwise changed the notifier is not
         * updated, but we don't want to process VA's outside the modified
         * VMA. FIXME: It would be much more understandable to just prevent
         * modifying the VMA in the first place.
         */
        if (map.vma!.vm_start >= range.end ||
            map.vma.vm_end <= range.start)
            return true;   // known false finding: MMU012 (gntdev has no read side to retry; the rule cannot see that)

        mstart = Math.Max(range.start, map.vma.vm_start);
        mend = Math.Min(range.end, map.vma.vm_end);
        err = unmap_grant_pages(map,
                                (int)((mstart - map.vma.vm_start) >> PAGE_SHIFT),
                                (int)((mend - mstart) >> PAGE_SHIFT));
        WARN_ON(err != 0);

        return true;   // known false finding: MMU012 (gntdev has no read side to retry; the rule cannot see that)
    }

    public static readonly mmu_interval_notifier_ops gntdev_mmu_ops = new()
    {
        invalidate = gntdev_invalidate,
    };
}
