using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace KernelPorts.V5_5;

/// <summary>
/// drivers/gpu/drm/amd/amdgpu/amdgpu_mn.c after the interval-notifier conversion (v5.5, "drm/amdgpu:
/// Use mmu_interval_insert instead of hmm_mirror", Jason Gunthorpe), read from ROCm/ROCK-Kernel-Driver's
/// copy (its kcl wrappers left out: <c>dma_resv_wait_timeout_rcu</c> on the BO's reservation):
/// each callback refuses a non-blockable range before it takes <c>notifier_lock</c> or waits.
/// </summary>
public static class amdgpu_mn_c
{
    public sealed class amdgpu_device
    {
        public readonly mutex notifier_lock = new("adev->notifier_lock");
    }

    public sealed class amdgpu_bo : mmu_interval_notifier
    {
        public amdgpu_device adev = null!;
        public object? kfd_bo;
    }

    /* dma_resv_wait_timeout_rcu(): waits for the BO's fences (MAX_SCHEDULE_TIMEOUT). */
    [MaySleep]
    private static long dma_resv_wait_timeout_rcu(amdgpu_bo bo) => 1;

    /* amdgpu_amdkfd_evict_userptr(): schedules the KFD restore worker (not modelled). */
    private static void amdgpu_amdkfd_evict_userptr(object? mem, mm_struct? mm)
    {
    }

    private static bool amdgpu_mn_invalidate_gfx(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        amdgpu_bo bo = (amdgpu_bo)mni;
        amdgpu_device adev = bo.adev;
        long r;

        if (!mmu_notifier_range_blockable(range))
            return false;

        mutex_lock(adev.notifier_lock);

        mmu_interval_set_seq(mni, cur_seq);

        r = dma_resv_wait_timeout_rcu(bo);
        mutex_unlock(adev.notifier_lock);
        if (r <= 0)
            return true; /* DRM_ERROR("(%ld) failed to wait for user bo\n", r) */
        return true;
    }

    public static readonly mmu_interval_notifier_ops amdgpu_mn_gfx_ops = new()
    {
        invalidate = amdgpu_mn_invalidate_gfx,
    };

    private static bool amdgpu_mn_invalidate_hsa(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        amdgpu_bo bo = (amdgpu_bo)mni;
        amdgpu_device adev = bo.adev;

        if (!mmu_notifier_range_blockable(range))
            return false;

        mutex_lock(adev.notifier_lock);

        mmu_interval_set_seq(mni, cur_seq);

        amdgpu_amdkfd_evict_userptr(bo.kfd_bo, bo.mm);
        mutex_unlock(adev.notifier_lock);

        return true;
    }

    public static readonly mmu_interval_notifier_ops amdgpu_mn_hsa_ops = new()
    {
        invalidate = amdgpu_mn_invalidate_hsa,
    };
}
