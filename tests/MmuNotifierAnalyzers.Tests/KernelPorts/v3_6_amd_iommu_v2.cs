using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V3_6;

/// <summary>
/// drivers/iommu/amd_iommu_v2.c of v3.6 (read from New-B/Linux3.6 b5154d3e5bc2, the whole file;
/// its Makefile says VERSION 3, PATCHLEVEL 6, SUBLEVEL 0, EXTRAVERSION -replication, and this file
/// has none of that tree's changes). The form before the v3.17 rework, and correct for MMU015:
/// __unbind_pasid calls mmu_notifier_unregister, but its iommu_mn table
/// (<c>KernelPorts.V4_12.amd_iommu_v2_v3_6.iommu_mn</c>) has no ->release, and the teardown on
/// process exit runs from task_exit, a PROFILE_TASK_EXIT notifier_block, not from an mmu_notifier
/// callback: none of the three paths into the unregister (task_exit, amd_iommu_unbind_pasid,
/// amd_iommu_free_device) is inside the notifier's SRCU read side. A later rework made ->release
/// (mn_release) call unbind_pasid, which by then no longer unregistered (<c>v4_19_amd_iommu_v2.cs</c>
/// is that form). A tree holding a form in between, mn_release reaching this
/// mmu_notifier_unregister, was not found (see README.md).
/// Device state, the IOMMU commands and the PASID tables are stubs or C# collections.
/// </summary>
public static class amd_iommu_v2
{
    private const int EINVAL = 22, ENOMEM = 12;
    private const int NOTIFY_OK = 1;

    public sealed class device_state
    {
        public int count;
        public int max_pasids;
        public readonly Dictionary<int, pasid_state> states = new();
        public System.Action<int>? inv_ctx_cb;
    }

    public sealed class pasid_state : mmu_notifier
    {
        public int count;                   /* Reference count */
        public task_struct? task;           /* Task bound to this PASID */
        public mm_struct? mm;               /* mm_struct for the faults */
        public device_state device_state = null!;
        public int pasid;
    }

    /* include/linux/notifier.h: the profile_event_register() hook task_exit hangs on. */
    public sealed class notifier_block
    {
        public System.Func<notifier_block, ulong, task_struct, int>? notifier_call;
    }

    private static readonly Dictionary<int, device_state> state_table = new();

    /* List and lock for all pasid_states */
    private static readonly List<pasid_state> pasid_state_list = new();
    private static readonly spinlock_t ps_lock = new();

    public static readonly notifier_block profile_nb = new()
    {
        notifier_call = task_exit,
    };

    /* The IOMMU commands and the PPR work queue: not modelled. */
    private static void amd_iommu_domain_clear_gcr3(device_state dev_state, int pasid)
    {
    }

    private static int amd_iommu_domain_set_gcr3(device_state dev_state, int pasid, mm_struct mm) => 0;

    private static void flush_workqueue()
    {
    }

    private static device_state? get_device_state(int devid)
    {
        if (!state_table.TryGetValue(devid, out var dev_state))
            return null;
        dev_state.count++;
        return dev_state;
    }

    private static void put_device_state(device_state dev_state) => dev_state.count--;

    private static void link_pasid_state(pasid_state pasid_state)
    {
        spin_lock(ps_lock);
        pasid_state_list.Add(pasid_state);
        spin_unlock(ps_lock);
    }

