using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V4_12;

/// <summary>
/// The <c>mmu_notifier_ops</c> tables of the drivers that set <c>invalidate_page</c> before 4.13,
/// with the callbacks that decide how they may be fixed (whether they sleep), read from the
/// "update to new mmu_notifier semantic" series (Jérôme Glisse, posted 2017-08-29/31 on linux-mm,
/// merged for v4.13 together with 369ea8242c0f "mm/rmap: update to new mmu_notifier semantic v2"),
/// whose minus side is the v4.12 code: each driver patch only deleted the <c>invalidate_page</c>
/// callback and its table line. Every table here also sets a range callback (start/end, start only,
/// or <c>invalidate_range</c>), so the kernel's fix, and MMU001's, is to drop the member.
/// <c>container_of</c> is a cast: each driver's notifier derives from <c>mmu_notifier</c>.
/// Driver bodies keep their locking and what they call in the order of the C; the hardware or
/// tree work they do is a driver-local function.
/// </summary>
public static class kvm_main
{
    /* virt/kvm/kvm_main.c, v4.12 ("KVM: update to new mmu_notifier semantic", [PATCH 12/13]). */
    public sealed class kvm : mmu_notifier
    {
        public srcu_struct srcu = new();
        public spinlock_t mmu_lock = new();
        public ulong mmu_notifier_seq;
        public long mmu_notifier_count;
        public int tlbs_dirty;
    }

    private static kvm mmu_notifier_to_kvm(mmu_notifier mn) => (kvm)mn;

    private static int kvm_unmap_hva(kvm kvm, ulong hva) => 1;

    private static int kvm_unmap_hva_range(kvm kvm, ulong start, ulong end) => 1;

    private static void kvm_flush_remote_tlbs(kvm kvm) => kvm.tlbs_dirty = 0;

    private static void kvm_mmu_notifier_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);
        int need_tlb_flush, idx;

        idx = srcu_read_lock(kvm.srcu);
        spin_lock(kvm.mmu_lock);

        kvm.mmu_notifier_seq++;
        need_tlb_flush = kvm_unmap_hva(kvm, address) | kvm.tlbs_dirty;
        /* we've to flush the tlb before the pages can be freed */
        if (need_tlb_flush != 0)
            kvm_flush_remote_tlbs(kvm);

        spin_unlock(kvm.mmu_lock);

        srcu_read_unlock(kvm.srcu, idx);
    }

    private static void kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);
        int need_tlb_flush = 0, idx;

        idx = srcu_read_lock(kvm.srcu);
        spin_lock(kvm.mmu_lock);
        kvm.mmu_notifier_count++;
        need_tlb_flush = kvm_unmap_hva_range(kvm, start, end);
        need_tlb_flush |= kvm.tlbs_dirty;
        if (need_tlb_flush != 0)
            kvm_flush_remote_tlbs(kvm);

        spin_unlock(kvm.mmu_lock);
        srcu_read_unlock(kvm.srcu, idx);
    }

    private static void kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        kvm kvm = mmu_notifier_to_kvm(mn);

        spin_lock(kvm.mmu_lock);
        kvm.mmu_notifier_seq++;
        kvm.mmu_notifier_count--;
        spin_unlock(kvm.mmu_lock);
    }

    private static void kvm_mmu_notifier_release(mmu_notifier mn, mm_struct mm)
    {
    }

    /* .clear_flush_young, .clear_young, .test_young, .change_pte elided: not part of the fix. */
    public static readonly mmu_notifier_ops kvm_mmu_notifier_ops = new()
    {
        invalidate_page = kvm_mmu_notifier_invalidate_page, // expect: MMU001
        invalidate_range_start = kvm_mmu_notifier_invalidate_range_start,
        invalidate_range_end = kvm_mmu_notifier_invalidate_range_end,
        release = kvm_mmu_notifier_release,
    };
}

public static class umem_odp
{
    /* drivers/infiniband/core/umem_odp.c, v4.12 ("IB/umem: update to new mmu_notifier semantic"). */
    public sealed class ib_ucontext : mmu_notifier
    {
        public rw_semaphore umem_rwsem = new();
        public bool invalidate_range = true;
        public int notifier_count;
    }

