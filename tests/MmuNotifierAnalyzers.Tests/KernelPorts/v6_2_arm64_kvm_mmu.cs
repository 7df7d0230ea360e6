using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V6_2.Arm64Kvm;

/// <summary>
/// arch/arm64/kvm/mmu.c, <c>user_mem_abort</c>, Linux v6.2 (read from dmatlack/linux at
/// b1097d665d68: <c>read_lock(&amp;kvm-&gt;mmu_lock)</c>, <c>KVM_PGTABLE_WALK_SHARED</c>,
/// <c>mmu_invalidate_seq</c>), before 13ec9308a857 "KVM: arm64: Retry fault if vma_lookup()
/// results become invalid" (David Matlack, v6.3, Cc stable; "This bug has existed since KVM/ARM's
/// inception", Fixes 94f8e6418d39). The VMA is looked up under <c>mmap_lock</c> and its page
/// shift sizes the stage-2 mapping, but the sequence is read only after
/// <c>mmap_read_unlock</c>. MMU012 at the read. Kernel.Mm names: <c>mmu_invalidate_seq</c> /
/// <c>mmu_invalidate_retry</c> are <c>mmu_notifier_seq</c> / <c>mmu_notifier_retry</c>;
/// <c>mmap_read_lock(mm)</c> is <c>down_read(mm.mmap_lock)</c>; 6.2's rwlock_t
/// <c>mmu_lock</c> (<c>read_lock</c>) is Kernel.Mm's spinlock_t (<c>spin_lock</c>).
/// </summary>
public static class mmu
{
    public sealed class kvm_pgtable
    {
    }

    public sealed class kvm_s2_mmu
    {
        public kvm_pgtable pgt = new();
    }

    public sealed class kvm_vcpu
    {
        public kvm kvm = new();
        public object mmu_page_table_cache = new();
        public kvm_s2_mmu hw_mmu = new();
        public mm_struct mm = null!;  /* current->mm */
        public ulong fault_level;
        public bool write_fault;
        public bool exec_fault;
    }

    public sealed class kvm_memory_slot
    {
        public bool logging;
    }

    private const ulong FSC_PERM = 0x0c;
    private const int CONT_PMD_SHIFT = PMD_SHIFT + 4;
    private const int CONT_PTE_SHIFT = PAGE_SHIFT + 4;
    private const ulong KVM_PFN_ERR_HWPOISON = ulong.MaxValue - 1;
    private const int KVM_PGTABLE_PROT_R = 1 << 2;
    private const int KVM_PGTABLE_PROT_W = 1 << 1;
    private const int KVM_PGTABLE_PROT_X = 1 << 0;
    private const int KVM_PGTABLE_PROT_DEVICE = 1 << 3;
    private const int KVM_PGTABLE_WALK_SHARED = 1 << 1;
    private const int ENOEXEC = 8;

    /* The vcpu trap decoding and the helpers of this file the fault path calls. */
    private static bool memslot_is_logging(kvm_memory_slot memslot) => memslot.logging;

    private static ulong kvm_vcpu_trap_get_fault_level(kvm_vcpu vcpu) => vcpu.fault_level;

    private static int ARM64_HW_PGTABLE_LEVEL_SHIFT(ulong level) => (int)((PAGE_SHIFT - 3) * (4 - level) + 3);

    private static bool kvm_is_write_fault(kvm_vcpu vcpu) => vcpu.write_fault;

    private static bool kvm_vcpu_trap_is_exec_fault(kvm_vcpu vcpu) => vcpu.exec_fault;

    private static void kvm_err(string message)
    {
    }

    private static short get_vma_page_shift(vm_area_struct vma, ulong hva) => PAGE_SHIFT;

    private static bool fault_supports_stage2_huge_mapping(kvm_memory_slot memslot, ulong hva, ulong map_size) => false;

    private static int kvm_mmu_topup_memory_cache(object mc, int min) => 0;

    private static int kvm_mmu_cache_min_pages(kvm kvm) => 2;

    private static void smp_rmb() => System.Threading.Interlocked.MemoryBarrier();

    /* __gfn_to_pfn_memslot(): gup on the memslot's host address (virt/kvm/kvm_main.c). */
    [LooksUpPages]
    private static ulong __gfn_to_pfn_memslot(kvm_memory_slot slot, ulong gfn, bool atomic, bool interruptible, object? async, bool write_fault, out bool writable, object? hva)
    {
        writable = write_fault;
        return gfn;
    }

    private static void kvm_send_hwpoison_signal(ulong address, short lsb)
    {
    }

    private static bool is_error_noslot_pfn(ulong pfn) => pfn >= KVM_PFN_ERR_HWPOISON;