    private static void unlink_pasid_state(pasid_state pasid_state)
    {
        spin_lock(ps_lock);
        pasid_state_list.Remove(pasid_state);
        spin_unlock(ps_lock);
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

    private static void put_pasid_state(pasid_state pasid_state)
    {
        if (--pasid_state.count == 0)
            put_device_state(pasid_state.device_state);
    }

    /* Waits until the count drops to zero, then drops the mm and frees. */
    private static void put_pasid_state_wait(pasid_state pasid_state)
    {
        if (--pasid_state.count == 0)
            put_device_state(pasid_state.device_state);

        mmput(pasid_state.mm!);
    }

    private static void __unbind_pasid(pasid_state pasid_state)
    {
        amd_iommu_domain_clear_gcr3(pasid_state.device_state, pasid_state.pasid);
        clear_pasid_state(pasid_state.device_state, pasid_state.pasid);

        /* Make sure no more pending faults are in the queue */
        flush_workqueue();

        mmu_notifier_unregister(pasid_state, pasid_state.mm!); // no finding: no ->release in v3.6's table; its callers are task_exit (a profile notifier), the unbind and the device free

        put_pasid_state(pasid_state); /* Reference taken in bind() function */
    }

    private static void unbind_pasid(device_state dev_state, int pasid)
    {
        pasid_state? pasid_state;

        pasid_state = get_pasid_state(dev_state, pasid);
        if (pasid_state == null)
            return;

        unlink_pasid_state(pasid_state);
        __unbind_pasid(pasid_state);
        put_pasid_state_wait(pasid_state); /* Reference taken in this function */
    }

    private static void free_pasid_states(device_state dev_state)
    {
        pasid_state? pasid_state;
        int i;

        for (i = 0; i < dev_state.max_pasids; ++i)
        {
            pasid_state = get_pasid_state(dev_state, i);
            if (pasid_state == null)
                continue;

            put_pasid_state(pasid_state);
            unbind_pasid(dev_state, i);
        }
    }

    private static int task_exit(notifier_block nb, ulong e, task_struct task)
    {
        /*
         * Using this notifier is a hack - but there is no other choice
         * at the moment. What I really want is a sleeping notifier that
         * is called when an MM goes down. But such a notifier doesn't
         * exist yet. [...] The MMU-Notifiers would be a good fit, but
         * they use RCU and so they are not allowed to sleep.
         */
    again:
        spin_lock(ps_lock);
        foreach (pasid_state pasid_state in pasid_state_list)
        {
            device_state dev_state;
            int pasid;

            if (pasid_state.task != task)
                continue;

            /* Drop Lock and unbind */
            spin_unlock(ps_lock);

            dev_state = pasid_state.device_state;
            pasid = pasid_state.pasid;

            if (pasid_state.device_state.inv_ctx_cb != null)
                dev_state.inv_ctx_cb!(pasid);

            unbind_pasid(dev_state, pasid);

            /* Task may be in the list multiple times */
            goto again;
        }
        spin_unlock(ps_lock);

        return NOTIFY_OK;
    }

    public static int amd_iommu_bind_pasid(int devid, int pasid, task_struct task, mm_struct task_mm)
    {
        pasid_state pasid_state;
        device_state? dev_state;
        int ret;

        might_sleep();

        dev_state = get_device_state(devid);

        if (dev_state == null)
            return -EINVAL;

        ret = -EINVAL;
        if (pasid < 0 || pasid >= dev_state.max_pasids)
            goto @out;

        pasid_state = new pasid_state { ops = KernelPorts.V4_12.amd_iommu_v2_v3_6.iommu_mn };
        pasid_state.count = 1;

        pasid_state.task = task;
        pasid_state.mm = task_mm;         /* get_task_mm(task) */
        mmget(task_mm);
        pasid_state.device_state = dev_state;
        pasid_state.pasid = pasid;

        mmu_notifier_register(pasid_state, pasid_state.mm); // no finding: no mmap_sem held here

        ret = set_pasid_state(dev_state, pasid_state, pasid);
        if (ret != 0)
            goto out_unregister;

        ret = amd_iommu_domain_set_gcr3(dev_state, pasid, pasid_state.mm);
        if (ret != 0)
            goto out_clear_state;

        link_pasid_state(pasid_state);

        return 0;

    out_clear_state:
        clear_pasid_state(dev_state, pasid);

    out_unregister:
        mmu_notifier_unregister(pasid_state, pasid_state.mm); // no finding: the caller's error path, not a callback

    @out:
        put_device_state(dev_state);

        return ret;
    }

    public static void amd_iommu_unbind_pasid(int devid, int pasid)
    {
        device_state? dev_state;

        might_sleep();

        dev_state = get_device_state(devid);
        if (dev_state == null)
            return;

        if (pasid < 0 || pasid >= dev_state.max_pasids)
            goto @out;

        unbind_pasid(dev_state, pasid);

    @out:
        put_device_state(dev_state);
    }

    public static void amd_iommu_free_device(int devid)
    {
        device_state? dev_state;

        if (!state_table.TryGetValue(devid, out dev_state))
            return;

        state_table.Remove(devid);

        /* Get rid of any remaining pasid states */
        free_pasid_states(dev_state);

        put_device_state(dev_state); /* put_device_state_wait() */
    }
}
