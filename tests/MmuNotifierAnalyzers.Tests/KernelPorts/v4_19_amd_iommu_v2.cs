using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V4_19;

/// <summary>
/// drivers/iommu/amd_iommu_v2.c of the v4.19 era (vm_fault_t in do_fault, v4.17+;
/// translation_pre_enabled, v4.18+; still mmap_sem; read from the search index, file id 9904011).
/// The IOMMU shares the CPU page table, so its table sets ->invalidate_range and no start/end, the
/// model since e7cc3dd48a5c ("iommu/amd: Use new invalidate_range mmu-notifier", v3.19): MMU011 stays
/// silent. Registration is correct too (MMU015 silent): amd_iommu_bind_pasid registers with
/// mmu_notifier_register and no mmap_sem held, and every mmu_notifier_unregister is outside the
/// callbacks; ->release (mn_release) only invalidates the PASID (unbind_pasid) and leaves the
/// unregister to amd_iommu_unbind_pasid. Device state, the IOMMU commands and the PASID tables are
/// stubs or C# collections.
/// </summary>
public static class amd_iommu_v2
{
    private const int EINVAL = 22, ENOMEM = 12;

    public sealed class device_state
    {
        public int max_pasids;
        public readonly Dictionary<int, pasid_state> states = new();
        public System.Action<int>? inv_ctx_cb;
    }

    public sealed class pasid_state : mmu_notifier
    {
        public mm_struct? mm;
        public device_state device_state = null!;
        public int pasid;
        public bool invalid;
        public int count;
    }

    private static readonly Dictionary<int, device_state> state_list = new();

    /* The IOMMU commands and the PPR work queue: not modelled. */
    private static void amd_iommu_flush_page(device_state dev_state, int pasid, ulong address)
    {
    }

    private static void amd_iommu_flush_tlb(device_state dev_state, int pasid)
    {
    }

    private static void amd_iommu_domain_clear_gcr3(device_state dev_state, int pasid)
    {
    }

    private static int amd_iommu_domain_set_gcr3(device_state dev_state, int pasid, mm_struct mm) => 0;

    private static void flush_workqueue()
    {
    }

    private static device_state? get_device_state(int devid) => state_list.TryGetValue(devid, out var s) ? s : null;

    private static void put_device_state(device_state dev_state)
    {
    }

    private static int set_pasid_state(device_state dev_state, pasid_state pasid_state, int pasid)
    {
        if (dev_state.states.ContainsKey(pasid))
            return -ENOMEM;
        dev_state.states[pasid] = pasid_state;
        return 0;
    }

    private static void clear_pasid_state(device_state dev_state, int pasid) => dev_state.states.Remove(pasid);

    private static pasid_state? get_pasid_state(device_state dev_state, int pasid)
    {
        if (!dev_state.states.TryGetValue(pasid, out var ret))
            return null;
        ret.count++;
        return ret;
    }

    private static void put_pasid_state(pasid_state pasid_state) => pasid_state.count--;

    /* put_pasid_state_wait(): waits until the count drops to zero, then frees. */
    private static void put_pasid_state_wait(pasid_state pasid_state) => pasid_state.count--;

    private static void unbind_pasid(pasid_state pasid_state)
    {
        /*
         * Mark pasid_state as invalid, no more faults will we added to the
         * work queue after this is visible everywhere.
         */
        pasid_state.invalid = true;

        /* After this the device/pasid can't access the mm anymore */
        amd_iommu_domain_clear_gcr3(pasid_state.device_state, pasid_state.pasid);

        /* Make sure no more pending faults are in the queue */
        flush_workqueue();
    }

    private static pasid_state mn_to_state(mmu_notifier mn) => (pasid_state)mn;

    private static void __mn_flush_page(mmu_notifier mn, ulong address)
    {
        pasid_state pasid_state = mn_to_state(mn);
        device_state dev_state = pasid_state.device_state;

        amd_iommu_flush_page(dev_state, pasid_state.pasid, address);
    }

    private static int mn_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        for (; start < end; start += PAGE_SIZE)
            __mn_flush_page(mn, start);

