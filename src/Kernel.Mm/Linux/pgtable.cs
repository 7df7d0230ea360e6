using System;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/pgtable.h (asm-generic/pgtable.h), arch/x86/include/asm/pgtable*.h, mm/pgtable-generic.c
public static partial class Linux
{
    public const int PTRS_PER_PTE = 512;
    public const int PTRS_PER_PMD = 512;
    public const int PTRS_PER_PUD = 512;
    public const int PTRS_PER_PGD = 512;
    public const int PMD_SHIFT = 21;
    public const int PUD_SHIFT = 30;
    public const int PGDIR_SHIFT = 39;
    public const ulong PMD_SIZE = 1UL << PMD_SHIFT;
    public const ulong PMD_MASK = ~(PMD_SIZE - 1);
    public const ulong PUD_SIZE = 1UL << PUD_SHIFT;
    public const ulong PGDIR_SIZE = 1UL << PGDIR_SHIFT;
    /// <summary>Top of the user address space (47 bits).</summary>
    public const ulong TASK_SIZE = 1UL << 47;

    public const ulong _PAGE_PRESENT = 1UL << 0;
    public const ulong _PAGE_RW = 1UL << 1;
    public const ulong _PAGE_USER = 1UL << 2;
    public const ulong _PAGE_ACCESSED = 1UL << 5;
    public const ulong _PAGE_DIRTY = 1UL << 6;
    public const ulong _PAGE_PSE = 1UL << 7;
    public const ulong _PAGE_SPECIAL = 1UL << 9;
    /// <summary>2012 THP: the pmd is being split (pmdp_splitting_flush).</summary>
    public const ulong _PAGE_SPLITTING = 1UL << 10;
    public const ulong _PAGE_NX = 1UL << 63;
    public const ulong PTE_PFN_MASK = ((1UL << 52) - 1) & PAGE_MASK;
    private const ulong _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

    public static readonly pgprot_t PAGE_NONE = new(0);
    public static readonly pgprot_t PAGE_READONLY = new(_PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED);
    public static readonly pgprot_t PAGE_COPY = PAGE_READONLY;
    public static readonly pgprot_t PAGE_SHARED = new(_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED);

    // ---- entry values ----------------------------------------------------------------------

    public static pte_t __pte(ulong val) => new(val);

    public static ulong pte_val(pte_t pte) => pte.val;

    public static pmd_t __pmd(ulong val) => new(val);

    public static ulong pmd_val(pmd_t pmd) => pmd.val;

    public static pgprot_t __pgprot(ulong val) => new(val);

    public static ulong pgprot_val(pgprot_t prot) => prot.val;

    public static bool pte_present(pte_t pte) => (pte.val & _PAGE_PRESENT) != 0;

    public static bool pte_none(pte_t pte) => pte.val == 0;

    public static bool pte_dirty(pte_t pte) => (pte.val & _PAGE_DIRTY) != 0;

    public static bool pte_write(pte_t pte) => (pte.val & _PAGE_RW) != 0;

    public static bool pte_young(pte_t pte) => (pte.val & _PAGE_ACCESSED) != 0;

    public static bool pte_special(pte_t pte) => (pte.val & _PAGE_SPECIAL) != 0;

    public static ulong pte_pfn(pte_t pte) => (pte.val & PTE_PFN_MASK) >> PAGE_SHIFT;

    public static pte_t pte_wrprotect(pte_t pte) => new(pte.val & ~_PAGE_RW);

    public static pte_t pte_mkclean(pte_t pte) => new(pte.val & ~_PAGE_DIRTY);

    public static pte_t pte_mkdirty(pte_t pte) => new(pte.val | _PAGE_DIRTY);

    public static pte_t pte_mkwrite(pte_t pte) => new(pte.val | _PAGE_RW);

    public static pte_t pte_mkold(pte_t pte) => new(pte.val & ~_PAGE_ACCESSED);

    public static pte_t pte_mkyoung(pte_t pte) => new(pte.val | _PAGE_ACCESSED);

    public static pte_t pte_mkspecial(pte_t pte) => new(pte.val | _PAGE_SPECIAL);

    public static pte_t pte_mkhuge(pte_t pte) => new(pte.val | _PAGE_PSE);

    public static pte_t pte_modify(pte_t pte, pgprot_t prot) => new((pte.val & PTE_PFN_MASK) | prot.val);

    public static bool pte_same(pte_t a, pte_t b) => a.val == b.val;

