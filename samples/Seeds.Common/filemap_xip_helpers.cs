using System.Collections.Generic;
using System.Threading;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace Seeds.Common;

/// <summary>
/// <c>struct address_space</c>, as much of it as __xip_unmap reads: the i_mmap tree of the
/// vmas that map the file (a list here: vma_prio_tree_foreach filters it) and its mutex.
/// </summary>
public sealed class address_space
{
    public readonly mutex i_mmap_mutex = new("mapping->i_mmap_mutex");
    public readonly List<vm_area_struct> i_mmap = new();
}

/// <summary>include/linux/seqlock.h: <c>seqcount_t</c>.</summary>
public sealed class seqcount_t
{
    internal int sequence;
}

public static partial class kernel
{
    /// <summary>mm/filemap_xip.c: the zeroed page mapped read-only into every hole of an XIP
    /// file. Set by the code that faults it in (tests); null until then.</summary>
    public static page? __xip_sparse_page;

    public static readonly seqcount_t xip_sparse_seq = new();

    public static readonly mutex xip_sparse_mutex = new("xip_sparse_mutex");

    public static uint read_seqcount_begin(seqcount_t s)
    {
        int ret;
        var spin = new SpinWait();
        while (((ret = Volatile.Read(ref s.sequence)) & 1) != 0)
            spin.SpinOnce();
        Interlocked.MemoryBarrier(); /* smp_rmb() */
        return (uint)ret;
    }

    public static bool read_seqcount_retry(seqcount_t s, uint start)
    {
        Interlocked.MemoryBarrier(); /* smp_rmb() */
        return (uint)Volatile.Read(ref s.sequence) != start;
    }

    public static void write_seqcount_begin(seqcount_t s) => Interlocked.Increment(ref s.sequence);

    public static void write_seqcount_end(seqcount_t s) => Interlocked.Increment(ref s.sequence);

    /// <summary>vma_prio_tree_foreach(): the vmas of <paramref name="mapping"/> that map a page
    /// offset in [first, last].</summary>
    public static IEnumerable<vm_area_struct> vma_prio_tree_foreach(address_space mapping, ulong first, ulong last)
    {
        foreach (vm_area_struct vma in mapping.i_mmap.ToArray())
        {
            ulong vma_last = vma.vm_pgoff + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT) - 1;
            if (vma.vm_pgoff <= last && vma_last >= first)
                yield return vma;
        }
    }

    /// <summary>
    /// vm_insert_page() as xip_file_fault used it for the sparse page: a reference and a file
    /// rmap for the new mapping, the pte set under the PT lock. Returns 0 or -EBUSY.
    /// </summary>
    public static int vm_insert_page(vm_area_struct vma, ulong addr, page page)
    {
        mm_struct mm = vma.vm_mm;
        pmd_ptr pmd = pmd_alloc(mm, addr);
        if (pte_alloc(mm, pmd) != 0)
            return -ENOMEM;
        pte_ptr pte = pte_offset_map_lock(mm, pmd, addr, out spinlock_t ptl);
        if (!pte_none(ptep_get(pte)))
        {
            pte_unmap_unlock(pte, ptl);
            return -EBUSY;
        }

        /* Ok, finally just insert the thing.. */
        get_page(page);
        inc_mm_counter(mm, MM_FILEPAGES);
        page_dup_rmap(page, false); /* page_add_file_rmap(): Kernel.Mm's rmap counts it the same */
        set_pte_at(mm, addr, pte, mk_pte(page, PAGE_READONLY));
        pte_unmap_unlock(pte, ptl);
        return 0;
    }
}
