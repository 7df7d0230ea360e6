using System;
using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_x;

/// <summary>
/// drivers/gpu/drm/amd/amdkfd/kfd_process.c of a v4.x kernel (read from the search index, file id
/// 85893334; its debug manager and reset_wavefronts place it after v4.1, its mmu_notifier_call_srcu
/// before the get/put rework; the exact release was not determined). The correct forms of both
/// MMU015 shapes: kfd_create_process takes mmap_sem for write ("Take mmap_sem because we call
/// __mmu_notifier_register inside") and its helper create_process registers with
/// __mmu_notifier_register, so the helper's own body holds no lock and its only caller does; and
/// ->release (kfd_process_notifier_release) does not unregister with the waiting
/// mmu_notifier_unregister but unlinks with mmu_notifier_unregister_no_release and frees through
/// mmu_notifier_call_srcu. Kernel.Mm has neither of those two (the 5.4 mmu_notifier_put replaced
/// them): they are stubs here. The table sets ->release only (MMU011 silent).
/// </summary>
public static class kfd_process_c
{
    public sealed class task_struct_
    {
        public mm_struct? mm;
        public task_struct_ group_leader = null!;
    }

    public sealed class kfd_process : mmu_notifier
    {
        public mm_struct mm = null!;
        public readonly mutex mutex = new("p->mutex");
        public uint pasid;
        public task_struct_? lead_thread;
    }

    private static readonly Dictionary<mm_struct, kfd_process> kfd_processes_table = new();
    private static readonly mutex kfd_processes_mutex = new("kfd_processes_mutex");
    private static readonly srcu_struct kfd_processes_srcu = new();

    /* mmu_notifier_unregister_no_release(): unlinks without ->release and without waiting for SRCU readers (3.17-5.3). */
    private static void mmu_notifier_unregister_no_release(mmu_notifier mn, mm_struct mm)
    {
    }

    /* mmu_notifier_call_srcu(): runs the function after an SRCU grace period (3.17-5.3). */
    private static void mmu_notifier_call_srcu(kfd_process p, Action<kfd_process> func)
    {
    }

    /* The process queue manager, PASID allocator and debug manager: not modelled. */
    private static uint kfd_pasid_alloc() => 1;

    private static void kfd_pasid_free(uint pasid)
    {
    }

    private static void pqm_uninit(kfd_process p)
    {
    }

    private static kfd_process? find_process_by_mm(mm_struct mm) =>
        kfd_processes_table.TryGetValue(mm, out var process) ? process : null;

    private static kfd_process? find_process(task_struct_ thread)
    {
        kfd_process? p;
        int idx;

        idx = srcu_read_lock(kfd_processes_srcu);
        p = find_process_by_mm(thread.mm!);
        srcu_read_unlock(kfd_processes_srcu, idx);

        return p;
    }

    public static kfd_process? kfd_create_process(task_struct_ thread)
    {
        kfd_process? process;

        if (thread.mm == null)
            return null; /* ERR_PTR(-EINVAL) */

        /* Only the pthreads threading model is supported. */
        if (thread.group_leader.mm != thread.mm)
            return null; /* ERR_PTR(-EINVAL) */

        /* Take mmap_sem because we call __mmu_notifier_register inside */
        down_write(thread.mm.mmap_sem);

        /*
         * take kfd processes mutex before starting of process creation
         * so there won't be a case where two threads of the same process
         * create two kfd_process structures
         */
        mutex_lock(kfd_processes_mutex);

        /* A prior open of /dev/kfd could have already created the process. */
        process = find_process(thread);

        if (process == null)
            process = create_process(thread);

        mutex_unlock(kfd_processes_mutex);

        up_write(thread.mm.mmap_sem);

        return process;
    }

    private static void kfd_process_destroy_delayed(kfd_process p)
    {
        mmdrop(p.mm);
    }

    private static void kfd_process_notifier_release(mmu_notifier mn, mm_struct mm)
    {
        kfd_process p;

        /*
         * The kfd_process structure can not be free because the
         * mmu_notifier srcu is read locked
         */
        p = (kfd_process)mn;
        BUG_ON(p.mm != mm);

        mutex_lock(kfd_processes_mutex);
        kfd_processes_table.Remove(p.mm);
        mutex_unlock(kfd_processes_mutex);
        synchronize_srcu(kfd_processes_srcu);

        mutex_lock(p.mutex);

        /* In case our notifier is called before IOMMU notifier */
        pqm_uninit(p);

        mutex_unlock(p.mutex);

        /*
         * Because we drop mm_count inside kfd_process_destroy_delayed
         * and because the mmu_notifier_unregister function also drop
         * mm_count we need to take an extra count here.
         */
        mmgrab(p.mm);
        mmu_notifier_unregister_no_release(p, p.mm); // no finding: does not wait for SRCU readers
        mmu_notifier_call_srcu(p, kfd_process_destroy_delayed);
    }

    public static readonly mmu_notifier_ops kfd_process_mmu_notifier_ops = new()
    {
        release = kfd_process_notifier_release,
    };

    private static kfd_process? create_process(task_struct_ thread)
    {
        kfd_process process;
        int err;

        process = new kfd_process { ops = kfd_process_mmu_notifier_ops };

        process.pasid = kfd_pasid_alloc();
        if (process.pasid == 0)
            goto err_alloc_pasid;

        process.mm = thread.mm!;

        /* register notifier */
        err = __mmu_notifier_register(process, process.mm); // no finding: kfd_create_process, the only caller, holds mmap_sem for write
        if (err != 0)
            goto err_mmu_notifier;

        kfd_processes_table.Add(process.mm, process);

        process.lead_thread = thread.group_leader;

        return process;

    err_mmu_notifier:
        kfd_pasid_free(process.pasid);
    err_alloc_pasid:
        return null; /* ERR_PTR(err) */
    }
}