    public static pte_t pfn_pte(ulong pfn, pgprot_t prot) => new((pfn << PAGE_SHIFT) & PTE_PFN_MASK | prot.val);

    public static pte_t mk_pte(page page, pgprot_t prot)
    {
        ArgumentNullException.ThrowIfNull(page);
        return pfn_pte(page.pfn, prot);
    }

    /// <summary>The page a present PTE maps.</summary>
    public static page pte_page(pte_t pte)
    {
        if (!pte_present(pte))
        {
            throw new ArgumentException($"pte_page: {pte} is not present", nameof(pte));
        }

        return pfn_to_page(pte_pfn(pte));
    }

    /// <summary>The page a PTE maps, or null (not present / special): vm_normal_page.</summary>
    public static page? vm_normal_page(vm_area_struct vma, ulong addr, pte_t pte)
    {
        if (!pte_present(pte) || pte_special(pte) || !pfn_valid(pte_pfn(pte)))
        {
            return null;
        }

        return pfn_to_page(pte_pfn(pte));
    }

    public static bool pmd_present(pmd_t pmd) => (pmd.val & _PAGE_PRESENT) != 0;

    public static bool pmd_none(pmd_t pmd) => pmd.val == 0;

    public static bool pmd_same(pmd_t a, pmd_t b) => a.val == b.val;

    /// <summary>True for a pmd that maps a 2 MiB page (THP or hugetlb) rather than a pte table.</summary>
    public static bool pmd_trans_huge(pmd_t pmd) => (pmd.val & (_PAGE_PRESENT | _PAGE_PSE)) == (_PAGE_PRESENT | _PAGE_PSE);

    public static bool pmd_huge(pmd_t pmd) => pmd_trans_huge(pmd);

    public static bool pmd_trans_splitting(pmd_t pmd) => (pmd.val & _PAGE_SPLITTING) != 0;

    public static bool pmd_write(pmd_t pmd) => (pmd.val & _PAGE_RW) != 0;

    public static bool pmd_dirty(pmd_t pmd) => (pmd.val & _PAGE_DIRTY) != 0;

    public static bool pmd_young(pmd_t pmd) => (pmd.val & _PAGE_ACCESSED) != 0;

    public static ulong pmd_pfn(pmd_t pmd) => (pmd.val & PTE_PFN_MASK) >> PAGE_SHIFT;

    public static pmd_t mk_pmd(page page, pgprot_t prot)
    {
        ArgumentNullException.ThrowIfNull(page);
        return new((page.pfn << PAGE_SHIFT) | prot.val);
    }

    public static pmd_t pmd_mkhuge(pmd_t pmd) => new(pmd.val | _PAGE_PSE);

    public static pmd_t pmd_mkdirty(pmd_t pmd) => new(pmd.val | _PAGE_DIRTY);

    public static pmd_t pmd_mkwrite(pmd_t pmd) => new(pmd.val | _PAGE_RW);

    public static pmd_t pmd_mkyoung(pmd_t pmd) => new(pmd.val | _PAGE_ACCESSED);

    public static pmd_t pmd_mkold(pmd_t pmd) => new(pmd.val & ~_PAGE_ACCESSED);

    public static pmd_t pmd_wrprotect(pmd_t pmd) => new(pmd.val & ~_PAGE_RW);

    public static pmd_t pmd_mksplitting(pmd_t pmd) => new(pmd.val | _PAGE_SPLITTING);

    /// <summary>The (head) page a huge pmd maps.</summary>
    public static page pmd_page(pmd_t pmd)
    {
        if (!pmd_present(pmd))
        {
            throw new ArgumentException($"pmd_page: {pmd} is not present", nameof(pmd));
        }

        return pfn_to_page(pmd_pfn(pmd));
    }

    /// <summary>The 2 MiB pmd prot of a vma (huge pages of it).</summary>
    public static pmd_t maybe_pmd_mkwrite(pmd_t pmd, vm_area_struct vma) =>
        (vma.vm_flags & VM_WRITE) != 0 ? pmd_mkwrite(pmd) : pmd;

    public static pte_t maybe_mkwrite(pte_t pte, vm_area_struct vma) =>
        (vma.vm_flags & VM_WRITE) != 0 ? pte_mkwrite(pte) : pte;

    public static ulong pmd_addr_end(ulong addr, ulong end)
    {
        ulong boundary = (addr + PMD_SIZE) & PMD_MASK;
        return boundary - 1 < end - 1 ? boundary : end;
    }

    // ---- reading and writing slots -----------------------------------------------------------

