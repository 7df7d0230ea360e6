using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V6_5;

/// <summary>
/// virt/kvm/kvm_main.c, Linux v6.5: the fixed form of v5_8_kvm_main.cs. "KVM: x86: Use standard
/// mmu_notifier invalidate hooks for APIC access page" (Sean Christopherson, v6.5; read as the posted
/// "[PATCH 2/3]" with Alistair Popple's review, 2023-06-06) deleted kvm_mmu_notifier_invalidate_range
/// and the table's <c>.invalidate_range</c>, moving the APIC-access-page reload into the start path
/// (kvm_unmap_gfn_range), so KVM implements the start/end model only. The 6.5 callbacks go through
/// kvm_handle_hva_range / kvm_mmu_invalidate_begin/_end; they are kept here in their 5.8 shape (the
/// same count-and-sequence scheme), since the table is what the commit changed.
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

    private static kvm mmu_notifier_to_kvm(mmu_notifier mn) => ((kvm_mmu_notifier)mn).kvm;

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

    public static readonly mmu_notifier_ops kvm_mmu_notifier_ops = new()
    {
        invalidate_range_start_range = kvm_mmu_notifier_invalidate_range_start,
        invalidate_range_end_range = kvm_mmu_notifier_invalidate_range_end,
    };
}
