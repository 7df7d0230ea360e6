using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_19.Kvm;

/// <summary>
/// arch/x86/kvm/mmu.c, Linux v4.19 (read from 0x88888888/linux-4.19-comments; the owner's
/// comments are left out): the EPT/NPT fault path, the pattern seed 000 names. The sequence is
/// read (<c>kvm-&gt;mmu_notifier_seq</c>, then <c>smp_rmb</c>) before the pfn is looked up, and
/// <c>mmu_notifier_retry</c> is checked under <c>kvm-&gt;mmu_lock</c>, which is held until
/// <c>__direct_map</c> has installed the spte. Correct: no MMU012.
/// </summary>
public static class mmu
{
    public sealed class kvm_vcpu
    {
        public kvm kvm = new();
    }

    private const int RET_PF_RETRY = 0;
    private const int RET_PF_EMULATE = 1;
    private const uint PFERR_WRITE_MASK = 1U << 1;
    private const int PT_PAGE_TABLE_LEVEL = 1;
    private const int PT_DIRECTORY_LEVEL = 2;
    private const int ACC_ALL = 7;

    /* The parts of the x86 MMU the fault path calls and Kernel.Mm does not model. */
    private static bool page_fault_handle_page_track(kvm_vcpu vcpu, uint error_code, ulong gfn) => false;

    private static int mmu_topup_memory_caches(kvm_vcpu vcpu) => 0;

    private static bool check_hugepage_cache_consistency(kvm_vcpu vcpu, ulong gfn, int level) => true;

    private static int mapping_level(kvm_vcpu vcpu, ulong gfn, ref bool force_pt_level) => PT_PAGE_TABLE_LEVEL;

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

        mmu_seq = vcpu.kvm.mmu_notifier_seq;
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