    public static pte_t ptep_get(pte_ptr ptep)
    {
        ArgumentNullException.ThrowIfNull(ptep);
        return new(ptep.table.read(ptep.index));
    }

    public static pmd_t pmdp_get(pmd_ptr pmdp)
    {
        ArgumentNullException.ThrowIfNull(pmdp);
        return new(pmdp.table.read(pmdp.index));
    }

    /// <summary>Writes a PTE. Replacing a present PTE that mapped another page counts as clearing it
    /// (MMU010 bookkeeping); replacing or downgrading one outside start/end is MMU013.</summary>
    [NeverSleeps]
    public static void set_pte_at(mm_struct mm, ulong address, pte_ptr ptep, pte_t pte) =>
        set_pte_at_as(mm, address, ptep, pte, notified: false, nameof(set_pte_at));

    internal static void set_pte_at_as(mm_struct mm, ulong address, pte_ptr ptep, pte_t pte, bool notified, string function)
    {
        check_slot(mm, address, ptep, function);
        var old = new pte_t(ptep.table.exchange(ptep.index, pte.val));
        if (pte_present(old) && pte_table_reachable(mm, ptep.table))
        {
            bool cleared = !pte_present(pte) || pte_pfn(pte) != pte_pfn(old);
            if (cleared || entry_downgraded(old.val, pte.val))
            {
                InvalidationTwin.EntryChanged(mm, address & PAGE_MASK, PAGE_SIZE, old, cleared, notified, function);
            }
        }
    }

    [NeverSleeps]
    public static void set_pmd_at(mm_struct mm, ulong haddr, pmd_ptr pmdp, pmd_t pmd)
    {
        check_pmd_slot(mm, haddr, pmdp, nameof(set_pmd_at));
        var old = new pmd_t(pmdp.table.exchange(pmdp.index, pmd.val));
        if (pmd_trans_huge(old))
        {
            bool cleared = !pmd_present(pmd) || pmd_pfn(pmd) != pmd_pfn(old);
            if (cleared || entry_downgraded(old.val, pmd.val))
            {
                InvalidationTwin.EntryChanged(mm, haddr, HPAGE_PMD_SIZE, new pte_t(old.val), cleared, notified: false, nameof(set_pmd_at));
            }
        }
    }

    /// <summary>Clears a PTE and returns its old value (no TLB flush).</summary>
    [NeverSleeps]
    public static pte_t ptep_get_and_clear(mm_struct mm, ulong address, pte_ptr ptep) =>
        ptep_get_and_clear_as(mm, address, ptep, notified: false, nameof(ptep_get_and_clear));

    internal static pte_t ptep_get_and_clear_as(mm_struct mm, ulong address, pte_ptr ptep, bool notified, string function)
    {
        check_slot(mm, address, ptep, function);
        var old = new pte_t(ptep.table.exchange(ptep.index, 0));
        if (pte_present(old) && pte_table_reachable(mm, ptep.table))
        {
            InvalidationTwin.EntryChanged(mm, address & PAGE_MASK, PAGE_SIZE, old, cleared: true, notified, function);
        }

        return old;
    }

    [NeverSleeps]
    public static void pte_clear(mm_struct mm, ulong address, pte_ptr ptep) => ptep_get_and_clear_as(mm, address, ptep, notified: false, nameof(pte_clear));

    /// <summary>Clears a PTE and flushes the CPU TLB for it; returns the old value. Secondary MMUs
    /// are NOT told: bracket with start/end, or use <see cref="ptep_clear_flush_notify"/>.</summary>
    [NeverSleeps]
    public static pte_t ptep_clear_flush(vm_area_struct vma, ulong address, pte_ptr ptep) =>
        ptep_clear_flush_as(vma, address, ptep, notified: false, nameof(ptep_clear_flush));

    internal static pte_t ptep_clear_flush_as(vm_area_struct vma, ulong address, pte_ptr ptep, bool notified, string function)
    {
        ArgumentNullException.ThrowIfNull(vma);
        check_in_vma(vma, address, function);
        var old = ptep_get_and_clear_as(vma.vm_mm, address, ptep, notified, function);
        if (pte_present(old))
        {
            flush_tlb_page(vma, address);
        }

        return old;
    }