    private static void ib_ucontext_notifier_start_account(ib_ucontext context) => context.notifier_count++;

    private static void ib_ucontext_notifier_end_account(ib_ucontext context) => context.notifier_count--;

    /* rbt_ib_umem_for_each_in_range(&context->umem_tree, start, end, trampoline, NULL) */
    private static void rbt_ib_umem_for_each_in_range(ib_ucontext context, ulong start, ulong end)
    {
    }

    private static void ib_umem_notifier_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        ib_ucontext context = (ib_ucontext)mn;

        if (!context.invalidate_range)
            return;

        ib_ucontext_notifier_start_account(context);
        down_read(context.umem_rwsem);
        rbt_ib_umem_for_each_in_range(context, address, address + PAGE_SIZE);
        up_read(context.umem_rwsem);
        ib_ucontext_notifier_end_account(context);
    }

    private static void ib_umem_notifier_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        ib_ucontext context = (ib_ucontext)mn;

        if (!context.invalidate_range)
            return;

        ib_ucontext_notifier_start_account(context);
        down_read(context.umem_rwsem);
        rbt_ib_umem_for_each_in_range(context, start, end);
        up_read(context.umem_rwsem);
    }

    private static void ib_umem_notifier_invalidate_range_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        ib_ucontext context = (ib_ucontext)mn;

        if (!context.invalidate_range)
            return;

        down_read(context.umem_rwsem);
        rbt_ib_umem_for_each_in_range(context, start, end);
        up_read(context.umem_rwsem);
        ib_ucontext_notifier_end_account(context);
    }

    private static void ib_umem_notifier_release(mmu_notifier mn, mm_struct mm)
    {
    }

    public static readonly mmu_notifier_ops ib_umem_notifiers = new()
    {
        release = ib_umem_notifier_release,
        invalidate_page = ib_umem_notifier_invalidate_page, // expect: MMU001
        invalidate_range_start = ib_umem_notifier_invalidate_range_start,
        invalidate_range_end = ib_umem_notifier_invalidate_range_end,
    };
}

public static class amdgpu_mn
{
    /* drivers/gpu/drm/amd/amdgpu/amdgpu_mn.c, v4.12 ("drm/amdgpu: update to new mmu_notifier
     * semantic"): start only, and both callbacks take rmn->lock, a mutex. */
    public sealed class amdgpu_mn_t : mmu_notifier
    {
        public mutex @lock = new();
    }

    /* interval_tree_iter_first(&rmn->objects, ...) + amdgpu_mn_invalidate_node(): waits for the BOs. */
    private static void amdgpu_mn_invalidate_nodes(amdgpu_mn_t rmn, ulong start, ulong end)
    {
    }

    private static void amdgpu_mn_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        amdgpu_mn_t rmn = (amdgpu_mn_t)mn;

        mutex_lock(rmn.@lock);

        amdgpu_mn_invalidate_nodes(rmn, address, address);

        mutex_unlock(rmn.@lock);
    }

    private static void amdgpu_mn_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        amdgpu_mn_t rmn = (amdgpu_mn_t)mn;

        /* notification is exclusive, but interval is inclusive */
        end -= 1;

        mutex_lock(rmn.@lock);

        amdgpu_mn_invalidate_nodes(rmn, start, end);

        mutex_unlock(rmn.@lock);
    }

    private static void amdgpu_mn_release(mmu_notifier mn, mm_struct mm)
    {
    }

    public static readonly mmu_notifier_ops amdgpu_mn_ops = new()
    {
        release = amdgpu_mn_release,
        invalidate_page = amdgpu_mn_invalidate_page, // expect: MMU001
        invalidate_range_start = amdgpu_mn_invalidate_range_start,   // expect: MMU011 (start only: user pages looked up after start, before the page-table update, passed the invalidation counter; the HMM conversion of 4.20/5.0 added the end)
    };
}

