using System;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/rmap.h, mm/rmap.c, include/linux/page-flags.h
public static partial class Linux
{
    // Flag updates of a page in use take the page's monitor (as trylock_page does) so concurrent
    // updates of different bits are not lost.
    internal static void set_page_flags(page page, pageflags f)
    {
        lock (page)
        {
            page.flags |= f;
        }
    }

    internal static void clear_page_flags(page page, pageflags f)
    {
        lock (page)
        {
            page.flags &= ~f;
        }
    }

    public static int compound_order(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.head is null && (page.flags & pageflags.PG_head) != 0 ? page.order : 0;
    }

    public static ulong compound_nr(page page) => 1UL << compound_order(page);

    public static bool PageHead(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return (page.flags & pageflags.PG_head) != 0;
    }

    public static bool PageTail(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.head is not null;
    }

    public static bool PageCompound(page page) => PageHead(page) || PageTail(page);

    public static bool PageAnon(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return ((page.head ?? page).flags & pageflags.PG_anon) != 0;
    }

    public static bool PageDirty(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return (page.flags & pageflags.PG_dirty) != 0;
    }

    public static void SetPageDirty(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        set_page_flags(page, pageflags.PG_dirty);
    }

    public static int set_page_dirty(page page)
    {
        bool was = PageDirty(page);
        SetPageDirty(page);
        return was ? 0 : 1;
    }

    public static bool PageUptodate(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return ((page.head ?? page).flags & pageflags.PG_uptodate) != 0;
    }

    public static void __SetPageUptodate(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        set_page_flags(page, pageflags.PG_uptodate);
    }

    public static bool PageLocked(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return ((page.head ?? page).flags & pageflags.PG_locked) != 0;
    }

    /// <summary>Locks the page (sleeps while another thread holds it).</summary>
    [MaySleep]
    public static void lock_page(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        might_sleep_in(nameof(lock_page));
        var head = page.head ?? page;
        var spin = new SpinWait();
        while (!trylock_page(head))
        {
            spin.SpinOnce();
        }
    }

    [NeverSleeps]
    public static bool trylock_page(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        var head = page.head ?? page;
        lock (head)
        {
            if ((head.flags & pageflags.PG_locked) != 0)
            {
                return false;
            }

            head.flags |= pageflags.PG_locked;
            return true;
        }
    }

    [NeverSleeps]
    public static void unlock_page(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        var head = page.head ?? page;
        lock (head)
        {
            if ((head.flags & pageflags.PG_locked) == 0)
            {
                throw new InvalidOperationException($"unlock_page: pfn 0x{head.pfn:x} is not locked");
            }

            head.flags &= ~pageflags.PG_locked;
        }
    }

    /// <summary>Mappings of this page: its PTE mappings plus PMD mappings of its compound page.</summary>
    public static int page_mapcount(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return Volatile.Read(ref page._mapcount) + Volatile.Read(ref (page.head ?? page).compound_mapcount);
    }

    /// <summary>Mappings of a whole compound page (every subpage's PTE mappings plus PMD mappings).</summary>
    public static int total_mapcount(page page)
    {
        var head = compound_head(page);
        int n = Volatile.Read(ref head.compound_mapcount);
        int nr = 1 << compound_order(head);
        for (int i = 0; i < nr; i++)
        {
            n += Volatile.Read(ref pfn_to_page(head.pfn + (ulong)i)._mapcount);
        }

        return n;
    }

    public static bool page_mapped(page page) => total_mapcount(page) > 0;

    /// <summary>
    /// Adds the first mapping of a new anonymous page at <paramref name="address"/> of
    /// <paramref name="vma"/> (<paramref name="compound"/>: the whole THP/hugetlb page by a PMD).
    /// </summary>
    public static void page_add_new_anon_rmap(page page, vm_area_struct vma, ulong address, bool compound = false)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(vma);
        check_in_vma(vma, address, nameof(page_add_new_anon_rmap));
        if (vma.anon_vma is null)
        {
            __anon_vma_prepare(vma); // the kernel requires it prepared; do not sleep under the PT lock
        }

        if (compound)
        {
            if (!PageHead(page))
            {
                throw new ArgumentException($"page_add_new_anon_rmap: compound mapping of pfn 0x{page.pfn:x}, which is not a compound head", nameof(page));
            }

            if (page.compound_mapcount != 0)
            {
                throw new InvalidOperationException($"page_add_new_anon_rmap: pfn 0x{page.pfn:x} is already mapped");
            }

            page.compound_mapcount = 1;
        }
        else
        {
            if (page._mapcount != 0)
            {
                throw new InvalidOperationException($"page_add_new_anon_rmap: pfn 0x{page.pfn:x} is already mapped");
            }

            page._mapcount = 1;
        }