    /// <summary>Tests and clears the accessed bit; returns 1 if it was set.</summary>
    [NeverSleeps]
    public static int ptep_clear_flush_young(vm_area_struct vma, ulong address, pte_ptr ptep)
    {
        ArgumentNullException.ThrowIfNull(vma);
        check_slot(vma.vm_mm, address, ptep, nameof(ptep_clear_flush_young));
        while (true)
        {
            ulong old = ptep.table.read(ptep.index);
            if ((old & _PAGE_ACCESSED) == 0)
            {
                return 0;
            }

            if (System.Threading.Interlocked.CompareExchange(ref ptep.table.entries[ptep.index], old & ~_PAGE_ACCESSED, old) == old)
            {
                flush_tlb_page(vma, address);
                return 1;
            }
        }
    }

    /// <summary>Write-protects a PTE in place (fork's COW setup).</summary>
    [NeverSleeps]
    public static void ptep_set_wrprotect(mm_struct mm, ulong address, pte_ptr ptep)
    {
        check_slot(mm, address, ptep, nameof(ptep_set_wrprotect));
        while (true)
        {
            ulong old = ptep.table.read(ptep.index);
            if (System.Threading.Interlocked.CompareExchange(ref ptep.table.entries[ptep.index], old & ~_PAGE_RW, old) == old)
            {
                if ((old & (_PAGE_PRESENT | _PAGE_RW)) == (_PAGE_PRESENT | _PAGE_RW))
                {
                    InvalidationTwin.EntryChanged(mm, address & PAGE_MASK, PAGE_SIZE, new pte_t(old), cleared: false, notified: false, nameof(ptep_set_wrprotect));
                }

                return;
            }
        }
    }

    /// <summary>Upgrades access bits of a PTE (same page): no invalidation is needed.</summary>
    [NeverSleeps]
    public static int ptep_set_access_flags(vm_area_struct vma, ulong address, pte_ptr ptep, pte_t entry, int dirty)
    {
        ArgumentNullException.ThrowIfNull(vma);
        check_slot(vma.vm_mm, address, ptep, nameof(ptep_set_access_flags));
        ulong old = ptep.table.read(ptep.index);
        if (pte_pfn(new pte_t(old)) != pte_pfn(entry) && pte_present(new pte_t(old)))
        {
            throw new ArgumentException($"ptep_set_access_flags: entry maps pfn 0x{pte_pfn(entry):x}, the PTE at 0x{address:x} maps 0x{pte_pfn(new pte_t(old)):x}", nameof(entry));
        }

        if (old == entry.val)
        {
            return 0;
        }

        ptep.table.write(ptep.index, entry.val);
        flush_tlb_page(vma, address);
        return 1;
    }

    /// <summary>Clears a huge pmd and flushes; returns the old value (2012 name).</summary>
    [NeverSleeps]
    public static pmd_t pmdp_clear_flush(vm_area_struct vma, ulong haddr, pmd_ptr pmdp) =>
        pmdp_huge_clear_flush_as(vma, haddr, pmdp, notified: false, nameof(pmdp_clear_flush));

    /// <summary>Clears a huge pmd and flushes; returns the old value (4.x name). Secondary MMUs are
    /// not told: bracket with start/end or use <see cref="pmdp_huge_clear_flush_notify"/>.</summary>
    [NeverSleeps]
    public static pmd_t pmdp_huge_clear_flush(vm_area_struct vma, ulong haddr, pmd_ptr pmdp) =>
        pmdp_huge_clear_flush_as(vma, haddr, pmdp, notified: false, nameof(pmdp_huge_clear_flush));

    [NeverSleeps]
    public static pmd_t pmdp_huge_get_and_clear(mm_struct mm, ulong haddr, pmd_ptr pmdp)
    {
        check_pmd_slot(mm, haddr, pmdp, nameof(pmdp_huge_get_and_clear));
        if ((haddr & ~HPAGE_PMD_MASK) != 0)
        {
            throw new ArgumentException($"pmdp_huge_get_and_clear: address 0x{haddr:x} is not aligned to HPAGE_PMD_SIZE", nameof(haddr));
        }

        var old = new pmd_t(pmdp.table.exchange(pmdp.index, 0));
        if (pmd_trans_huge(old))
        {
            InvalidationTwin.EntryChanged(mm, haddr, HPAGE_PMD_SIZE, new pte_t(old.val), cleared: true, notified: false, nameof(pmdp_huge_get_and_clear));
        }

        return old;
    }

