using System;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_19.Kvm;

/// <summary>
/// arch/x86/kvm/mmu.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments; the owner's
/// comments are left out), with <c>kvm_host_page_size</c> from virt/kvm/kvm_main.c of the same
/// era: the EPT/NPT fault path, the pattern seed 000 names. The sequence is read
/// (<c>kvm-&gt;mmu_notifier_seq</c>, then <c>smp_rmb</c>) before the pfn is looked up, and
/// <c>mmu_notifier_retry</c> is checked under <c>kvm-&gt;mmu_lock</c>, which is held until
/// <c>__direct_map</c> has installed the spte; but the mapping level comes first, from
/// <c>mapping_level</c> → <c>host_mapping_level</c> → <c>kvm_host_page_size</c>, which looks the VMA
/// up under <c>mmap_sem</c> (<c>find_vma</c>, <c>vma_kernel_pagesize</c>) and drops it before the
/// sequence is read. That is the shape 13ec9308a857 / 2ed90cb0938a fixed on arm64 and RISC-V
/// ("Retry fault if vma_lookup() results become invalid", v6.3/v6.4): a hugetlbfs VMA replaced
/// between the lookup and the read leaves a huge level for a pfn of a small page, and the retry
/// check cannot see it. MMU012 at the read, in <c>tdp_page_fault</c> and <c>nonpaging_map</c>.
/// x86 lost the VMA lookup in v5.6, when Sean Christopherson's huge page series took the level
/// from the host page tables under <c>mmu_lock</c> (db5432165e9b "KVM: x86/mmu: Walk host page
/// tables to find THP mappings", then "KVM: x86/mmu: Rely on host page tables to find HugeTLB
/// mappings", which removed the <c>find_vma</c>); those commits give simplicity and speed as their
/// reason, not this race. The later form is <c>v5_9_kvm_mmu.cs</c>.
/// </summary>
public static class mmu
{
    public sealed class kvm_vcpu
    {
        public kvm kvm = new();
        public kvm_memory_slot? slot;
    }

    public sealed class kvm_memory_slot
    {
        public bool dirty_bitmap;
    }

    /* current->mm: the VMM process that owns the guest's memory. */
    private static readonly mm_struct current_mm = null!;

    private const int RET_PF_RETRY = 0;
    private const int RET_PF_EMULATE = 1;
    private const uint PFERR_WRITE_MASK = 1U << 1;
    private const int PT_PAGE_TABLE_LEVEL = 1;
    private const int PT_DIRECTORY_LEVEL = 2;
    private const int PT_PDPE_LEVEL = 3;
    private const int PT_MAX_HUGEPAGE_LEVEL = 3;
    private const int ACC_ALL = 7;

    /* The parts of the x86 MMU the fault path calls and Kernel.Mm does not model. */
    private static bool page_fault_handle_page_track(kvm_vcpu vcpu, uint error_code, ulong gfn) => false;

    private static int mmu_topup_memory_caches(kvm_vcpu vcpu) => 0;

    private static bool check_hugepage_cache_consistency(kvm_vcpu vcpu, ulong gfn, int level) => true;

    private static kvm_memory_slot? kvm_vcpu_gfn_to_memslot(kvm_vcpu vcpu, ulong gfn) => vcpu.slot;

    private static bool memslot_valid_for_gpte(kvm_memory_slot? slot, bool no_dirty_log) =>
        slot != null && !(no_dirty_log && slot.dirty_bitmap);

    private static bool __mmu_gfn_lpage_is_disallowed(ulong gfn, int level, kvm_memory_slot? slot) => false;

    private static int get_lpage_level() => PT_PDPE_LEVEL;  /* kvm_x86_ops->get_lpage_level() */

    private static ulong gfn_to_hva(kvm kvm, ulong gfn) => gfn << PAGE_SHIFT;

    private static bool kvm_is_error_hva(ulong addr) => addr == ulong.MaxValue;

    private static ulong vma_kernel_pagesize(vm_area_struct vma) => PAGE_SIZE;  /* hugetlb: huge_page_size(hstate_vma(vma)) */

    private static ulong KVM_HPAGE_SIZE(int level) => PAGE_SIZE << ((level - 1) * 9);

