using System;
using System.Collections.Generic;
using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace KernelPorts.V4_9;

/// <summary>
/// drivers/gpu/drm/i915/i915_gem_userptr.c of the v4.9 era (i915_gem_object_get/_put, v4.9;
/// GFP_TEMPORARY, gone in v4.15; read from the search index, file id 15470856). The userptr
/// notifier sets ->invalidate_range_start alone: it cancels the objects in the range (a worker
/// unbinds them) and waits for the workers, but nothing stops get_pages from pinning the range
/// again before the primary update is done (MMU011; later kernels replaced the table with an
/// interval notifier and its read_begin/retry protocol; that form is not ported here).
/// Registration is correct (MMU015 silent): i915_mmu_notifier_create calls __mmu_notifier_register
/// ("Protected by mmap_sem (write-lock)") and its only caller, i915_mmu_notifier_find, holds
/// mmap_sem for write around it; the unregister (i915_mmu_notifier_free) runs on a worker. The GEM
/// object, workqueues and struct_mutex are stubs.
/// </summary>
public static class i915_gem_userptr
{
    public sealed class i915_mmu_object
    {
        public i915_mmu_notifier mn = null!;
        public readonly interval_tree_node it = new();
        public bool attached;
        public Action? work;
    }

    public sealed class i915_mmu_notifier : mmu_notifier
    {
        public readonly spinlock_t @lock = new("mn->lock");
        public readonly rb_root_cached objects = new();
        public readonly Queue<Action> wq = new();
    }

    public sealed class i915_mm_struct
    {
        public mm_struct mm = null!;
        public i915_mmu_notifier? mn;
        public readonly mutex mm_lock = new("i915->mm_lock");
        public Action? work;
    }

    /* queue_work()/flush_workqueue()/schedule_work(): the work runs later, on a kworker. */
    private static readonly Queue<Action> system_wq = new();

    private static void queue_work(Queue<Action> wq, Action work) => wq.Enqueue(work);

    private static void flush_workqueue(Queue<Action> wq)
    {
        while (wq.Count > 0)
            wq.Dequeue()();
    }

    private static void schedule_work(Action work) => system_wq.Enqueue(work);

    /* kref_get_unless_zero(&mo->obj->base.refcount): the GEM object is not modelled. */
    private static bool kref_get_unless_zero(i915_mmu_object mo) => true;

    private static void del_object(i915_mmu_object mo)
    {
        if (!mo.attached)
            return;

        interval_tree_remove(mo.it, mo.mn.objects);
        mo.attached = false;
    }

    private static void i915_gem_userptr_mn_invalidate_range_start(mmu_notifier _mn, mm_struct mm, ulong start, ulong end)
    {
        i915_mmu_notifier mn = (i915_mmu_notifier)_mn;
        i915_mmu_object mo;
        interval_tree_node? it;
        var cancelled = new List<i915_mmu_object>();

        if (mn.objects.Count == 0)
            return;

        /* interval ranges are inclusive, but invalidate range is exclusive */
        end--;

        spin_lock(mn.@lock);
        it = interval_tree_iter_first(mn.objects, start, end);
        while (it != null)
        {
            /* The mmu_object is released late when destroying the
             * GEM object so it is entirely possible to gain a
             * reference on an object in the process of being freed
             * since our serialisation is via the spinlock and not
             * the struct_mutex - and consequently use it after it
             * is freed and then double free it. To prevent that
             * use-after-free we only acquire a reference on the
             * object if it is not in the process of being destroyed.
             */
            mo = (i915_mmu_object)it.owner!;
            if (kref_get_unless_zero(mo))
                queue_work(mn.wq, mo.work!);

            cancelled.Add(mo);
            it = interval_tree_iter_next(it, start, end);
        }
        foreach (var m in cancelled)
            del_object(m);
        spin_unlock(mn.@lock);

        flush_workqueue(mn.wq);
    }

    public static readonly mmu_notifier_ops i915_gem_userptr_notifier = new()
    {
        invalidate_range_start = i915_gem_userptr_mn_invalidate_range_start, // expect: MMU011
    };

    private static i915_mmu_notifier? i915_mmu_notifier_create(mm_struct mm)
    {
        i915_mmu_notifier mn;
        int ret;

        mn = new i915_mmu_notifier { ops = i915_gem_userptr_notifier };

        /* Protected by mmap_sem (write-lock) */
        ret = __mmu_notifier_register(mn, mm); // no finding: i915_mmu_notifier_find, the only caller, holds mmap_sem for write
        if (ret != 0)
            return null; /* ERR_PTR(ret) */

        return mn;
    }

    private static i915_mmu_notifier? i915_mmu_notifier_find(i915_mm_struct mm)
    {
        i915_mmu_notifier? mn = mm.mn;

        mn = mm.mn;
        if (mn != null)
            return mn;

        down_write(mm.mm.mmap_sem);
        mutex_lock(mm.mm_lock);
        if ((mn = mm.mn) == null)
        {
            mn = i915_mmu_notifier_create(mm.mm);
            if (mn != null)
                mm.mn = mn;
        }
        mutex_unlock(mm.mm_lock);
        up_write(mm.mm.mmap_sem);

        return mn;
    }

    private static void i915_mmu_notifier_free(i915_mmu_notifier? mn, mm_struct mm)
    {
        if (mn == null)
            return;

        mmu_notifier_unregister(mn, mm); // no finding: called from a worker, never from a callback
    }

    private static void __i915_mm_struct_free__worker(i915_mm_struct mm)
    {
        i915_mmu_notifier_free(mm.mn, mm.mm);
        mmdrop(mm.mm);
    }

    /* Called with mm_lock held (kref_put_mutex); defers the free to a worker. */
    public static void __i915_mm_struct_free(i915_mm_struct mm)
    {
        mutex_unlock(mm.mm_lock);

        mm.work = () => __i915_mm_struct_free__worker(mm);
        schedule_work(mm.work);
    }

    public static int i915_gem_userptr_init__mmu_notifier(i915_mm_struct mm, ulong ptr, ulong size)
    {
        i915_mmu_notifier? mn;
        i915_mmu_object mo;

        mn = i915_mmu_notifier_find(mm);
        if (mn == null)
            return -12; /* PTR_ERR(mn) */

        mo = new i915_mmu_object();
        mo.mn = mn;
        mo.it.owner = mo;
        mo.it.start = ptr;
        mo.it.last = ptr + size - 1;

        return 0;
    }
}
