using System;
using System.Threading;

namespace Kernel.Mm;

/// <summary>A page-table page at some level (pgd, pud, pmd, pte): 512 entries, backed by a page
/// from the allocator. Pte tables carry their split PTE lock.</summary>
internal sealed class pt_table
{
    internal const int PTRS = 512;

    internal readonly ulong[] entries = new ulong[PTRS];
    internal readonly int level;           // 4 pgd, 3 pud, 2 pmd, 1 pte
    internal readonly page page;
    internal readonly spinlock_t? ptl;      // pte tables only (USE_SPLIT_PTE_PTLOCKS)
    internal readonly mm_struct mm;
    internal readonly ulong base_address;  // first virtual address this table maps

    internal pt_table(mm_struct mm, int level, page page, ulong base_address)
    {
        this.mm = mm;
        this.level = level;
        this.page = page;
        this.base_address = base_address;
        if (level == 1)
        {
            ptl = new spinlock_t("ptl");
        }
    }

    internal ulong read(int i) => Volatile.Read(ref entries[i]);

    internal void write(int i, ulong v) => Volatile.Write(ref entries[i], v);

    internal ulong exchange(int i, ulong v) => Interlocked.Exchange(ref entries[i], v);

    /// <summary>Bytes covered by one entry of this table.</summary>
    internal ulong entry_size => level switch
    {
        1 => 1UL << 12,
        2 => 1UL << 21,
        3 => 1UL << 30,
        _ => 1UL << 39,
    };

    internal ulong address_of(int i) => base_address + ((ulong)i * entry_size);
}

/// <summary><c>pte_t *</c>: a slot in a page table. Supports the kernel's pointer arithmetic within
/// its table (<c>pte + 1</c>, <c>pte++</c>, <c>pte - 1</c>).</summary>
public sealed class pte_ptr : IEquatable<pte_ptr>
{
    internal readonly pt_table table;
    internal readonly int index;

    internal pte_ptr(pt_table table, int index)
    {
        if ((uint)index >= pt_table.PTRS)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, "pte_ptr: pointer arithmetic left its page table");
        }

        this.table = table;
        this.index = index;
    }

    /// <summary>The virtual address this slot maps.</summary>
    public ulong Address => table.address_of(index);

    public static pte_ptr operator +(pte_ptr p, int n) => new(p.table, p.index + n);

    public static pte_ptr operator -(pte_ptr p, int n) => new(p.table, p.index - n);

    public static pte_ptr operator ++(pte_ptr p) => new(p.table, p.index + 1);

    public static pte_ptr operator --(pte_ptr p) => new(p.table, p.index - 1);

    public bool Equals(pte_ptr? other) => other is not null && ReferenceEquals(table, other.table) && index == other.index;

    public override bool Equals(object? obj) => obj is pte_ptr other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(table, index);

    public static bool operator ==(pte_ptr? a, pte_ptr? b) => a is null ? b is null : a.Equals(b);

    public static bool operator !=(pte_ptr? a, pte_ptr? b) => !(a == b);

    public override string ToString() => $"pte_ptr(0x{Address:x})";
}

/// <summary><c>pmd_t *</c>: a slot in a pmd table.</summary>
public sealed class pmd_ptr : IEquatable<pmd_ptr>
{
    internal readonly pt_table table;
    internal readonly int index;

    internal pmd_ptr(pt_table table, int index)
    {
        this.table = table;
        this.index = index;
    }

    /// <summary>The first virtual address this slot maps (2 MiB aligned).</summary>
    public ulong Address => table.address_of(index);

    public bool Equals(pmd_ptr? other) => other is not null && ReferenceEquals(table, other.table) && index == other.index;

    public override bool Equals(object? obj) => obj is pmd_ptr other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(table, index);

    public static bool operator ==(pmd_ptr? a, pmd_ptr? b) => a is null ? b is null : a.Equals(b);

    public static bool operator !=(pmd_ptr? a, pmd_ptr? b) => !(a == b);

    public override string ToString() => $"pmd_ptr(0x{Address:x})";
}
