using System;

namespace Kernel.Mm;

/// <summary><c>pte_t</c>: a page-table entry value (x86-64 layout: pfn in bits 12..51, flags below).</summary>
public readonly struct pte_t : IEquatable<pte_t>
{
    public readonly ulong val;

    public pte_t(ulong val) => this.val = val;

    public bool Equals(pte_t other) => val == other.val;

    public override bool Equals(object? obj) => obj is pte_t other && Equals(other);

    public override int GetHashCode() => val.GetHashCode();

    public static bool operator ==(pte_t a, pte_t b) => a.val == b.val;

    public static bool operator !=(pte_t a, pte_t b) => a.val != b.val;

    public override string ToString() => $"pte 0x{val:x}";
}

/// <summary><c>pmd_t</c>: a page-middle-directory entry value (a pte table, or a 2 MiB huge page).</summary>
public readonly struct pmd_t : IEquatable<pmd_t>
{
    public readonly ulong val;

    public pmd_t(ulong val) => this.val = val;

    public bool Equals(pmd_t other) => val == other.val;

    public override bool Equals(object? obj) => obj is pmd_t other && Equals(other);

    public override int GetHashCode() => val.GetHashCode();

    public static bool operator ==(pmd_t a, pmd_t b) => a.val == b.val;

    public static bool operator !=(pmd_t a, pmd_t b) => a.val != b.val;

    public override string ToString() => $"pmd 0x{val:x}";
}

/// <summary><c>pgprot_t</c>: page protection bits.</summary>
public readonly struct pgprot_t : IEquatable<pgprot_t>
{
    public readonly ulong val;

    public pgprot_t(ulong val) => this.val = val;

    public bool Equals(pgprot_t other) => val == other.val;

    public override bool Equals(object? obj) => obj is pgprot_t other && Equals(other);

    public override int GetHashCode() => val.GetHashCode();

    public static bool operator ==(pgprot_t a, pgprot_t b) => a.val == b.val;

    public static bool operator !=(pgprot_t a, pgprot_t b) => a.val != b.val;

    public override string ToString() => $"pgprot 0x{val:x}";
}

/// <summary><c>swp_entry_t</c>: a swap entry (type and offset).</summary>
public readonly struct swp_entry_t : IEquatable<swp_entry_t>
{
    public readonly ulong val;

    public swp_entry_t(ulong val) => this.val = val;

    public bool Equals(swp_entry_t other) => val == other.val;

    public override bool Equals(object? obj) => obj is swp_entry_t other && Equals(other);

    public override int GetHashCode() => val.GetHashCode();

    public static bool operator ==(swp_entry_t a, swp_entry_t b) => a.val == b.val;

    public static bool operator !=(swp_entry_t a, swp_entry_t b) => a.val != b.val;

    public override string ToString() => $"swp_entry 0x{val:x}";
}

/// <summary>
/// <c>gfp_t</c>: allocation flags. An enum so the values are compile-time constants: the analyzers
/// decide whether <c>kmalloc(size, flags)</c> may sleep from the flags' value
/// (<see cref="__GFP_DIRECT_RECLAIM"/> set = may sleep).
/// </summary>
[Flags]
public enum gfp_t : uint
{
    __GFP_DMA = 0x01,
    __GFP_HIGHMEM = 0x02,
    __GFP_MOVABLE = 0x08,
    __GFP_HIGH = 0x20,
    __GFP_IO = 0x40,
    __GFP_FS = 0x80,
    __GFP_ZERO = 0x100,
    __GFP_ATOMIC = 0x200,
    /// <summary>The allocation may enter direct reclaim: it may sleep.</summary>
    __GFP_DIRECT_RECLAIM = 0x400,
    __GFP_KSWAPD_RECLAIM = 0x800,
    __GFP_NOWARN = 0x2000,
    __GFP_RETRYMAYFAIL = 0x4000,
    __GFP_NOFAIL = 0x8000,
    __GFP_NORETRY = 0x10000,
    __GFP_COMP = 0x40000,
    __GFP_HARDWALL = 0x100000,
    __GFP_THISNODE = 0x200000,
}

/// <summary><c>vm_fault_t</c>: the result of a fault (<c>VM_FAULT_*</c> bits). Converts to and from
/// <see cref="int"/> so both <c>int ret; ret |= VM_FAULT_WRITE</c> (pre-4.17 code) and
/// <c>vm_fault_t ret</c> compile.</summary>
public readonly struct vm_fault_t : IEquatable<vm_fault_t>
{
    public readonly uint val;

    public vm_fault_t(uint val) => this.val = val;

    public static implicit operator vm_fault_t(int v) => new((uint)v);

    public static implicit operator int(vm_fault_t v) => (int)v.val;

    public static vm_fault_t operator |(vm_fault_t a, vm_fault_t b) => new(a.val | b.val);

    public static vm_fault_t operator &(vm_fault_t a, vm_fault_t b) => new(a.val & b.val);

    public static bool operator ==(vm_fault_t a, vm_fault_t b) => a.val == b.val;

    public static bool operator !=(vm_fault_t a, vm_fault_t b) => a.val != b.val;

    public bool Equals(vm_fault_t other) => val == other.val;

    public override bool Equals(object? obj) => obj is vm_fault_t other && Equals(other);

    public override int GetHashCode() => val.GetHashCode();

    public override string ToString() => $"vm_fault 0x{val:x}";
}
