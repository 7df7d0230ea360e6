using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/gfp.h
public static partial class Linux
{
    public const gfp_t __GFP_DMA = gfp_t.__GFP_DMA;
    public const gfp_t __GFP_HIGHMEM = gfp_t.__GFP_HIGHMEM;
    public const gfp_t __GFP_MOVABLE = gfp_t.__GFP_MOVABLE;
    public const gfp_t __GFP_HIGH = gfp_t.__GFP_HIGH;
    public const gfp_t __GFP_IO = gfp_t.__GFP_IO;
    public const gfp_t __GFP_FS = gfp_t.__GFP_FS;
    public const gfp_t __GFP_ZERO = gfp_t.__GFP_ZERO;
    public const gfp_t __GFP_ATOMIC = gfp_t.__GFP_ATOMIC;
    public const gfp_t __GFP_DIRECT_RECLAIM = gfp_t.__GFP_DIRECT_RECLAIM;
    public const gfp_t __GFP_KSWAPD_RECLAIM = gfp_t.__GFP_KSWAPD_RECLAIM;
    public const gfp_t __GFP_RECLAIM = gfp_t.__GFP_DIRECT_RECLAIM | gfp_t.__GFP_KSWAPD_RECLAIM;
    public const gfp_t __GFP_NOWARN = gfp_t.__GFP_NOWARN;
    public const gfp_t __GFP_NORETRY = gfp_t.__GFP_NORETRY;
    public const gfp_t __GFP_NOFAIL = gfp_t.__GFP_NOFAIL;
    public const gfp_t __GFP_COMP = gfp_t.__GFP_COMP;

    /// <summary>Normal kernel allocation: may sleep (direct reclaim).</summary>
    public const gfp_t GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
    /// <summary>Atomic allocation: never sleeps, may use reserves.</summary>
    public const gfp_t GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM;
    /// <summary>Never sleeps, no reserves.</summary>
    public const gfp_t GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
    public const gfp_t GFP_NOIO = __GFP_RECLAIM;
    public const gfp_t GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
    public const gfp_t GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | gfp_t.__GFP_HARDWALL;
    public const gfp_t GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
    public const gfp_t GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;
    public const gfp_t GFP_TRANSHUGE = GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOWARN | __GFP_NORETRY;

    /// <summary>True when an allocation with <paramref name="gfp_flags"/> may sleep.</summary>
    [NeverSleeps]
    public static bool gfpflags_allow_blocking(gfp_t gfp_flags) => (gfp_flags & __GFP_DIRECT_RECLAIM) != 0;

    /// <summary>Allocates a page for a user mapping at <paramref name="addr"/> of
    /// <paramref name="vma"/>; may sleep unless <paramref name="gfp"/> forbids it. Null on failure.</summary>
    public static page? alloc_page_vma(gfp_t gfp, vm_area_struct vma, ulong addr)
    {
        System.ArgumentNullException.ThrowIfNull(vma);
        return alloc_pages(gfp, 0);
    }

    /// <summary>Allocates a compound page of <paramref name="order"/> for <paramref name="vma"/>.</summary>
    public static page? alloc_pages_vma(gfp_t gfp, int order, vm_area_struct vma, ulong addr)
    {
        System.ArgumentNullException.ThrowIfNull(vma);
        return alloc_pages(gfp, order);
    }
}