        return 0;
    }

    private static void mn_invalidate_range(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        pasid_state pasid_state = mn_to_state(mn);
        device_state dev_state = pasid_state.device_state;

        if ((start ^ (end - 1)) < PAGE_SIZE)
            amd_iommu_flush_page(dev_state, pasid_state.pasid, start);
        else
            amd_iommu_flush_tlb(dev_state, pasid_state.pasid);
    }

    private static void mn_release(mmu_notifier mn, mm_struct mm)
    {
        pasid_state pasid_state;
        device_state dev_state;
        bool run_inv_ctx_cb;

        might_sleep();

        pasid_state = mn_to_state(mn);
        dev_state = pasid_state.device_state;
        run_inv_ctx_cb = !pasid_state.invalid;

        if (run_inv_ctx_cb && dev_state.inv_ctx_cb != null)
            dev_state.inv_ctx_cb(pasid_state.pasid);

        unbind_pasid(pasid_state); // no finding: invalidates the PASID, does not unregister
    }

    public static readonly mmu_notifier_ops iommu_mn = new()
    {
        release = mn_release,
        clear_flush_young = mn_clear_flush_young,
        invalidate_range = mn_invalidate_range, // no finding: one model, no start/end
    };

    public static int amd_iommu_bind_pasid(int devid, int pasid, mm_struct task_mm)
    {
        pasid_state pasid_state;
        device_state? dev_state;
        mm_struct mm;
        int ret;

        might_sleep();

        dev_state = get_device_state(devid);

        if (dev_state == null)
            return -EINVAL;

        ret = -EINVAL;
        if (pasid < 0 || pasid >= dev_state.max_pasids)
            goto @out;

        mm = task_mm;                  /* get_task_mm(task) */
        mmget(mm);
        pasid_state = new pasid_state { ops = iommu_mn };
        pasid_state.count = 1;
        pasid_state.mm = mm;
        pasid_state.device_state = dev_state;
        pasid_state.pasid = pasid;
        pasid_state.invalid = true; /* Mark as valid only if we are
                                       done with setting up the pasid */

        mmu_notifier_register(pasid_state, mm); // no finding: no mmap_sem held here

        ret = set_pasid_state(dev_state, pasid_state, pasid);
        if (ret != 0)
            goto out_unregister;

        ret = amd_iommu_domain_set_gcr3(dev_state, pasid, pasid_state.mm);
        if (ret != 0)
            goto out_clear_state;

        /* Now we are ready to handle faults */
        pasid_state.invalid = false;

        /*
         * Drop the reference to the mm_struct here. We rely on the
         * mmu_notifier release call-back to inform us when the mm
         * is going away.
         */
        mmput(mm);

        return 0;

    out_clear_state:
        clear_pasid_state(dev_state, pasid);

    out_unregister:
        mmu_notifier_unregister(pasid_state, mm); // no finding: the caller's error path, not a callback
        mmput(mm);

    @out:
        put_device_state(dev_state);

        return ret;
    }

    public static void amd_iommu_unbind_pasid(int devid, int pasid)
    {
        pasid_state? pasid_state;
        device_state? dev_state;

        might_sleep();

        dev_state = get_device_state(devid);
        if (dev_state == null)
            return;

        if (pasid < 0 || pasid >= dev_state.max_pasids)
            goto @out;

        pasid_state = get_pasid_state(dev_state, pasid);
        if (pasid_state == null)
            goto @out;
        /*
         * Drop reference taken here. We are safe because we still hold
         * the reference taken in the amd_iommu_bind_pasid function.
         */
        put_pasid_state(pasid_state);

        /* Clear the pasid state so that the pasid can be re-used */
        clear_pasid_state(dev_state, pasid_state.pasid);

        /*
         * Call mmu_notifier_unregister to drop our reference
         * to pasid_state->mm
         */
        mmu_notifier_unregister(pasid_state, pasid_state.mm!); // no finding: driver unbind path

        put_pasid_state_wait(pasid_state); /* Reference taken in
                                              amd_iommu_bind_pasid */
    @out:
        /* Drop reference taken in this function */
        put_device_state(dev_state);

        /* Drop reference taken in amd_iommu_bind_pasid */
        put_device_state(dev_state);
    }
}