    private static bool kvm_is_device_pfn(ulong pfn) => false;

    private static ulong transparent_hugepage_adjust(kvm kvm, kvm_memory_slot memslot, ulong hva, ref ulong pfn, ref ulong ipap) => PAGE_SIZE;

    private static bool kvm_has_mte(kvm kvm) => false;

    private static bool kvm_vma_mte_allowed(vm_area_struct? vma) => false;

    private static void sanitise_mte_tags(kvm kvm, ulong pfn, ulong size)
    {
    }

    private static bool cpus_have_const_cap(int num) => false;

    private const int ARM64_HAS_CACHE_DIC = 1;

    /* kvm_pgtable_stage2_relax_perms() / kvm_pgtable_stage2_map(): write the stage-2 entry. */
    [EstablishesSecondaryMapping]
    private static int kvm_pgtable_stage2_relax_perms(kvm_pgtable pgt, ulong addr, int prot) => 0;

    [EstablishesSecondaryMapping]
    private static int kvm_pgtable_stage2_map(kvm_pgtable pgt, ulong addr, ulong size, ulong phys, int prot, object mc, int flags) => 0;

    private static ulong __pfn_to_phys(ulong pfn) => pfn << PAGE_SHIFT;

    private static void kvm_set_pfn_dirty(ulong pfn)
    {
    }

    private static void mark_page_dirty_in_slot(kvm kvm, kvm_memory_slot memslot, ulong gfn)
    {
    }

    private static void kvm_set_pfn_accessed(ulong pfn)
    {
    }

    private static void kvm_release_pfn_clean(ulong pfn)
    {
    }

