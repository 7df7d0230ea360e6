using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V6_4.RiscvKvm;

/// <summary>
/// arch/riscv/kvm/mmu.c, <c>kvm_riscv_gstage_map</c> as "KVM: RISC-V: Retry fault if vma_lookup()
/// results become invalid" (2ed90cb0938a, David Matlack, v6.4, Cc stable; posted as
/// 20230317211106.1234484-1-dmatlack@google.com, on v6.3-rc2: <c>vma_lookup</c>,
/// <c>PUD_SIZE</c>) left it: the MMU cache top-up moved first, and <c>mmu_invalidate_seq</c> read
/// before <c>mmap_read_unlock</c>, "so that KVM can detect if the results of vma_lookup() or
/// gfn_to_pfn_prot() become stale" (the VMA cannot change while <c>mmap_lock</c> is held).
/// The buggy form is v6_2_riscv_kvm_mmu.cs. Correct: no MMU012. Kernel.Mm names: 6.1's
/// <c>mmu_invalidate_seq</c> / <c>mmu_invalidate_retry</c> are Kernel.Mm's
/// <c>mmu_notifier_seq</c> / <c>mmu_notifier_retry</c>; <c>mmap_read_lock(mm)</c> is
/// <c>down_read(mm-&gt;mmap_lock)</c>.
/// </summary>
public static class mmu
{
    public sealed class kvm_vcpu
    {
        public kvm kvm = new();
        public object mmu_page_table_cache = new();
        public mm_struct mm = null!;  /* current->mm */
    }

    public sealed class kvm_memory_slot
    {
        public object? dirty_bitmap;
        public uint flags;
    }

    private const uint KVM_MEM_READONLY = 1U << 1;
    private const ulong KVM_PFN_ERR_HWPOISON = ulong.MaxValue - 1;
    private static readonly int gstage_pgd_levels = 3;

    private static short huge_page_shift(hstate h) => (short)(PAGE_SHIFT + (int)huge_page_order(h));

    private static int kvm_mmu_topup_memory_cache(object mc, int min) => 0;

    /* gfn_to_pfn_prot(): the host pfn of a guest frame, faulting it in (virt/kvm/kvm_main.c). */
    [LooksUpPages]
    private static ulong gfn_to_pfn_prot(kvm kvm, ulong gfn, bool write_fault, out bool writable)
    {
        writable = write_fault;
        return gfn;
    }

    private static bool is_error_noslot_pfn(ulong pfn) => pfn >= KVM_PFN_ERR_HWPOISON;

    private static void send_sig_mceerr(ulong hva, short lsb)
    {
    }

    /* gstage_map_page(): writes the G-stage (stage-2) page table entry for gpa. */
    [EstablishesSecondaryMapping]
    private static int gstage_map_page(kvm kvm, object pcache, ulong gpa, ulong hpa, ulong page_size, bool page_rdonly, bool page_exec) => 0;

    private static void kvm_set_pfn_dirty(ulong pfn)
    {
    }

    private static void mark_page_dirty(kvm kvm, ulong gfn)
    {
    }

    private static void kvm_set_pfn_accessed(ulong pfn)
    {
    }

    private static void kvm_release_pfn_clean(ulong pfn)
    {
    }

    private static void kvm_err(string message)
    {
    }

    public static int kvm_riscv_gstage_map(kvm_vcpu vcpu,
                                           kvm_memory_slot memslot,
                                           ulong gpa, ulong hva, bool is_write)
    {
        int ret;
        ulong hfn;
        bool writable;
        short vma_pageshift;
        ulong gfn = gpa >> PAGE_SHIFT;
        vm_area_struct? vma;
        kvm kvm = vcpu.kvm;
        object pcache = vcpu.mmu_page_table_cache;
        bool logging = (memslot.dirty_bitmap != null &&
                        (memslot.flags & KVM_MEM_READONLY) == 0) ? true : false;
        ulong vma_pagesize;
        long mmu_seq;

        /* We need minimum second+third level pages */
        ret = kvm_mmu_topup_memory_cache(pcache, gstage_pgd_levels);
        if (ret != 0)
        {
            kvm_err("Failed to topup G-stage cache\n");
            return ret;
        }

        down_read(vcpu.mm.mmap_lock);

        vma = vma_lookup(vcpu.mm, hva);
        if (unlikely(vma == null))
        {
            kvm_err("Failed to find VMA for hva");
            up_read(vcpu.mm.mmap_lock);
            return -EFAULT;
        }

        if (is_vm_hugetlb_page(vma))
            vma_pageshift = huge_page_shift(hstate_vma(vma));
        else
            vma_pageshift = PAGE_SHIFT;
        vma_pagesize = 1UL << vma_pageshift;
        if (logging || (vma.vm_flags & VM_PFNMAP) != 0)
            vma_pagesize = PAGE_SIZE;

        if (vma_pagesize == PMD_SIZE || vma_pagesize == PUD_SIZE)
            gfn = (gpa & huge_page_mask(hstate_vma(vma))) >> PAGE_SHIFT;

        /*
         * Read mmu_invalidate_seq so that KVM can detect if the results of
         * vma_lookup() or gfn_to_pfn_prot() become stale priort to acquiring
         * kvm->mmu_lock.
         *
         * Rely on mmap_read_unlock() for an implicit smp_rmb(), which pairs
         * with the smp_wmb() in kvm_mmu_invalidate_end().
         */
        mmu_seq = kvm.mmu_notifier_seq;
        up_read(vcpu.mm.mmap_lock);

        if (vma_pagesize != PUD_SIZE &&
            vma_pagesize != PMD_SIZE &&
            vma_pagesize != PAGE_SIZE)
        {
            kvm_err("Invalid VMA page size");
            return -EFAULT;
        }

        hfn = gfn_to_pfn_prot(kvm, gfn, is_write, out writable);
        if (hfn == KVM_PFN_ERR_HWPOISON)
        {
            send_sig_mceerr(hva, vma_pageshift);
            return 0;
        }
        if (is_error_noslot_pfn(hfn))
            return -EFAULT;

        /*
         * If logging is active then we allow writable pages only
         * for write faults.
         */
        if (logging && !is_write)
            writable = false;

        spin_lock(kvm.mmu_lock);

        if (mmu_notifier_retry(kvm, mmu_seq) != 0)
            goto out_unlock;

        if (writable)
        {
            kvm_set_pfn_dirty(hfn);
            mark_page_dirty(kvm, gfn);
            ret = gstage_map_page(kvm, pcache, gpa, hfn << PAGE_SHIFT,
                                  vma_pagesize, false, true);
        }
        else
        {
            ret = gstage_map_page(kvm, pcache, gpa, hfn << PAGE_SHIFT,
                                  vma_pagesize, true, true);
        }

        if (ret != 0)
            kvm_err("Failed to map in G-stage\n");

    out_unlock:
        spin_unlock(kvm.mmu_lock);
        kvm_set_pfn_accessed(hfn);
        kvm_release_pfn_clean(hfn);
        return ret;
    }
}
