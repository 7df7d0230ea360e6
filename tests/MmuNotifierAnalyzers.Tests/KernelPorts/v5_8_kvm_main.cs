using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_8;

/// <summary>
/// virt/kvm/kvm_main.c, Linux v5.8: KVM's MMU-notifier callbacks and ops table as e649b3f0188f ("KVM:
/// x86: Fix APIC page invalidation race", v5.8-rc1, Eiichi Tsukata; read as its 5.6-stable backport
/// "[PATCH 5.6 059/161]", whose diff shows every line ported here) left them: the APIC-access-page
/// reload moved from ->invalidate_range_start into a new ->invalidate_range, so KVM's table set
/// invalidate_range next to its start/end pair, the mix seed 003 says a notifier must not have
/// ("either ->invalidate_range or the invalidate_range_start/end methods, not both"). Sean
/// Christopherson removed it again in v6.5 (v6_5_kvm_main.cs). The struct kvm fields the callbacks
/// touch are modelled; kvm_unmap_hva_range and the arch hook are stubs.
/// </summary>
public static class kvm_main
{
    /* struct kvm: the fields these callbacks use. */
    public sealed class kvm
    {
        public readonly srcu_struct srcu = new();
        public readonly spinlock_t mmu_lock = new("kvm->mmu_lock");
        public long mmu_notifier_seq;
        public long mmu_notifier_count;
        public long tlbs_dirty;
        public readonly kvm_mmu_notifier mmu_notifier;

        public kvm() => mmu_notifier = new kvm_mmu_notifier(this) { ops = kvm_mmu_notifier_ops };
    }

    /* the struct mmu_notifier embedded in struct kvm (container_of). */
    public sealed class kvm_mmu_notifier : mmu_notifier
    {
        public kvm_mmu_notifier(kvm kvm) => this.kvm = kvm;

        public kvm kvm { get; }
    }

    /* kvm_unmap_hva_range(): zaps the sptes of [start, end); the arch MMU is not ported. */
    private static int kvm_unmap_hva_range(kvm kvm, ulong start, ulong end) => 0;

    /* kvm_flush_remote_tlbs(): kicks every vCPU; not modelled. */
    private static void kvm_flush_remote_tlbs(kvm kvm)
    {
    }

    /* kvm_arch_mmu_notifier_invalidate_range(): x86 requests KVM_REQ_APIC_PAGE_RELOAD when the range holds the APIC-access page. */
    private static void kvm_arch_mmu_notifier_invalidate_range(kvm kvm, ulong start, ulong end)
    {
    }

    private static kvm mmu_notifier_to_kvm(mmu_notifier mn) => ((kvm_mmu_notifier)mn).kvm;

    private static void kvm_mmu_notifier_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);
        int idx;

        idx = srcu_read_lock(kvm.srcu);
        kvm_arch_mmu_notifier_invalidate_range(kvm, start, end);
        srcu_read_unlock(kvm.srcu, idx);
    }

    private static int kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);
        int need_tlb_flush = 0, idx;

        idx = srcu_read_lock(kvm.srcu);
        spin_lock(kvm.mmu_lock);
        /*
         * The count increase must become visible at unlock time as no
         * spte can be established without taking the mmu_lock and
         * count is also read inside the mmu_lock critical section.
         */
        kvm.mmu_notifier_count++;
        need_tlb_flush = kvm_unmap_hva_range(kvm, range.start, range.end);
        need_tlb_flush |= (int)kvm.tlbs_dirty;
        /* we've to flush the tlb before the pages can be freed */
        if (need_tlb_flush != 0)
            kvm_flush_remote_tlbs(kvm);

        spin_unlock(kvm.mmu_lock);
        srcu_read_unlock(kvm.srcu, idx);

        return 0;
    }

    private static void kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);

        spin_lock(kvm.mmu_lock);
        /*
         * This sequence increase will notify the kvm page fault that
         * the page that is going to be mapped in the spte could have
         * been freed.
         */
        kvm.mmu_notifier_seq++;
        /*
         * The above sequence increase must be visible before the
         * below count decrease, which is ensured by the smp_wmb above
         * in conjunction with the smp_rmb in mmu_notifier_retry().
         */
        kvm.mmu_notifier_count--;
        spin_unlock(kvm.mmu_lock);
    }

    public static int kvm_init_mmu_notifier(kvm kvm, mm_struct current_mm)
    {
        return mmu_notifier_register(kvm.mmu_notifier, current_mm); // no finding: kvm_create_vm holds no mmap_sem
    }

    /* kvm_destroy_vm()'s notifier teardown: outside every callback. */
    public static void kvm_destroy_vm_notifier(kvm kvm, mm_struct mm)
    {
        mmu_notifier_unregister(kvm.mmu_notifier, mm); // no finding: not reached from a callback
    }

    public static readonly mmu_notifier_ops kvm_mmu_notifier_ops = new()
    {
        invalidate_range = kvm_mmu_notifier_invalidate_range, // expect: MMU011
        invalidate_range_start_range = kvm_mmu_notifier_invalidate_range_start,
        invalidate_range_end_range = kvm_mmu_notifier_invalidate_range_end,
    };
}