public static class gntdev
{
    /* drivers/xen/gntdev.c, v4.12 ("xen/gntdev: update to new mmu_notifier semantic"): start only;
     * invalidate_page calls it on one page, under priv->lock, a mutex. */
    public sealed class gntdev_priv : mmu_notifier
    {
        public mutex @lock = new();
    }

    /* list_for_each_entry(map, &priv->maps / &priv->freeable_maps, next) unmap_if_in_range(map, start, end); */
    private static void unmap_maps_in_range(gntdev_priv priv, ulong start, ulong end)
    {
    }

    private static void mn_invl_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        gntdev_priv priv = (gntdev_priv)mn;

        mutex_lock(priv.@lock);
        unmap_maps_in_range(priv, start, end);
        mutex_unlock(priv.@lock);
    }

    private static void mn_invl_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        mn_invl_range_start(mn, mm, address, address + PAGE_SIZE);
    }

    private static void mn_release(mmu_notifier mn, mm_struct mm)
    {
    }

    public static readonly mmu_notifier_ops gntdev_mmu_ops = new()
    {
        release = mn_release,
        invalidate_page = mn_invl_page, // expect: MMU001
        invalidate_range_start = mn_invl_range_start,   // known false finding: MMU011 (no fault path re-establishes a grant mapping; the rule cannot see that)
    };
}

public static class amd_iommu_v2
{
    /* drivers/iommu/amd_iommu_v2.c, v4.12 ("iommu/amd: update to new mmu_notifier semantic"):
     * invalidate_range, flushing the IOTLB under the device's spinlock, never sleeps. */
    public sealed class pasid_state : mmu_notifier
    {
        public spinlock_t iommu_lock = new();
        public int pasid;
    }

    /* amd_iommu_flush_page(dev_state->domain, pasid_state->pasid, address) */
    private static void amd_iommu_flush_page(pasid_state pasid_state, ulong address)
    {
        spin_lock(pasid_state.iommu_lock);
        spin_unlock(pasid_state.iommu_lock);
    }

    private static void __mn_flush_page(mmu_notifier mn, ulong address)
    {
        amd_iommu_flush_page((pasid_state)mn, address);
    }

    private static int mn_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        for (; start < end; start += PAGE_SIZE)
            __mn_flush_page(mn, start);

        return 0;
    }

    private static void mn_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        __mn_flush_page(mn, address);
    }

    private static void mn_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        if ((start ^ (end - 1)) < PAGE_SIZE)
            amd_iommu_flush_page((pasid_state)mn, start);
        else
            amd_iommu_flush_page((pasid_state)mn, 0); /* amd_iommu_flush_tlb(dev_state->domain, pasid) */
    }

    private static void mn_release(mmu_notifier mn, mm_struct mm)
    {
    }

    public static readonly mmu_notifier_ops iommu_mn = new()
    {
        release = mn_release,
        clear_flush_young = mn_clear_flush_young,
        invalidate_page = mn_invalidate_page, // expect: MMU001
        invalidate_range = mn_invalidate_range,
    };
}

public static class intel_svm
{
    /* drivers/iommu/intel-svm.c, v4.12 ("iommu/intel: update to new mmu_notifier semantic"). */
    public sealed class intel_svm_t : mmu_notifier
    {
        public int pasid;
    }

    /* Queues a PASID-based IOTLB (and device TLB) invalidation descriptor; rcu, no sleep. */
    private static void intel_flush_svm_range(intel_svm_t svm, ulong address, ulong pages, int ih, int gl)
    {
        rcu_read_lock();
        rcu_read_unlock();
    }

    private static void intel_change_pte(mmu_notifier mn, mm_struct mm, ulong address, pte_t pte)
    {
        intel_svm_t svm = (intel_svm_t)mn;

        intel_flush_svm_range(svm, address, 1, 1, 0);
    }

    private static void intel_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        intel_svm_t svm = (intel_svm_t)mn;