    public static int user_mem_abort(kvm_vcpu vcpu, ulong fault_ipa,
                                     kvm_memory_slot memslot, ulong hva,
                                     ulong fault_status)
    {
        int ret = 0;
        bool write_fault, writable, force_pte = false;
        bool exec_fault;
        bool device = false;
        long mmu_seq;
        kvm kvm = vcpu.kvm;
        object memcache = vcpu.mmu_page_table_cache;
        vm_area_struct? vma;
        short vma_shift;
        ulong gfn;
        ulong pfn;
        bool logging_active = memslot_is_logging(memslot);
        ulong fault_level = kvm_vcpu_trap_get_fault_level(vcpu);
        ulong vma_pagesize, fault_granule;
        int prot = KVM_PGTABLE_PROT_R;
        kvm_pgtable pgt;

        fault_granule = 1UL << ARM64_HW_PGTABLE_LEVEL_SHIFT(fault_level);
        write_fault = kvm_is_write_fault(vcpu);
        exec_fault = kvm_vcpu_trap_is_exec_fault(vcpu);
        VM_BUG_ON(write_fault && exec_fault);

        if (fault_status == FSC_PERM && !write_fault && !exec_fault)
        {
            kvm_err("Unexpected L2 read permission error\n");
            return -EFAULT;
        }

        /*
         * Let's check if we will get back a huge page backed by hugetlbfs, or
         * get block mapping for device MMIO region.
         */
        down_read(vcpu.mm.mmap_lock);
        vma = vma_lookup(vcpu.mm, hva);
        if (unlikely(vma == null))
        {
            kvm_err("Failed to find VMA for hva");
            up_read(vcpu.mm.mmap_lock);
            return -EFAULT;
        }

        /*
         * logging_active is guaranteed to never be true for VM_PFNMAP
         * memslots.
         */
        if (logging_active)
        {
            force_pte = true;
            vma_shift = PAGE_SHIFT;
        }
        else
        {
            vma_shift = get_vma_page_shift(vma, hva);
        }

        switch (vma_shift)
        {
            case PUD_SHIFT:
                if (fault_supports_stage2_huge_mapping(memslot, hva, PUD_SIZE))
                    break;
                goto case CONT_PMD_SHIFT;
            case CONT_PMD_SHIFT:
                vma_shift = PMD_SHIFT;
                goto case PMD_SHIFT;
            case PMD_SHIFT:
                if (fault_supports_stage2_huge_mapping(memslot, hva, PMD_SIZE))
                    break;
                goto case CONT_PTE_SHIFT;
            case CONT_PTE_SHIFT:
                vma_shift = PAGE_SHIFT;
                force_pte = true;
                goto case PAGE_SHIFT;
            case PAGE_SHIFT:
                break;
            default:
                WARN_ON(true); /* WARN_ONCE(1, "Unknown vma_shift %d", vma_shift) */
                break;
        }

        vma_pagesize = 1UL << vma_shift;
        if (vma_pagesize == PMD_SIZE || vma_pagesize == PUD_SIZE)
            fault_ipa &= ~(vma_pagesize - 1);

        gfn = fault_ipa >> PAGE_SHIFT;
        up_read(vcpu.mm.mmap_lock);

        /*
         * Permission faults just need to update the existing leaf entry,
         * and so normally don't require allocations from the memcache. The
         * only exception to this is when dirty logging is enabled at runtime
         * and a write fault needs to collapse a block entry into a table.
         */
        if (fault_status != FSC_PERM || (logging_active && write_fault))
        {
            ret = kvm_mmu_topup_memory_cache(memcache,
                                             kvm_mmu_cache_min_pages(kvm));
            if (ret != 0)
                return ret;
        }

        mmu_seq = vcpu.kvm.mmu_notifier_seq; // expect: MMU012
        /*
         * Ensure the read of mmu_invalidate_seq happens before we call
         * gfn_to_pfn_prot (which calls get_user_pages), so that we don't risk
         * the page we just got a reference to gets unmapped before we have a
         * chance to grab the mmu_lock, which ensure that if the page gets
         * unmapped afterwards, the call to kvm_unmap_gfn will take it away
         * from us again properly. This smp_rmb() interacts with the smp_wmb()
         * in kvm_mmu_notifier_invalidate_<page|range_end>.
         *
         * Besides, __gfn_to_pfn_memslot() instead of gfn_to_pfn_prot() is
         * used to avoid unnecessary overhead introduced to locate the memory
         * slot because it's always fixed even @gfn is adjusted for huge pages.
         */
        smp_rmb();

        pfn = __gfn_to_pfn_memslot(memslot, gfn, false, false, null,
                                   write_fault, out writable, null);
        if (pfn == KVM_PFN_ERR_HWPOISON)
        {
            kvm_send_hwpoison_signal(hva, vma_shift);
            return 0;
        }
        if (is_error_noslot_pfn(pfn))
            return -EFAULT;

        if (kvm_is_device_pfn(pfn))
        {
            device = true;
        }
        else if (logging_active && !write_fault)
        {
            /*
             * Only actually map the page as writable if this was a write
             * fault.
             */
            writable = false;
        }

        if (exec_fault && device)
            return -ENOEXEC;

        spin_lock(kvm.mmu_lock);
        pgt = vcpu.hw_mmu.pgt;
        if (mmu_notifier_retry(kvm, mmu_seq) != 0)
            goto out_unlock;

        /*
         * If we are not forced to use page mapping, check if we are
         * backed by a THP and thus use block mapping if possible.
         */
        if (vma_pagesize == PAGE_SIZE && !(force_pte || device))
        {
            if (fault_status == FSC_PERM && fault_granule > PAGE_SIZE)
                vma_pagesize = fault_granule;
            else
                vma_pagesize = transparent_hugepage_adjust(kvm, memslot,
                                                           hva, ref pfn,
                                                           ref fault_ipa);
        }

        if (fault_status != FSC_PERM && !device && kvm_has_mte(kvm))
        {
            /* Check the VMM hasn't introduced a new disallowed VMA */
            if (kvm_vma_mte_allowed(vma))
            {
                sanitise_mte_tags(kvm, pfn, vma_pagesize);
            }
            else
            {
                ret = -EFAULT;
                goto out_unlock;
            }
        }

        if (writable)
            prot |= KVM_PGTABLE_PROT_W;

        if (exec_fault)
            prot |= KVM_PGTABLE_PROT_X;

        if (device)
            prot |= KVM_PGTABLE_PROT_DEVICE;
        else if (cpus_have_const_cap(ARM64_HAS_CACHE_DIC))
            prot |= KVM_PGTABLE_PROT_X;

        /*
         * Under the premise of getting a FSC_PERM fault, we just need to relax
         * permissions only if vma_pagesize equals fault_granule. Otherwise,
         * kvm_pgtable_stage2_map() should be called to change block size.
         */
        if (fault_status == FSC_PERM && vma_pagesize == fault_granule)
            ret = kvm_pgtable_stage2_relax_perms(pgt, fault_ipa, prot);
        else
            ret = kvm_pgtable_stage2_map(pgt, fault_ipa, vma_pagesize,
                                         __pfn_to_phys(pfn), prot,
                                         memcache, KVM_PGTABLE_WALK_SHARED);

        /* Mark the page dirty only if the fault is handled successfully */
        if (writable && ret == 0)
        {
            kvm_set_pfn_dirty(pfn);
            mark_page_dirty_in_slot(kvm, memslot, gfn);
        }

    out_unlock:
        spin_unlock(kvm.mmu_lock);
        kvm_set_pfn_accessed(pfn);
        kvm_release_pfn_clean(pfn);
        return ret != -EAGAIN ? ret : 0;
    }
}
