using System;
using System.Collections.Generic;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// mm/page_alloc.c, include/linux/gfp.h, include/linux/mm.h (page refcounts)
public static partial class Linux
{
    /// <summary>Largest buddy order + 1 (orders 0 .. MAX_ORDER-1).</summary>
    public const int MAX_ORDER = 11;

    private const ulong FirstPfn = 1UL << (MAX_ORDER - 1);

    private static readonly object s_zone_lock = new();
    private static readonly SortedSet<ulong>[] s_free_area = CreateFreeArea();
    private static page[][] s_mem_map = Array.Empty<page[]>();   // chunks of 2^(MAX_ORDER-1) pages
    private static long s_nr_free;
    private static long s_nr_total;
    private static readonly AsyncLocal<StrongBox<int>?> s_fail_after = new();

    private static SortedSet<ulong>[] CreateFreeArea()
    {
        var a = new SortedSet<ulong>[MAX_ORDER];
        for (int i = 0; i < MAX_ORDER; i++)
        {
            a[i] = new SortedSet<ulong>();
        }

        return a;
    }

    /// <summary>
    /// Allocates 2^<paramref name="order"/> contiguous pages (a compound page when order &gt; 0) with
    /// refcount 1, or null when memory is exhausted. Sleeps iff <paramref name="gfp_mask"/> allows
    /// direct reclaim.
    /// </summary>
    public static page? alloc_pages(gfp_t gfp_mask, int order)
    {
        if (order < 0 || order >= MAX_ORDER)
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, $"alloc_pages: order {order} is outside 0..{MAX_ORDER - 1}");
        }

        if ((gfp_mask & gfp_t.__GFP_DIRECT_RECLAIM) != 0)
        {
            might_sleep_in(nameof(alloc_pages));
        }

        if (s_fail_after.Value is { } budget)
        {
            if (budget.Value <= 0)
            {
                return null;
            }

            budget.Value--;
        }

        page head;
        lock (s_zone_lock)
        {
            int o = order;
            while (o < MAX_ORDER && s_free_area[o].Count == 0)
            {
                o++;
            }

            if (o == MAX_ORDER)
            {
                grow_memory();
                o = MAX_ORDER - 1;
            }

            ulong pfn = s_free_area[o].Min;
            s_free_area[o].Remove(pfn);
            while (o > order)
            {
                o--;
                s_free_area[o].Add(pfn + (1UL << o));   // the upper buddy stays free
            }

            s_nr_free -= 1L << order;
            head = pfn_to_page_locked(pfn);
            for (ulong i = 0; i < (1UL << order); i++)
            {
                var p = pfn_to_page_locked(pfn + i);
                p.flags = 0;
                p._refcount = 0;
                p._mapcount = 0;
                p.compound_mapcount = 0;
                p.order = 0;
                p.head = null;
                p.mapping = null;
                p.index = 0;
                p.@private = 0;
                p.data = null;
                p.pt = null;
                p.pending_clears = null;
            }

            if (order > 0)
            {
                head.flags |= pageflags.PG_head;
                head.order = order;
                for (ulong i = 1; i < (1UL << order); i++)
                {
                    var t = pfn_to_page_locked(pfn + i);
                    t.flags |= pageflags.PG_tail;
                    t.head = head;
                }
            }

            head._refcount = 1;
        }

        return head;
    }

    /// <summary>Allocates one page; null on failure.</summary>
    public static page? alloc_page(gfp_t gfp_mask) => alloc_pages(gfp_mask, 0);

    /// <summary>Drops a reference to a block from <see cref="alloc_pages"/>; frees it when it was the last.</summary>
    [NeverSleeps]
    [ReleasesPage]
    public static void __free_pages(page page, int order)
    {
        ArgumentNullException.ThrowIfNull(page);
        if (page.head is not null || compound_order(page) != order)
        {
            throw new ArgumentException($"__free_pages: pfn 0x{page.pfn:x} is not the head of an order-{order} block (order {compound_order(page)})", nameof(order));
        }

        put_page_as(page, nameof(__free_pages));
    }

    [NeverSleeps]
    [ReleasesPage]
    public static void __free_page(page page) => __free_pages(page, 0);

    /// <summary>Free pages in the allocator.</summary>
    public static long nr_free_pages() => Interlocked.Read(ref s_nr_free);

    /// <summary>Pages the allocator manages (free or in use).</summary>
    public static long totalram_pages() => Interlocked.Read(ref s_nr_total);

    /// <summary>The page of <paramref name="pfn"/>; throws for a pfn that no memory backs.</summary>
    public static page pfn_to_page(ulong pfn)
    {
        var map = Volatile.Read(ref s_mem_map);
        if (pfn < FirstPfn)
        {
            throw new ArgumentOutOfRangeException(nameof(pfn), $"pfn_to_page: pfn 0x{pfn:x} is not backed by memory");
        }

        ulong chunk = (pfn - FirstPfn) >> (MAX_ORDER - 1);
        if (chunk >= (ulong)map.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(pfn), $"pfn_to_page: pfn 0x{pfn:x} is not backed by memory");
        }

        return map[chunk][(int)(pfn & ((1UL << (MAX_ORDER - 1)) - 1))];
    }

    public static bool pfn_valid(ulong pfn)
    {
        var map = Volatile.Read(ref s_mem_map);
        return pfn >= FirstPfn && ((pfn - FirstPfn) >> (MAX_ORDER - 1)) < (ulong)map.Length;
    }

    public static ulong page_to_pfn(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.pfn;
    }

    /// <summary>
    /// Makes page allocations of the current flow fail after <paramref name="allocations"/> more
    /// succeed (OOM injection for tests), until the result is disposed.
    /// </summary>
    public static IDisposable fail_page_allocations_after(int allocations)
    {
        var previous = s_fail_after.Value;
        s_fail_after.Value = new StrongBox<int>(allocations);
        return new Undo(() => s_fail_after.Value = previous);
    }

    // ---- refcounts -----------------------------------------------------------------------

    /// <summary>The head of a compound page (the page itself otherwise).</summary>
    [NeverSleeps]
    public static page compound_head(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.head ?? page;
    }

    [NeverSleeps]
    public static int page_count(page page) => Volatile.Read(ref compound_head(page)._refcount);

    /// <summary>Takes a reference (on the head of a compound page).</summary>
    [NeverSleeps]
    public static void get_page(page page)
    {
        var head = compound_head(page);
        while (true)
        {
            int old = Volatile.Read(ref head._refcount);
            if (old <= 0)
            {
                throw new InvalidOperationException($"get_page: pfn 0x{page.pfn:x} is free (refcount {old})");
            }

            if (Interlocked.CompareExchange(ref head._refcount, old + 1, old) == old)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Drops a reference; at zero the page (the whole compound page) is freed — checked first
    /// against MMU010: no cleared PTE of it may still be awaiting its invalidation.
    /// </summary>
    [NeverSleeps]
    [ReleasesPage]
    public static void put_page(page page) => put_page_as(page, nameof(put_page));

    /// <summary>The 2012 name of <see cref="put_page"/>.</summary>
    [NeverSleeps]
    [ReleasesPage]
    public static void page_cache_release(page page) => put_page_as(page, nameof(page_cache_release));

    /// <summary>Drops a reference and returns true when it was the last (the caller frees).</summary>
    [NeverSleeps]
    public static bool put_page_testzero(page page)
    {
        var head = compound_head(page);
        int v = Interlocked.Decrement(ref head._refcount);
        if (v < 0)
        {
            Interlocked.Increment(ref head._refcount);
            throw new InvalidOperationException($"put_page_testzero: pfn 0x{page.pfn:x} is already free (refcount 0): double free");
        }

        return v == 0;
    }

    internal static void put_page_as(page page, string function)
    {
        ArgumentNullException.ThrowIfNull(page);
        var head = compound_head(page);
        int v = Interlocked.Decrement(ref head._refcount);
        if (v < 0)
        {
            Interlocked.Increment(ref head._refcount);
            throw new InvalidOperationException($"{function}: pfn 0x{page.pfn:x} is already free (refcount 0): double free or put_page without get_page");
        }

        if (v == 0)
        {
            free_the_page(head, function);
        }
    }

    private static void free_the_page(page head, string function)
    {
        int mapped = head.compound_mapcount;
        int order = head.order;
        for (ulong i = 0; i < (1UL << order); i++)
        {
            mapped += pfn_to_page(head.pfn + i)._mapcount;
        }

        if (mapped != 0)
        {
            Interlocked.Increment(ref head._refcount); // refuse: leave the page as it was
            throw new InvalidOperationException($"{function}: freeing pfn 0x{head.pfn:x} while it is still mapped (mapcount {mapped}): page_remove_rmap missing (bad_page)");
        }

        // Report after the page is back on the free list, so a throwing sink leaves no half-freed page.
        string? violation = InvalidationTwin.FreedBeforeInvalidation(head, function);
        MmRuntime.RaisePageFreeing(head);

        lock (s_zone_lock)
        {
            for (ulong i = 0; i < (1UL << order); i++)
            {
                var p = pfn_to_page_locked(head.pfn + i);
                p.flags = pageflags.PG_buddy;
                p.head = null;
                p.mapping = null;
                p.data = null;
                p.pt = null;
                p.order = 0;
                p.pending_clears = null;
            }

            ulong pfn = head.pfn;
            int o = order;
            while (o < MAX_ORDER - 1)
            {
                ulong buddy = pfn ^ (1UL << o);
                if (!s_free_area[o].Remove(buddy))
                {
                    break;
                }

                pfn = Math.Min(pfn, buddy);
                o++;
            }

            s_free_area[o].Add(pfn);
            s_nr_free += 1L << order;
        }

        if (violation is not null)
        {
            MmRuntime.Report(RuleIdentifiers.PageReleasedBeforeInvalidation, violation);
        }
    }

    private static page pfn_to_page_locked(ulong pfn) => pfn_to_page(pfn);

    private static void grow_memory()
    {
        var map = s_mem_map;
        int chunkPages = 1 << (MAX_ORDER - 1);
        ulong basePfn = FirstPfn + ((ulong)map.Length * (ulong)chunkPages);
        var chunk = new page[chunkPages];
        for (int i = 0; i < chunkPages; i++)
        {
            chunk[i] = new page(basePfn + (ulong)i);
        }

        var grown = new page[map.Length + 1][];
        Array.Copy(map, grown, map.Length);
        grown[map.Length] = chunk;
        Volatile.Write(ref s_mem_map, grown);
        s_free_area[MAX_ORDER - 1].Add(basePfn);
        s_nr_free += chunkPages;
        s_nr_total += chunkPages;
    }

    internal sealed class StrongBox<T>
    {
        public StrongBox(T value) => Value = value;

        public T Value;
    }

    private sealed class Undo : IDisposable
    {
        private Action? _undo;

        public Undo(Action undo) => _undo = undo;

        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
