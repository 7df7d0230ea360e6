using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace FixCorpus.V4_14;

/// <summary>
/// virt/kvm/kvm_main.c, Linux v4.14: KVM's MMU-notifier callbacks and ops table, after
/// 369ea8242c0f (v4.13) removed <c>->invalidate_page</c> (KVM relies on start/end, and on
/// <c>change_pte</c> only as a hint inside them). Correct form for every rule here: the callbacks
/// take <c>kvm->mmu_lock</c>, a spinlock, and call nothing that sleeps under it; start/end may
/// sleep outside it (the SRCU read side). The shadow-page-table work (kvm_unmap_hva_range,
/// kvm_age_hva, kvm_set_spte_hva, ...) is arch code, stubbed. Ported from that release's mainline
/// source; no stored copy of the file at that version was read for it (the index holds none), so
/// the C may differ in comments and layout.
/// </summary>
public static class kvm_main
{
    public sealed class kvm : mmu_notifier
    {
        public readonly spinlock_t mmu_lock = new();
        public readonly srcu_struct srcu = new();
        public long mmu_notifier_seq;
        public long mmu_notifier_count;
        public long tlbs_dirty;
    }

    /* mmu_notifier_to_kvm(): container_of(mn, struct kvm, mmu_notifier). */
    private static kvm mmu_notifier_to_kvm(mmu_notifier mn) => (kvm)mn;

    /* kvm_unmap_hva_range()/kvm_age_hva()/kvm_set_spte_hva(): the arch's shadow page tables (x86 mmu.c); none modelled. */
    private static int kvm_unmap_hva_range(kvm kvm, ulong start, ulong end) => 0;

    private static int kvm_age_hva(kvm kvm, ulong start, ulong end) => 0;

    private static void kvm_set_spte_hva(kvm kvm, ulong hva, pte_t pte)
    {
    }

    /* kvm_flush_remote_tlbs(): IPIs every vCPU to flush its TLB; waits for none here. */
    private static void kvm_flush_remote_tlbs(kvm kvm)
    {
    }

    /* kvm_arch_mmu_notifier_invalidate_range(): x86's APIC-access page reload; nothing to do. */
    private static void kvm_arch_mmu_notifier_invalidate_range(kvm kvm, ulong start, ulong end)
    {
    }

    /* kvm_arch_flush_shadow_all(): drops every shadow page. */
    private static void kvm_arch_flush_shadow_all(kvm kvm)
    {
    }

    private static void kvm_mmu_notifier_change_pte(mmu_notifier mn,
                                                    mm_struct mm,
                                                    ulong address,
                                                    pte_t pte)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);
        int idx;

        idx = srcu_read_lock(kvm.srcu);
        spin_lock(kvm.mmu_lock);
        kvm.mmu_notifier_seq++;
        kvm_set_spte_hva(kvm, address, pte);
        spin_unlock(kvm.mmu_lock);
        srcu_read_unlock(kvm.srcu, idx);
    }

    private static void kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn,
                                                                mm_struct mm,
                                                                ulong start,
                                                                ulong end)
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
        need_tlb_flush = kvm_unmap_hva_range(kvm, start, end);
        need_tlb_flush |= (int)kvm.tlbs_dirty;
        /* we've to flush the tlb before the pages can be freed */
        if (need_tlb_flush != 0)
            kvm_flush_remote_tlbs(kvm);

        spin_unlock(kvm.mmu_lock);

        kvm_arch_mmu_notifier_invalidate_range(kvm, start, end);

        srcu_read_unlock(kvm.srcu, idx);
    }

    private static void kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn,
                                                              mm_struct mm,
                                                              ulong start,
                                                              ulong end)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);

        spin_lock(kvm.mmu_lock);
        /*
         * This sequence increase will notify the kvm page fault that
         * the page that is going to be mapped in the spte could have
         * been freed.
         */
        kvm.mmu_notifier_seq++;
        smp_wmb();
        /*
         * The above sequence increase must be visible before the
         * below count decrease, which is ensured by the smp_wmb above
         * in conjunction with the smp_rmb in mmu_notifier_retry().
         */
        kvm.mmu_notifier_count--;
        spin_unlock(kvm.mmu_lock);

        BUG_ON(kvm.mmu_notifier_count < 0);
    }

    private static int kvm_mmu_notifier_clear_flush_young(mmu_notifier mn,
                                                          mm_struct mm,
                                                          ulong start,
                                                          ulong end)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);
        int young, idx;

        idx = srcu_read_lock(kvm.srcu);
        spin_lock(kvm.mmu_lock);

        young = kvm_age_hva(kvm, start, end);
        if (young != 0)
            kvm_flush_remote_tlbs(kvm);

        spin_unlock(kvm.mmu_lock);
        srcu_read_unlock(kvm.srcu, idx);

        return young;
    }

    private static void kvm_mmu_notifier_release(mmu_notifier mn,
                                                 mm_struct mm)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);
        int idx;

        idx = srcu_read_lock(kvm.srcu);
        kvm_arch_flush_shadow_all(kvm);
        srcu_read_unlock(kvm.srcu, idx);
    }

    public static readonly mmu_notifier_ops kvm_mmu_notifier_ops = new()
    {
        invalidate_range_start = kvm_mmu_notifier_invalidate_range_start,
        invalidate_range_end = kvm_mmu_notifier_invalidate_range_end,
        clear_flush_young = kvm_mmu_notifier_clear_flush_young,
        change_pte = kvm_mmu_notifier_change_pte,
        release = kvm_mmu_notifier_release,
    };
}