    private static pmd_t pmdp_huge_clear_flush_as(vm_area_struct vma, ulong haddr, pmd_ptr pmdp, bool notified, string function)
    {
        ArgumentNullException.ThrowIfNull(vma);
        ArgumentNullException.ThrowIfNull(pmdp);
        if ((haddr & ~HPAGE_PMD_MASK) != 0)
        {
            throw new ArgumentException($"{function}: address 0x{haddr:x} is not aligned to HPAGE_PMD_SIZE", nameof(haddr));
        }

        check_pmd_slot(vma.vm_mm, haddr, pmdp, function);
        var old = new pmd_t(pmdp.table.exchange(pmdp.index, 0));
        if (pmd_trans_huge(old))
        {
            InvalidationTwin.EntryChanged(vma.vm_mm, haddr, HPAGE_PMD_SIZE, new pte_t(old.val), cleared: true, notified, function);
        }

        flush_tlb_range(vma, haddr, haddr + HPAGE_PMD_SIZE);
        return old;
    }

    /// <summary>2012 THP: marks a huge pmd as splitting (it still maps the page) and flushes.</summary>
    [NeverSleeps]
    public static void pmdp_splitting_flush(vm_area_struct vma, ulong haddr, pmd_ptr pmdp)
    {
        ArgumentNullException.ThrowIfNull(vma);
        if ((haddr & ~HPAGE_PMD_MASK) != 0)
        {
            throw new ArgumentException($"pmdp_splitting_flush: address 0x{haddr:x} is not aligned to HPAGE_PMD_SIZE", nameof(haddr));
        }

        check_pmd_slot(vma.vm_mm, haddr, pmdp, nameof(pmdp_splitting_flush));
        var pmd = pmdp_get(pmdp);
        if (!pmd_trans_huge(pmd))
        {
            throw new InvalidOperationException($"pmdp_splitting_flush: the pmd at 0x{haddr:x} is not a huge pmd ({pmd})");
        }

        pmdp.table.write(pmdp.index, pmd.val | _PAGE_SPLITTING);
        InvalidationTwin.EntryChanged(vma.vm_mm, haddr, HPAGE_PMD_SIZE, new pte_t(pmd.val), cleared: false, notified: false, nameof(pmdp_splitting_flush));
        flush_tlb_range(vma, haddr, haddr + HPAGE_PMD_SIZE);
    }

    [NeverSleeps]
    public static void flush_cache_page(vm_area_struct vma, ulong address, ulong pfn)
    {
        ArgumentNullException.ThrowIfNull(vma);
    }

    [NeverSleeps]
    public static void flush_cache_range(vm_area_struct vma, ulong start, ulong end)
    {
        ArgumentNullException.ThrowIfNull(vma);
        check_range(start, end, nameof(flush_cache_range));
    }

    [NeverSleeps]
    public static void flush_tlb_range(vm_area_struct vma, ulong start, ulong end)
    {
        ArgumentNullException.ThrowIfNull(vma);
        check_range(start, end, nameof(flush_tlb_range));
        System.Threading.Interlocked.Increment(ref vma.vm_mm.tlb_flushes);
    }

    [NeverSleeps]
    public static void flush_tlb_page(vm_area_struct vma, ulong address)
    {
        ArgumentNullException.ThrowIfNull(vma);
        System.Threading.Interlocked.Increment(ref vma.vm_mm.tlb_flushes);
    }

    [NeverSleeps]
    public static void update_mmu_cache(vm_area_struct vma, ulong address, pte_ptr ptep)
    {
    }

    [NeverSleeps]
    public static void update_mmu_cache(vm_area_struct vma, ulong address, pmd_ptr pmdp)
    {
    }

    // ---- walking ----------------------------------------------------------------------------

    /// <summary>The pmd slot of <paramref name="address"/> when a present pmd (a pte table or a huge
    /// page) maps it, else null (3.x semantics).</summary>
    public static pmd_ptr? mm_find_pmd(mm_struct mm, ulong address)
    {
        var pmd = walk_to_pmd(mm, address, alloc: false);
        if (pmd is null || !pmd_present(pmdp_get(pmd)))
        {
            return null;
        }

        return pmd;
    }

    /// <summary>The pte slot of <paramref name="address"/> in the pte table <paramref name="pmd"/> points to.</summary>
    public static pte_ptr pte_offset_map(pmd_ptr pmd, ulong address)
    {
        ArgumentNullException.ThrowIfNull(pmd);
        var table = pte_table_of(pmd, nameof(pte_offset_map));
        if ((address & PMD_MASK) != table.base_address)
        {
            throw new ArgumentException($"pte_offset_map: address 0x{address:x} is not covered by the pmd at 0x{pmd.Address:x}", nameof(address));
        }

        return new pte_ptr(table, (int)((address >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)));
    }