    /* virt/kvm/kvm_main.c: the VMA's page size, looked up under mmap_sem and returned after it is dropped. */
    [LooksUpPages]
    private static ulong kvm_host_page_size(kvm kvm, ulong gfn)
    {
        vm_area_struct? vma;
        ulong addr, size;

        size = PAGE_SIZE;

        addr = gfn_to_hva(kvm, gfn);
        if (kvm_is_error_hva(addr))
            return PAGE_SIZE;

        down_read(current_mm.mmap_sem);
        vma = find_vma(current_mm, addr);
        if (vma == null)
            goto @out;

        size = vma_kernel_pagesize(vma);

    @out:
        up_read(current_mm.mmap_sem);

        return size;
    }

    [LooksUpPages]
    private static int host_mapping_level(kvm kvm, ulong gfn)
    {
        ulong page_size;
        int i, ret = 0;

        page_size = kvm_host_page_size(kvm, gfn);

        for (i = PT_PAGE_TABLE_LEVEL; i <= PT_MAX_HUGEPAGE_LEVEL; ++i)
        {
            if (page_size >= KVM_HPAGE_SIZE(i))
                ret = i;
            else
                break;
        }

        return ret;
    }

    /* The level the fault maps at: the VMA's page size (host_mapping_level), capped by the memslot. */
    [LooksUpPages]
    private static int mapping_level(kvm_vcpu vcpu, ulong large_gfn, ref bool force_pt_level)
    {
        int host_level, level, max_level;
        kvm_memory_slot? slot;

        if (unlikely(force_pt_level))
            return PT_PAGE_TABLE_LEVEL;

        slot = kvm_vcpu_gfn_to_memslot(vcpu, large_gfn);
        force_pt_level = !memslot_valid_for_gpte(slot, true);
        if (unlikely(force_pt_level))
            return PT_PAGE_TABLE_LEVEL;

        host_level = host_mapping_level(vcpu.kvm, large_gfn);

        if (host_level == PT_PAGE_TABLE_LEVEL)
            return host_level;

        max_level = Math.Min(get_lpage_level(), host_level);

        for (level = PT_DIRECTORY_LEVEL; level <= max_level; ++level)
            if (__mmu_gfn_lpage_is_disallowed(large_gfn, level, slot))
                break;

        return level - 1;
    }

    private static ulong KVM_PAGES_PER_HPAGE(int level) => 1UL << ((level - 1) * 9);

    private static bool fast_page_fault(kvm_vcpu vcpu, ulong gpa, int level, uint error_code) => false;

    private static bool handle_abnormal_pfn(kvm_vcpu vcpu, ulong gva, ulong gfn, ulong pfn, int access, ref int r) => false;

    private static int make_mmu_pages_available(kvm_vcpu vcpu) => 0;

    private static void transparent_hugepage_adjust(kvm_vcpu vcpu, ref ulong gfn, ref ulong pfn, ref int level)
    {
    }

    private static void kvm_release_pfn_clean(ulong pfn)
    {
    }

    private static void smp_rmb() => System.Threading.Interlocked.MemoryBarrier();

    /* __gfn_to_pfn_memslot(): gup on the memslot's host virtual address (virt/kvm/kvm_main.c). */
    [LooksUpPages]
    private static ulong __gfn_to_pfn_memslot(object? slot, ulong gfn, bool atomic, bool write, out bool writable)
    {
        writable = write;
        return gfn;
    }

    /* __direct_map(): installs the spte for gfn -> pfn in the EPT/NPT table; mmu_lock held. */
    [EstablishesSecondaryMapping]
    private static int __direct_map(kvm_vcpu vcpu, int write, bool map_writable, int level, ulong gfn, ulong pfn, bool prefault) => 0;

    /* try_async_pf(): without the async page-fault machinery (no slot lookup, no apf queue). */
    [LooksUpPages]
    private static bool try_async_pf(kvm_vcpu vcpu, bool prefault, ulong gfn,
                                     ulong gva, out ulong pfn, bool write, out bool writable)
    {
        pfn = __gfn_to_pfn_memslot(null, gfn, false, write, out writable);
        return false;
    }

    private static bool is_nx_huge_page_enabled() => false;

    private const uint PFERR_FETCH_MASK = 1U << 4;

