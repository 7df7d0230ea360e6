using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_5.Nouveau;

/// <summary>
/// drivers/gpu/drm/nouveau/nouveau_svm.c after "nouveau: use mmu_interval_notifier instead of
/// hmm_mirror" (Jason Gunthorpe, v5.5; read from the posted v2 of the series, where the API was
/// still spelled <c>mmu_range_*</c>, renamed <c>mmu_interval_*</c> before the merge). The commit
/// says it "re-organize[s] the pagefault path so the locking pattern is clear": the sequence is
/// read before <c>hmm_range_fault</c>, checked with <c>mmu_interval_read_retry</c> under
/// <c>svmm-&gt;mutex</c>, and the GPU page table is written (<c>nvif_object_ioctl</c>) before that
/// mutex is dropped; the new <c>-&gt;invalidate</c> takes the same mutex around
/// <c>mmu_interval_set_seq</c>. Before it (v5.4, <c>hmm_mirror</c>), the mirror's
/// <c>sync_cpu_device_pagetables</c> was an empty function that never took <c>svmm-&gt;mutex</c>, so
/// the <c>hmm_range_valid</c> check under that mutex serialised against nothing; that form is not
/// ported (Kernel.Mm has no <c>hmm_mirror</c>). Correct: no MMU012.
/// </summary>
public static class nouveau_svm
{
    public sealed class nouveau_svmm
    {
        public readonly mutex mutex = new("svmm->mutex");
        public nvif_object vmm = new();
    }

    public sealed class nvif_object
    {
        public bool super;
    }

    public sealed class nouveau_drm
    {
    }

    /* struct svm_notifier: the interval notifier of one fault window. */
    public sealed class svm_notifier : mmu_interval_notifier
    {
        public nouveau_svmm svmm = null!;
    }

    /* include/linux/hmm.h (5.5): the range hmm_range_fault fills. */
    public sealed class hmm_range
    {
        public mmu_interval_notifier notifier = null!;
        public ulong notifier_seq;
        public ulong start;
        public ulong end;
        public ulong[] pfns = System.Array.Empty<ulong>();
        public ulong default_flags;
        public ulong pfn_flags_mask;
    }

    private const int HMM_RANGE_DEFAULT_TIMEOUT = 1000;

    /* hmm_range_fault(): walks (and faults in) the CPU page table of [start, end) (mm/hmm.c). */
    [LooksUpPages]
    private static long hmm_range_fault(hmm_range range, uint flags) => (long)((range.end - range.start) >> PAGE_SHIFT);

    /* nvif_object_ioctl(NVIF_VMM_V0_PFNMAP): writes the GPU page table entries. */
    [EstablishesSecondaryMapping]
    private static int nvif_object_ioctl(nvif_object @object, object data, uint size, object? hack) => 0;

    private static void nouveau_dmem_convert_pfn(nouveau_drm drm, hmm_range range)
    {
    }

    private static ulong jiffies => (ulong)System.Environment.TickCount64;

    private static ulong msecs_to_jiffies(int msecs) => (ulong)msecs;

    private static bool time_after(ulong a, ulong b) => (long)(b - a) < 0;

    public static bool nouveau_svm_range_invalidate(mmu_interval_notifier mni,
                                                    mmu_notifier_range range,
                                                    ulong cur_seq)
    {
        svm_notifier sn = (svm_notifier)mni;

        /*
         * serializes the update to mni->invalidate_seq done by caller and
         * prevents invalidation of the PTE from progressing while HW is being
         * programmed. This is very hacky and only works because the normal
         * notifier that does invalidation is always called after the range
         * notifier.
         */
        if (mmu_notifier_range_blockable(range))
            mutex_lock(sn.svmm.mutex);
        else if (!mutex_trylock(sn.svmm.mutex))
            return false;
        mmu_interval_set_seq(mni, cur_seq);
        mutex_unlock(sn.svmm.mutex);
        return true;
    }

    public static int nouveau_range_fault(nouveau_svmm svmm,
                                          nouveau_drm drm, object data, uint size,
                                          ulong[] pfns,
                                          svm_notifier notifier)
    {
        ulong timeout =
            jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
        /* Have HMM fault pages within the fault window to the GPU. */
        hmm_range range = new hmm_range
        {
            notifier = notifier,
            start = notifier.start,
            end = notifier.last + 1,
            pfns = pfns,
        };
        mm_struct mm = notifier.mm!;
        long ret;

        while (true)
        {
            if (time_after(jiffies, timeout))
                return -EBUSY;

            range.notifier_seq = mmu_interval_read_begin(range.notifier);
            range.default_flags = 0;
            range.pfn_flags_mask = ulong.MaxValue;
            down_read(mm.mmap_sem);
            ret = hmm_range_fault(range, 0);
            up_read(mm.mmap_sem);
            if (ret <= 0)
            {
                if (ret == 0 || ret == -EBUSY)
                    continue;
                return (int)ret;
            }

            mutex_lock(svmm.mutex);
            if (mmu_interval_read_retry(range.notifier,
                                        range.notifier_seq))
            {
                mutex_unlock(svmm.mutex);
                continue;
            }
            break;
        }

        nouveau_dmem_convert_pfn(drm, range);

        svmm.vmm.super = true;
        ret = nvif_object_ioctl(svmm.vmm, data, size, null);
        svmm.vmm.super = false;
        mutex_unlock(svmm.mutex);

        return (int)ret;
    }
}
