using System;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.SecondaryMmu;

/// <summary>
/// A process address space for the secondary-MMU tests: one anonymous read/write vma, CPU faults
/// through handle_mm_fault, and a correct unmap (the post-2017 try_to_unmap_one pattern:
/// start/end bracket outside the page-table lock, ptep_clear_flush_notify under it, the page
/// released after its invalidation).
/// </summary>
internal sealed class TestAddressSpace : IDisposable
{
    /// <summary>2 MiB aligned, so a huge vma can hold THPs.</summary>
    public const ulong Base = 0x4000_0000;

    public TestAddressSpace(int pages)
    {
        mm = mm_alloc();
        vma = vm_area_alloc(mm);
        vma.vm_start = Base;
        vma.vm_end = Base + (ulong)pages * PAGE_SIZE;
        vma.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE;
        vma.vm_page_prot = PAGE_SHARED;
        if (insert_vm_struct(mm, vma) != 0)
        {
            throw new InvalidOperationException("insert_vm_struct failed");
        }

        Pages = pages;
    }

    public mm_struct mm { get; }

    public vm_area_struct vma { get; }

    public int Pages { get; }

    public static ulong Addr(int index) => Base + (ulong)index * PAGE_SIZE;

    /// <summary>The CPU touches the address (a user access that faults if needed).</summary>
    public void Touch(ulong address, bool write)
    {
        down_read(mm.mmap_sem);
        try
        {
            vm_fault_t ret = handle_mm_fault(vma, address, write ? FAULT_FLAG_WRITE : 0);
            if ((ret & (VM_FAULT_OOM | VM_FAULT_SIGBUS)) != 0)
            {
                throw new InvalidOperationException($"handle_mm_fault(0x{address:x}) failed: {ret}");
            }
        }
        finally
        {
            up_read(mm.mmap_sem);
        }
    }

    /// <summary>The page the CPU page table maps at the address, or null.</summary>
    public page? CpuPage(ulong address)
    {
        pmd_ptr? pmd = mm_find_pmd(mm, address);
        if (pmd is null || !pmd_present(pmdp_get(pmd)))
        {
            return null;
        }

        pte_t pte = ptep_get(pte_offset_map(pmd, address));
        return pte_present(pte) ? pte_page(pte) : null;
    }

    /// <summary>Unmaps [start, end) the correct way (zap_page_range-like, one pte at a time).</summary>
    public int Zap(ulong start, ulong end)
    {
        int zapped = 0;
        down_read(mm.mmap_sem);
        ulong mmun_start = start;
        ulong mmun_end = end;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        try
        {
            for (ulong address = start; address < end; address += PAGE_SIZE)
            {
                if (ZapOne(address))
                {
                    zapped++;
                }
            }
        }
        finally
        {
            mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
            up_read(mm.mmap_sem);
        }

        return zapped;
    }

    /// <summary>Clears one pte under its lock and releases the page after its invalidation.
    /// The caller holds an open start/end covering the address.</summary>
    public bool ZapOne(ulong address)
    {
        pmd_ptr? pmd = mm_find_pmd(mm, address);
        if (pmd is null || !pmd_present(pmdp_get(pmd)))
        {
            return false;
        }

        pte_ptr ptep = pte_offset_map_lock(mm, pmd, address, out spinlock_t ptl);
        pte_t pte = ptep_get(ptep);
        if (!pte_present(pte))
        {
            pte_unmap_unlock(ptep, ptl);
            return false;
        }

        page page = pte_page(pte);
        flush_cache_page(vma, address, pte_pfn(pte));
        ptep_clear_flush_notify(vma, address, ptep);
        page_remove_rmap(page);
        pte_unmap_unlock(ptep, ptl);
        // must invalidate _before_ freeing the page: ptep_clear_flush_notify did.
        put_page(page);
        return true;
    }

    public void Dispose() => mmput(mm);
}