    /* The shadow-paging fault path for a guest with paging off: the same order as tdp_page_fault. */
    public static int nonpaging_map(kvm_vcpu vcpu, ulong v, uint error_code,
                                    ulong gfn, bool prefault)
    {
        int r = 0;
        int level;
        bool force_pt_level;
        ulong pfn;
        long mmu_seq;
        bool map_writable, write = (error_code & PFERR_WRITE_MASK) != 0;
        bool lpage_disallowed = (error_code & PFERR_FETCH_MASK) != 0 &&
                                is_nx_huge_page_enabled();

        force_pt_level = lpage_disallowed;
        level = mapping_level(vcpu, gfn, ref force_pt_level);
        if (likely(!force_pt_level))
        {
            /*
             * This path builds a PAE pagetable - so we can map
             * 2mb pages at maximum. Therefore check if the level
             * is larger than that.
             */
            if (level > PT_DIRECTORY_LEVEL)
                level = PT_DIRECTORY_LEVEL;

            gfn &= ~(KVM_PAGES_PER_HPAGE(level) - 1);
        }

        if (fast_page_fault(vcpu, v, level, error_code))
            return RET_PF_RETRY;

        mmu_seq = vcpu.kvm.mmu_notifier_seq;  // expect: MMU012
        smp_rmb();

        if (try_async_pf(vcpu, prefault, gfn, v, out pfn, write, out map_writable))
            return RET_PF_RETRY;

        if (handle_abnormal_pfn(vcpu, v, gfn, pfn, ACC_ALL, ref r))
            return r;

        r = RET_PF_RETRY;
        spin_lock(vcpu.kvm.mmu_lock);
        if (mmu_notifier_retry(vcpu.kvm, mmu_seq) != 0)
            goto out_unlock;
        if (make_mmu_pages_available(vcpu) < 0)
            goto out_unlock;
        if (likely(!force_pt_level))
            transparent_hugepage_adjust(vcpu, ref gfn, ref pfn, ref level);
        r = __direct_map(vcpu, write ? 1 : 0, map_writable, level, gfn, pfn, prefault);
    out_unlock:
        spin_unlock(vcpu.kvm.mmu_lock);
        kvm_release_pfn_clean(pfn);
        return r;
    }

    public static int tdp_page_fault(kvm_vcpu vcpu, ulong gpa, uint error_code,
                                     bool prefault)
    {
        ulong pfn;
        int r;
        int level;
        bool force_pt_level;
        ulong gfn = gpa >> PAGE_SHIFT;
        long mmu_seq;
        int write = (int)(error_code & PFERR_WRITE_MASK);
        bool map_writable;

        if (page_fault_handle_page_track(vcpu, error_code, gfn))
            return RET_PF_EMULATE;

        r = mmu_topup_memory_caches(vcpu);
        if (r != 0)
            return r;

        force_pt_level = !check_hugepage_cache_consistency(vcpu, gfn,
                                                           PT_DIRECTORY_LEVEL);
        level = mapping_level(vcpu, gfn, ref force_pt_level);
        if (likely(!force_pt_level))
        {
            if (level > PT_DIRECTORY_LEVEL &&
                !check_hugepage_cache_consistency(vcpu, gfn, level))
                level = PT_DIRECTORY_LEVEL;
            gfn &= ~(KVM_PAGES_PER_HPAGE(level) - 1);
        }

        if (fast_page_fault(vcpu, gpa, level, error_code))
            return RET_PF_RETRY;

        mmu_seq = vcpu.kvm.mmu_notifier_seq;  // expect: MMU012
        smp_rmb();

        if (try_async_pf(vcpu, prefault, gfn, gpa, out pfn, write != 0, out map_writable))
            return RET_PF_RETRY;

        if (handle_abnormal_pfn(vcpu, 0, gfn, pfn, ACC_ALL, ref r))
            return r;

        spin_lock(vcpu.kvm.mmu_lock);
        if (mmu_notifier_retry(vcpu.kvm, mmu_seq) != 0)
            goto out_unlock;

        if (make_mmu_pages_available(vcpu) < 0)
            goto out_unlock;

        if (likely(!force_pt_level))
            transparent_hugepage_adjust(vcpu, ref gfn, ref pfn, ref level);

        r = __direct_map(vcpu, write, map_writable, level, gfn, pfn, prefault);
        spin_unlock(vcpu.kvm.mmu_lock);

        return r;

    out_unlock:
        spin_unlock(vcpu.kvm.mmu_lock);
        kvm_release_pfn_clean(pfn);
        return RET_PF_RETRY;
    }
}