    /// <summary><c>pte_unmap</c>: nothing to undo without highmem.</summary>
    public static void pte_unmap(pte_ptr pte) => ArgumentNullException.ThrowIfNull(pte);

    /// <summary>The split PTE lock of the pte table <paramref name="pmd"/> points to.</summary>
    public static spinlock_t pte_lockptr(mm_struct mm, pmd_ptr pmd)
    {
        ArgumentNullException.ThrowIfNull(mm);
        return pte_table_of(pmd, nameof(pte_lockptr)).ptl!;
    }

    /// <summary>Maps the pte of <paramref name="address"/> and takes its page-table lock.</summary>
    [NeverSleeps]
    [AcquiresLock("ptl")]
    public static pte_ptr pte_offset_map_lock(mm_struct mm, pmd_ptr pmd, ulong address, out spinlock_t ptl)
    {
        var pte = pte_offset_map(pmd, address);
        ptl = pte_lockptr(mm, pmd);
        spin_lock(ptl);
        return pte;
    }

    /// <summary>Releases the page-table lock taken by <see cref="pte_offset_map_lock"/>.</summary>
    [NeverSleeps]
    [ReleasesLock("ptl")]
    public static void pte_unmap_unlock(pte_ptr pte, spinlock_t ptl)
    {
        ArgumentNullException.ThrowIfNull(pte);
        release_spinlock(ptl, nameof(pte_unmap_unlock));
        MmRuntime.PreemptionPoint(nameof(pte_unmap_unlock));
    }

