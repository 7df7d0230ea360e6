using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V5_9.Kvm;

/// <summary>
/// arch/x86/kvm/mmu/mmu.c, <c>direct_page_fault</c> and <c>__direct_map</c>, Linux v5.8/v5.9, read
/// from the context lines of the patches posted against it (the v5.8 NX huge page rework, whose
/// <c>__direct_map</c> takes <c>error_code</c> and calls <c>kvm_mmu_hugepage_adjust</c>; Ben Gardon's
/// TDP MMU series, 20201014182700.2888246-11-bgardon@google.com, whose minus side is this
/// <c>direct_page_fault</c>; Sean Christopherson's "Consolidate the direct MMU page fault handlers",
/// which merged <c>tdp_page_fault</c> and <c>nonpaging_map</c> into it). The later form of
/// <c>v4_19_kvm_mmu.cs</c>: <c>mapping_level</c> and its <c>find_vma</c> are gone; the level comes
/// from <c>kvm_mmu_hugepage_adjust</c> → <c>host_pfn_mapping_level</c>, a walk of the host page
/// tables made inside <c>__direct_map</c>, under <c>mmu_lock</c>, after <c>mmu_notifier_retry</c>
/// (db5432165e9b "KVM: x86/mmu: Walk host page tables to find THP mappings" and "KVM: x86/mmu: Rely
/// on host page tables to find HugeTLB mappings", v5.6). The sequence is read before the only
/// lookup left, <c>try_async_pf</c>. Correct: no MMU012.
/// </summary>
public static class mmu
{
    public sealed class kvm_vcpu
    {
        public kvm kvm = new();
    }

    private const int RET_PF_RETRY = 0;
    private const int RET_PF_EMULATE = 1;
    private const int RET_PF_INVALID = 2;
    private const uint PFERR_WRITE_MASK = 1U << 1;
    private const int ACC_ALL = 7;

    /* The parts of the x86 MMU the fault path calls and Kernel.Mm does not model. */
    private static bool page_fault_handle_page_track(kvm_vcpu vcpu, uint error_code, ulong gfn) => false;

    private static int fast_page_fault(kvm_vcpu vcpu, ulong gpa, uint error_code) => RET_PF_INVALID;

    private static int mmu_topup_memory_caches(kvm_vcpu vcpu, bool maybe_indirect) => 0;

    private static bool handle_abnormal_pfn(kvm_vcpu vcpu, ulong gva, ulong gfn, ulong pfn, int access, ref int r) => false;

    private static int make_mmu_pages_available(kvm_vcpu vcpu) => 0;

    private static void kvm_release_pfn_clean(ulong pfn)
    {
    }

    private static void smp_rmb() => System.Threading.Interlocked.MemoryBarrier();

    /* try_async_pf(): __gfn_to_pfn_memslot (gup on the memslot's host address), without the apf queue. */
    [LooksUpPages]
    private static bool try_async_pf(kvm_vcpu vcpu, bool prefault, ulong gfn,
                                     ulong gpa, out ulong pfn, bool write, out bool writable)
    {
        pfn = gfn;
        writable = write;
        return false;
    }

    /* kvm_mmu_hugepage_adjust(): the level from host_pfn_mapping_level(), a walk of the host page
     * tables (lookup_address_in_mm), made here with mmu_lock held. */
    private static int kvm_mmu_hugepage_adjust(kvm_vcpu vcpu, ulong gfn, int max_level, ref ulong pfn) => 1;

    /* __direct_map(): adjusts the level under mmu_lock, then installs the spte (mmu_set_spte). */
    [EstablishesSecondaryMapping]
    private static int __direct_map(kvm_vcpu vcpu, ulong gpa, uint error_code,
                                    bool map_writable, int max_level, ulong pfn,
                                    bool prefault, bool is_tdp)
    {
        ulong gfn = gpa >> PAGE_SHIFT;
        int level = kvm_mmu_hugepage_adjust(vcpu, gfn, max_level, ref pfn);
        return level > 0 ? 0 : RET_PF_RETRY;
    }

    public static int direct_page_fault(kvm_vcpu vcpu, ulong gpa, uint error_code,
                                        bool prefault, int max_level, bool is_tdp)
    {
        bool write = (error_code & PFERR_WRITE_MASK) != 0;
        bool map_writable;

        ulong gfn = gpa >> PAGE_SHIFT;
        long mmu_seq;
        ulong pfn;
        int r;

        if (page_fault_handle_page_track(vcpu, error_code, gfn))
            return RET_PF_EMULATE;

        r = fast_page_fault(vcpu, gpa, error_code);
        if (r != RET_PF_INVALID)
            return r;

        r = mmu_topup_memory_caches(vcpu, false);
        if (r != 0)
            return r;

        mmu_seq = vcpu.kvm.mmu_notifier_seq;
        smp_rmb();

        if (try_async_pf(vcpu, prefault, gfn, gpa, out pfn, write, out map_writable))
            return RET_PF_RETRY;

        if (handle_abnormal_pfn(vcpu, is_tdp ? 0 : gpa, gfn, pfn, ACC_ALL, ref r))
            return r;

        r = RET_PF_RETRY;
        spin_lock(vcpu.kvm.mmu_lock);
        if (mmu_notifier_retry(vcpu.kvm, mmu_seq) != 0)
            goto out_unlock;
        r = make_mmu_pages_available(vcpu);
        if (r != 0)
            goto out_unlock;
        r = __direct_map(vcpu, gpa, error_code, map_writable, max_level, pfn,
                         prefault, is_tdp);

    out_unlock:
        spin_unlock(vcpu.kvm.mmu_lock);
        kvm_release_pfn_clean(pfn);
        return r;
    }
}