        intel_flush_svm_range(svm, address, 1, 1, 0);
    }

    /* Pages have been freed at this point */
    private static void intel_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        intel_svm_t svm = (intel_svm_t)mn;

        intel_flush_svm_range(svm, start, (end - start + PAGE_SIZE - 1) >> PAGE_SHIFT, 0, 0);
    }

    private static void intel_mm_release(mmu_notifier mn, mm_struct mm)
    {
    }

    public static readonly mmu_notifier_ops intel_mmuops = new()
    {
        release = intel_mm_release,
        change_pte = intel_change_pte,
        invalidate_page = intel_invalidate_page, // expect: MMU001
        invalidate_range = intel_invalidate_range,
    };
}

public static class npu_dma
{
    /* arch/powerpc/platforms/powernv/npu-dma.c, v4.12 ("powerpc/powernv: update to new
     * mmu_notifier semantic"). */
    public sealed class npu_context : mmu_notifier
    {
    }

    /* Writes the ATSD launch registers of each NPU and waits on them: mmio, no sleep. */
    private static void mmio_invalidate(npu_context npu_context, int va, ulong address, bool flush)
    {
    }

    private static void pnv_npu2_mn_change_pte(mmu_notifier mn, mm_struct mm, ulong address, pte_t pte)
    {
        mmio_invalidate((npu_context)mn, 1, address, true);
    }

    private static void pnv_npu2_mn_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        mmio_invalidate((npu_context)mn, 1, address, true);
    }

    private static void pnv_npu2_mn_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        npu_context npu_context = (npu_context)mn;
        ulong address;

        for (address = start; address < end; address += PAGE_SIZE)
            mmio_invalidate(npu_context, 1, address, false);

        /* Do the flush only on the final addess == end */
        mmio_invalidate(npu_context, 1, address, true);
    }

    private static void pnv_npu2_mn_release(mmu_notifier mn, mm_struct mm)
    {
    }

    public static readonly mmu_notifier_ops nv_nmmu_notifier_ops = new()
    {
        release = pnv_npu2_mn_release,
        change_pte = pnv_npu2_mn_change_pte,
        invalidate_page = pnv_npu2_mn_invalidate_page, // expect: MMU001
        invalidate_range = pnv_npu2_mn_invalidate_range,
    };
}

public static class amd_iommu_v2_v3_6
{
    /* drivers/iommu/amd_iommu_v2.c, v3.6 (read from New-B/Linux3.6): before invalidate_range
     * existed (v3.19) the driver switched the device to an empty page table in start and back in
     * end; invalidate_page flushed one page. v3.6's clear_flush_young took one address; the 4.x
     * delegate takes [start, end). */
    public sealed class pasid_state : mmu_notifier
    {
        public spinlock_t iommu_lock = new();
        public ulong gcr3;
    }

    private static void __mn_flush_page(mmu_notifier mn, ulong address)
    {
        pasid_state pasid_state = (pasid_state)mn;

        spin_lock(pasid_state.iommu_lock); /* amd_iommu_flush_page() */
        spin_unlock(pasid_state.iommu_lock);
    }

    private static int mn_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        __mn_flush_page(mn, start);

        return 0;
    }

    private static void mn_change_pte(mmu_notifier mn, mm_struct mm, ulong address, pte_t pte)
    {
        __mn_flush_page(mn, address);
    }

    private static void mn_invalidate_page(mmu_notifier mn, mm_struct mm, ulong address)
    {
        __mn_flush_page(mn, address);
    }

    private static void mn_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        pasid_state pasid_state = (pasid_state)mn;

        pasid_state.gcr3 = 0; /* amd_iommu_domain_set_gcr3(..., __pa(empty_page_table)) */
    }

    private static void mn_invalidate_range_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        pasid_state pasid_state = (pasid_state)mn;

        pasid_state.gcr3 = 1; /* amd_iommu_domain_set_gcr3(..., __pa(pasid_state->mm->pgd)) */
    }

    public static readonly mmu_notifier_ops iommu_mn = new()
    {
        clear_flush_young = mn_clear_flush_young,
        change_pte = mn_change_pte,
        invalidate_page = mn_invalidate_page, // expect: MMU001
        invalidate_range_start = mn_invalidate_range_start,
        invalidate_range_end = mn_invalidate_range_end,
    };
}
