using System;

namespace Kernel.Mm;

// include/linux/slab.h
public static partial class Linux
{
    /// <summary>Allocates <paramref name="size"/> bytes (a byte array). Sleeps iff
    /// <paramref name="flags"/> allow direct reclaim (<c>GFP_KERNEL</c> does, <c>GFP_ATOMIC</c>
    /// does not). Null on failure.</summary>
    public static object? kmalloc(nuint size, gfp_t flags)
    {
        if ((flags & __GFP_DIRECT_RECLAIM) != 0)
        {
            might_sleep_in(nameof(kmalloc));
        }

        if (size > int.MaxValue)
        {
            return null;
        }

        return new byte[(int)size];
    }

    /// <summary>kmalloc with <c>__GFP_ZERO</c> (every allocation is zeroed here).</summary>
    public static object? kzalloc(nuint size, gfp_t flags) => kmalloc(size, flags | __GFP_ZERO);

    /// <summary>Frees what kmalloc returned (null is fine). Never sleeps.</summary>
    [MmuNotifierAnalyzers.Annotations.NeverSleeps]
    public static void kfree(object? p)
    {
    }
}