        __page_set_anon_rmap(page, vma, address);
    }

    /// <summary>Adds a mapping of an anonymous page that is already in <paramref name="vma"/>'s anon_vma.</summary>
    public static void page_add_anon_rmap(page page, vm_area_struct vma, ulong address, bool compound = false)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(vma);
        page_dup_rmap(page, compound);
        if (page.mapping is null)
        {
            __page_set_anon_rmap(page, vma, address);
        }
    }

    /// <summary>One more mapping of an already mapped page (fork).</summary>
    public static void page_dup_rmap(page page, bool compound)
    {
        ArgumentNullException.ThrowIfNull(page);
        if (compound)
        {
            Interlocked.Increment(ref compound_head(page).compound_mapcount);
        }
        else
        {
            Interlocked.Increment(ref page._mapcount);
        }
    }

    /// <summary>Removes one mapping (a PTE mapping, or with <paramref name="compound"/> a PMD mapping
    /// of the whole compound page). Going below zero throws.</summary>
    public static void page_remove_rmap(page page, bool compound = false)
    {
        ArgumentNullException.ThrowIfNull(page);
        if (compound)
        {
            if (!PageHead(page))
            {
                throw new ArgumentException($"page_remove_rmap: compound unmap of pfn 0x{page.pfn:x}, which is not a compound head", nameof(page));
            }

            if (Interlocked.Decrement(ref page.compound_mapcount) < 0)
            {
                Interlocked.Increment(ref page.compound_mapcount);
                throw new InvalidOperationException($"page_remove_rmap: pfn 0x{page.pfn:x} is not PMD-mapped (compound mapcount would go negative)");
            }

            return;
        }

        if (Interlocked.Decrement(ref page._mapcount) < 0)
        {
            Interlocked.Increment(ref page._mapcount);
            throw new InvalidOperationException($"page_remove_rmap: pfn 0x{page.pfn:x} is not mapped (mapcount would go negative)");
        }
    }

    private static void __page_set_anon_rmap(page page, vm_area_struct vma, ulong address)
    {
        var head = page.head ?? page;
        head.mapping = vma.anon_vma;
        set_page_flags(head, pageflags.PG_anon | pageflags.PG_swapbacked);
        head.index = linear_page_index(vma, address) - (page.pfn - head.pfn);
        if (!ReferenceEquals(head, page))
        {
            page.index = linear_page_index(vma, address);
        }
    }

    /// <summary>The anon_vma of an anonymous page, or null.</summary>
    public static anon_vma? page_anon_vma(page page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return compound_head(page).mapping as anon_vma;
    }

    /// <summary>The address at which <paramref name="page"/> would be mapped in <paramref name="vma"/>
    /// (may be outside the vma: check it).</summary>
    public static ulong vma_address(page page, vm_area_struct vma)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(vma);
        var head = compound_head(page);
        ulong pgoff = head.index + (page.pfn - head.pfn);
        return vma.vm_start + ((pgoff - vma.vm_pgoff) << PAGE_SHIFT);
    }

    /// <summary>
    /// rmap_walk: calls <paramref name="rmap_one"/>(page, vma, address) for every vma of the page's
    /// anon_vma whose range contains the page's address, under the anon_vma lock (read), until it
    /// returns false. As in the kernel, the callback verifies the mapping itself
    /// (<c>page_check_address</c>, <c>page_vma_mapped_walk</c>): the walk only finds candidates.
    /// Sleeps (takes the anon_vma rwsem).
    /// </summary>
    [MaySleep]
    public static void rmap_walk(page page, Func<page, vm_area_struct, ulong, bool> rmap_one)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(rmap_one);
        var av = page_anon_vma(page);
        if (av is null)
        {
            return;
        }

        down_read(av.rwsem);
        try
        {
            foreach (var vma in av.Vmas)
            {
                ulong address = vma_address(page, vma);
                if (address < vma.vm_start || address >= vma.vm_end)
                {
                    continue;
                }

                if (!rmap_one(page, vma, address))
                {
                    break;
                }
            }
        }
        finally
        {
            up_read(av.rwsem);
        }
    }

    [MaySleep]
    public static void anon_vma_lock_read(anon_vma anon_vma)
    {
        ArgumentNullException.ThrowIfNull(anon_vma);
        down_read(anon_vma.rwsem);
    }

    [NeverSleeps]
    public static void anon_vma_unlock_read(anon_vma anon_vma)
    {
        ArgumentNullException.ThrowIfNull(anon_vma);
        up_read(anon_vma.rwsem);
    }

    [MaySleep]
    public static void anon_vma_lock_write(anon_vma anon_vma)
    {
        ArgumentNullException.ThrowIfNull(anon_vma);
        down_write(anon_vma.rwsem);
    }

    [NeverSleeps]
    public static void anon_vma_unlock_write(anon_vma anon_vma)
    {
        ArgumentNullException.ThrowIfNull(anon_vma);
        up_write(anon_vma.rwsem);
    }
}