    /// <summary>The lock of a pmd slot (mm->page_table_lock: no split pmd locks here).</summary>
    public static spinlock_t pmd_lockptr(mm_struct mm, pmd_ptr pmd)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(pmd);
        return mm.page_table_lock;
    }

    /// <summary>Takes and returns the pmd lock.</summary>
    [NeverSleeps]
    public static spinlock_t pmd_lock(mm_struct mm, pmd_ptr pmd)
    {
        var ptl = pmd_lockptr(mm, pmd);
        spin_lock(ptl);
        return ptl;
    }

    /// <summary>
    /// If <paramref name="page"/> is mapped at <paramref name="address"/> in <paramref name="mm"/>,
    /// returns its pte with the page-table lock <paramref name="ptl"/> held; else null (no lock held).
    /// </summary>
    [NeverSleeps]
    [AcquiresLock("ptl", When = LockAcquisition.WhenReturnNotNull)]
    public static pte_ptr? page_check_address(page page, mm_struct mm, ulong address, out spinlock_t ptl, int sync)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(mm);
        ptl = mm.page_table_lock;
        if (PageHuge(page))
        {
            var hpte = huge_pte_offset(mm, address & HPAGE_PMD_MASK);
            if (hpte is null)
            {
                return null;
            }

            spin_lock(ptl);
            var hv = ptep_get(hpte);
            if (pte_present(hv) && pte_pfn(hv) == page.pfn)
            {
                return hpte;
            }

            spin_unlock_silent(ptl);
            return null;
        }

        var pmd = mm_find_pmd(mm, address);
        if (pmd is null || pmd_trans_huge(pmdp_get(pmd)))
        {
            return null;
        }

        var pte = pte_offset_map(pmd, address);
        ptl = pte_lockptr(mm, pmd);
        if (sync == 0 && !pte_present(ptep_get(pte)))
        {
            return null;
        }

        spin_lock(ptl);
        var v = ptep_get(pte);
        if (pte_present(v) && pte_pfn(v) == page.pfn)
        {
            return pte;
        }

        spin_unlock_silent(ptl);
        return null;
    }

    public const int PAGE_CHECK_ADDRESS_PMD_FLAG = 0;
    public const int PAGE_CHECK_ADDRESS_PMD_NOTSPLITTING_FLAG = 1;
    public const int PAGE_CHECK_ADDRESS_PMD_SPLITTING_FLAG = 2;

    /// <summary>
    /// 2012 THP: the huge pmd mapping <paramref name="page"/> at <paramref name="address"/>, or null.
    /// With <c>PAGE_CHECK_ADDRESS_PMD_NOTSPLITTING_FLAG</c> a splitting pmd does not match, with
    /// <c>..._SPLITTING_FLAG</c> only a splitting one does. The caller holds mm->page_table_lock.
    /// </summary>
    [NeverSleeps]
    [MustHoldLock("mm.page_table_lock")]
    public static pmd_ptr? page_check_address_pmd(page page, mm_struct mm, ulong address, int flag)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(mm);
        if (!mm.page_table_lock.IsHeldByCurrentThread)
        {
            throw new InvalidOperationException($"page_check_address_pmd: the caller must hold {mm.page_table_lock.name} (address 0x{address:x})");
        }

        if ((address & ~HPAGE_PMD_MASK) != 0)
        {
            throw new ArgumentException($"page_check_address_pmd: address 0x{address:x} is not aligned to HPAGE_PMD_SIZE", nameof(address));
        }

        var pmd = walk_to_pmd(mm, address, alloc: false);
        if (pmd is null)
        {
            return null;
        }

        var v = pmdp_get(pmd);
        if (!pmd_trans_huge(v) || pmd_pfn(v) != page.pfn)
        {
            return null;
        }

        bool splitting = pmd_trans_splitting(v);
        if (flag == PAGE_CHECK_ADDRESS_PMD_NOTSPLITTING_FLAG && splitting)
        {
            return null;
        }

        if (flag == PAGE_CHECK_ADDRESS_PMD_SPLITTING_FLAG && !splitting)
        {
            return null;
        }

        return pmd;
    }

    // ---- internals ---------------------------------------------------------------------------

    private static void spin_unlock_silent(spinlock_t ptl) => release_spinlock(ptl, nameof(spin_unlock));

    internal static pt_table pte_table_of(pmd_ptr pmd, string function)
    {
        ArgumentNullException.ThrowIfNull(pmd);
        var v = pmdp_get(pmd);
        if (!pmd_present(v))
        {
            throw new InvalidOperationException($"{function}: the pmd at 0x{pmd.Address:x} is not present");
        }

        if (pmd_trans_huge(v))
        {
            throw new InvalidOperationException($"{function}: the pmd at 0x{pmd.Address:x} maps a huge page, not a pte table");
        }

        return pfn_to_page(pmd_pfn(v)).pt ?? throw new InvalidOperationException($"{function}: the pmd at 0x{pmd.Address:x} does not point to a page table");
    }

    internal static pt_table alloc_pt_table(mm_struct mm, int level, ulong base_address)
    {
        var p = alloc_pages(gfp_t.__GFP_ZERO, 0) ?? throw new OutOfMemoryException("pte_alloc: out of memory for a page table");
        p.flags |= pageflags.PG_table;
        var t = new pt_table(mm, level, p, base_address);
        p.pt = t;
        return t;
    }

    /// <summary>Walks (optionally allocating) pgd → pud → pmd; returns the pmd slot or null.</summary>
    internal static pmd_ptr? walk_to_pmd(mm_struct mm, ulong address, bool alloc)
    {
        ArgumentNullException.ThrowIfNull(mm);
        if (address >= TASK_SIZE)
        {
            throw new ArgumentOutOfRangeException(nameof(address), $"page-table walk: address 0x{address:x} is above TASK_SIZE");
        }

        var pgd = mm.pgd;
        if (pgd is null)
        {
            return null;
        }

        var pud = child(mm, pgd, (int)((address >> PGDIR_SHIFT) & 511), alloc, 3);
        if (pud is null)
        {
            return null;
        }

        var pmdt = child(mm, pud, (int)((address >> PUD_SHIFT) & 511), alloc, 2);
        if (pmdt is null)
        {
            return null;
        }

        return new pmd_ptr(pmdt, (int)((address >> PMD_SHIFT) & 511));
    }

    private static pt_table? child(mm_struct mm, pt_table parent, int i, bool alloc, int level)
    {
        ulong v = parent.read(i);
        if (v != 0)
        {
            return pfn_to_page(pte_pfn(new pte_t(v))).pt;
        }

        if (!alloc)
        {
            return null;
        }

        var t = alloc_pt_table(mm, level, parent.address_of(i));
        spin_lock(mm.page_table_lock);
        try
        {
            v = parent.read(i);
            if (v == 0)
            {
                parent.write(i, (t.page.pfn << PAGE_SHIFT) | _PAGE_TABLE);
                return t;
            }
        }
        finally
        {
            release_spinlock(mm.page_table_lock, nameof(spin_unlock));
        }

        free_pt_table(t);
        return pfn_to_page(pte_pfn(new pte_t(v))).pt;
    }

    /// <summary>__pte_alloc: gives <paramref name="pmd"/> a pte table if it has none.</summary>
    public static int pte_alloc(mm_struct mm, pmd_ptr pmd)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(pmd);
        if (pmd_present(pmdp_get(pmd)))
        {
            return 0;
        }

        var t = alloc_pt_table(mm, 1, pmd.Address);
        spin_lock(mm.page_table_lock);
        bool used = false;
        try
        {
            if (pmd_none(pmdp_get(pmd)))
            {
                pmd.table.write(pmd.index, (t.page.pfn << PAGE_SHIFT) | _PAGE_TABLE);
                used = true;
            }
        }
        finally
        {
            release_spinlock(mm.page_table_lock, nameof(spin_unlock));
        }

        if (!used)
        {
            free_pt_table(t);
        }

        return 0;
    }

    internal static void free_pt_table(pt_table t)
    {
        t.page.pt = null;
        t.page.flags &= ~pageflags.PG_table;
        put_page_as(t.page, "pte_free");
    }

    /// <summary>THP: keeps a pte table with the mm for a later split of the huge pmd.</summary>
    public static void pgtable_trans_huge_deposit(mm_struct mm, pmd_ptr pmdp, page pgtable)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(pgtable);
        lock (mm.pmd_huge_pte)
        {
            mm.pmd_huge_pte.Push(pgtable);
        }
    }

    /// <summary>THP: takes back a deposited pte table.</summary>
    public static page pgtable_trans_huge_withdraw(mm_struct mm, pmd_ptr pmdp)
    {
        ArgumentNullException.ThrowIfNull(mm);
        lock (mm.pmd_huge_pte)
        {
            if (mm.pmd_huge_pte.Count == 0)
            {
                throw new InvalidOperationException($"pgtable_trans_huge_withdraw: no page table deposited on {mm}");
            }

            return mm.pmd_huge_pte.Pop();
        }
    }

    /// <summary>Whether a CPU walk of <paramref name="mm"/> still reaches the pte table. A clear in a
    /// table already unhooked from the mm (collapse_huge_page clears the small pages' ptes after the
    /// bracketed pmd clear detached the table) is no pending clear: the detach was the unmapping.</summary>
    private static bool pte_table_reachable(mm_struct mm, pt_table table)
    {
        var pmd = walk_to_pmd(mm, table.base_address, alloc: false);
        if (pmd is null)
        {
            return false;
        }

        var v = pmdp_get(pmd);
        return pmd_present(v) && !pmd_trans_huge(v) && pmd_pfn(v) == table.page.pfn;
    }

    private static void check_slot(mm_struct mm, ulong address, pte_ptr ptep, string function)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(ptep);
        if (!ReferenceEquals(ptep.table.mm, mm))
        {
            throw new ArgumentException($"{function}: the pte belongs to {ptep.table.mm}, not {mm}", nameof(ptep));
        }

        ulong slot = ptep.Address;
        ulong size = ptep.table.entry_size;
        if ((address & ~(size - 1)) != slot)
        {
            throw new ArgumentException($"{function}: address 0x{address:x} is not the address of the pte (0x{slot:x})", nameof(address));
        }
    }

    private static void check_pmd_slot(mm_struct mm, ulong haddr, pmd_ptr pmdp, string function)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(pmdp);
        if (!ReferenceEquals(pmdp.table.mm, mm))
        {
            throw new ArgumentException($"{function}: the pmd belongs to {pmdp.table.mm}, not {mm}", nameof(pmdp));
        }

        if ((haddr & PMD_MASK) != pmdp.Address)
        {
            throw new ArgumentException($"{function}: address 0x{haddr:x} is not covered by the pmd at 0x{pmdp.Address:x}", nameof(haddr));
        }
    }

    internal static void check_in_vma(vm_area_struct vma, ulong address, string function)
    {
        if (address < vma.vm_start || address >= vma.vm_end)
        {
            throw new ArgumentException($"{function}: address 0x{address:x} is outside {vma}", nameof(address));
        }
    }

    /// <summary>A present entry that lost its write or dirty bit (pte_wrprotect, pte_mkclean, pmd_wrprotect):
    /// a secondary MMU may still let the device write through its copy.</summary>
    private static bool entry_downgraded(ulong old, ulong now) =>
        ((old & _PAGE_RW) != 0 && (now & _PAGE_RW) == 0) || ((old & _PAGE_DIRTY) != 0 && (now & _PAGE_DIRTY) == 0);

    internal static void check_range(ulong start, ulong end, string function)
    {
        if (end < start)
        {
            throw new ArgumentException($"{function}: end 0x{end:x} is before start 0x{start:x}", nameof(end));
        }
    }
}
