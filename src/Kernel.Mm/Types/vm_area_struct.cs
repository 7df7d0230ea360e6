using System.Collections.Generic;

namespace Kernel.Mm;

/// <summary><c>struct vm_area_struct</c>: a mapping [vm_start, vm_end) of an mm. Fields are
/// settable, as in C; <c>vm_area_alloc</c> sets <see cref="vm_mm"/>.</summary>
public sealed class vm_area_struct
{
    internal vm_area_struct(mm_struct mm)
    {
        vm_mm = mm;
    }

    public mm_struct vm_mm;
    public ulong vm_start;
    public ulong vm_end;
    public ulong vm_flags;
    public pgprot_t vm_page_prot;
    /// <summary>Offset of vm_start in the mapping, in pages (anonymous: vm_start &gt;&gt; PAGE_SHIFT).</summary>
    public ulong vm_pgoff;
    public anon_vma? anon_vma;
    public object? vm_private_data;

    internal bool inserted;

    public override string ToString() => $"vma [0x{vm_start:x}, 0x{vm_end:x}) flags 0x{vm_flags:x}";
}

/// <summary><c>struct anon_vma</c>: the reverse map of anonymous pages: every vma (of every mm
/// forked from the same parent) an anonymous page may be mapped in.</summary>
public sealed class anon_vma
{
    internal readonly List<vm_area_struct> vmas = new();

    /// <summary>The lock rmap walks hold for read (<c>anon_vma->rwsem</c>).</summary>
    public readonly rw_semaphore rwsem = new("anon_vma->rwsem");

    /// <summary>A snapshot of the vmas on this anon_vma.</summary>
    public IReadOnlyList<vm_area_struct> Vmas
    {
        get
        {
            lock (vmas)
            {
                return vmas.ToArray();
            }
        }
    }
}

/// <summary><c>struct hstate</c>: a hugetlb page size.</summary>
public sealed class hstate
{
    internal hstate(int order) => this.order = order;

    public readonly int order;

    public override string ToString() => $"hstate {(4UL << order)} KiB";
}
