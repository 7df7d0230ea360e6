using System;
using System.Collections.Generic;
using System.Threading;

namespace Kernel.Mm;

/// <summary>
/// <c>struct page</c>: one physical page frame. Pages are owned by the global allocator
/// (<c>alloc_pages</c>): a page whose refcount reaches zero goes back to the free list and is
/// handed out again. Compound pages (THP, hugetlb) have a head carrying the order and the
/// refcount; tails point at it.
/// </summary>
public sealed class page
{
    internal readonly ulong pfn;
    internal int _refcount;             // 0 on free pages; compound: only the head's counts
    internal int _mapcount;             // PTE mappings of this page (0-based, unlike the kernel's -1)
    internal int compound_mapcount;     // head only: PMD mappings of the whole compound page
    internal int order;                 // head only
    internal page? head;                // tails: the head; null otherwise
    internal pageflags flags;
    internal object? mapping;           // anon_vma for anonymous pages
    internal byte[]? data;
    internal pt_table? pt;              // set while the page is a page-table page
    internal List<pte_clear_record>? pending_clears; // head only: cleared PTEs not yet invalidated (MMU010)

    internal page(ulong pfn)
    {
        this.pfn = pfn;
        flags = pageflags.PG_buddy;
    }

    /// <summary>The page's offset in its mapping (for anonymous pages: the linear page index).</summary>
    public ulong index;

    /// <summary>A driver's private word (<c>page->private</c>).</summary>
    public ulong @private;

    /// <summary>The page frame number.</summary>
    public ulong Pfn => pfn;

    /// <summary>The current reference count (of the head, for a compound page).</summary>
    public int RefCount => Volatile.Read(ref (head ?? this)._refcount);

    /// <summary>Number of mappings (PTE mappings of this page plus PMD mappings of its compound head).</summary>
    public int MapCount => Volatile.Read(ref _mapcount) + Volatile.Read(ref (head ?? this).compound_mapcount);

    /// <summary>True while the page is on the free list.</summary>
    public bool IsFree => (flags & pageflags.PG_buddy) != 0;

    public override string ToString() => $"page pfn 0x{pfn:x}";
}

[Flags]
internal enum pageflags : uint
{
    PG_locked = 1 << 0,
    PG_referenced = 1 << 1,
    PG_uptodate = 1 << 2,
    PG_dirty = 1 << 3,
    PG_lru = 1 << 4,
    PG_head = 1 << 5,
    PG_tail = 1 << 6,
    PG_anon = 1 << 7,
    PG_huge = 1 << 8,          // hugetlbfs page
    PG_table = 1 << 9,
    PG_buddy = 1 << 10,        // on the free list
    PG_swapbacked = 1 << 11,
    PG_reserved = 1 << 12,
}
