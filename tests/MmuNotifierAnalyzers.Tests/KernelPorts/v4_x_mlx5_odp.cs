using System;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_x.Mlx5Odp;

/// <summary>
/// drivers/infiniband/hw/mlx5/odp.c, <c>pagefault_mr</c>, read from
/// WindRiver-Labs/linux-yocto-5.2 at 28983ad3c7a6, whose stored odp.c is of the v4.14-v4.19 era
/// (<c>umem-&gt;odp_data</c>, <c>mlx5_ib_update_xlt(..., MLX5_IB_UPD_XLT_ATOMIC)</c>, implicit
/// ODP leaves via <c>odp_next</c>; v5.1 replaced <c>odp_data</c> with <c>to_ib_umem_odp</c>).
/// The umem_odp form of seed 000's pattern, "strongly based on the KVM code": the sequence
/// (<c>odp-&gt;notifiers_seq</c>, <c>READ_ONCE</c> + <c>smp_rmb</c>) is read before the pages
/// are faulted and DMA-mapped, and <c>ib_umem_mmu_notifier_retry</c> is checked under
/// <c>umem_mutex</c>, held while the device's translation table is written. Correct: no MMU012.
/// </summary>
public static class odp
{
    public sealed class ib_umem_odp
    {
        public ulong[]? page_list;
        public mlx5_ib_mr? @private;
        public ib_umem umem = null!;

        /* include/rdma/ib_umem_odp.h: bumped by invalidate_range_end under umem_mutex. */
        [SequenceRead]
        public int notifiers_seq;
        public int notifiers_count;
        public readonly mutex umem_mutex = new("umem_mutex");
        public readonly completion notifier_completion = new();
        public bool dying;
    }

    public sealed class ib_umem
    {
        public ib_umem_odp odp_data = null!;
        public int page_shift;
        public bool writable;
        public ulong address;
        public ulong length;
    }

    public sealed class mlx5_core_mkey
    {
        public ulong iova;
    }

    public sealed class mlx5_ib_mr
    {
        public ib_umem umem = null!;
        public mlx5_core_mkey mmkey = new();
        public mlx5_ib_mr? parent;
    }

    public sealed class mlx5_ib_dev
    {
    }

    private const ulong ODP_READ_ALLOWED_BIT = 1UL << 0;
    private const ulong ODP_WRITE_ALLOWED_BIT = 1UL << 1;
    private const int MLX5_IB_UPD_XLT_ATOMIC = 1 << 2;
    private const int MMU_NOTIFIER_TIMEOUT = 1000;

    /* include/rdma/ib_umem_odp.h: "strongly based on the KVM code" (mmu_notifier_retry). */
    [SequenceRetryCheck]
    private static int ib_umem_mmu_notifier_retry(ib_umem item, int mmu_seq)
    {
        if (unlikely(item.odp_data.notifiers_count != 0))
            return 1;
        if (item.odp_data.notifiers_seq != mmu_seq)
            return 1;
        return 0;
    }

    /* ib_umem_odp_map_dma_pages(): get_user_pages_remote + DMA-map the pages (core/umem_odp.c). */
    [LooksUpPages]
    private static int ib_umem_odp_map_dma_pages(ib_umem umem, ulong user_virt, ulong bcnt, ulong access_mask, int current_seq) => (int)(bcnt >> PAGE_SHIFT);

    /* mlx5_ib_update_xlt(): writes the MTTs of [start_idx, +npages) to the device (mr.c). */
    [EstablishesSecondaryMapping]
    private static int mlx5_ib_update_xlt(mlx5_ib_mr mr, ulong start_idx, int npages, int page_shift, int flags) => 0;

    /* The implicit-MR and diagnostic helpers the function calls. */
    private static ib_umem_odp implicit_mr_get_data(mlx5_ib_mr mr, ulong io_virt, ulong bcnt) => mr.umem.odp_data;

    private static ib_umem_odp? odp_next(ib_umem_odp odp) => null;

    private static ulong ib_umem_end(ib_umem umem) => umem.address + umem.length;

    private static T READ_ONCE<T>(T x) => x;

    private static void smp_rmb() => System.Threading.Interlocked.MemoryBarrier();

    private static bool wait_for_completion_timeout(completion x, ulong timeout) => true;

    private static ulong msecs_to_jiffies(int msecs) => (ulong)msecs;

    private static ulong BIT(int nr) => 1UL << nr;

    private static ulong round_down(ulong x, ulong y) => x & ~(y - 1);

    private static void mlx5_ib_err(mlx5_ib_dev dev, string message)
    {
    }

    public static int pagefault_mr(mlx5_ib_dev dev, mlx5_ib_mr mr,
                                   ulong io_virt, ulong bcnt, uint[]? bytes_mapped)
    {
        ulong access_mask = ODP_READ_ALLOWED_BIT;
        int npages = 0, page_shift, np;
        ulong start_idx, page_mask;
        ib_umem_odp odp;
        int current_seq;
        ulong size;
        int ret;

        if (mr.umem.odp_data.page_list == null)
        {
            odp = implicit_mr_get_data(mr, io_virt, bcnt);
            mr = odp.@private!;
        }
        else
        {
            odp = mr.umem.odp_data;
        }

    next_mr:
        size = Math.Min(bcnt, ib_umem_end(odp.umem) - io_virt);

        page_shift = mr.umem.page_shift;
        page_mask = ~(BIT(page_shift) - 1);
        start_idx = (io_virt - (mr.mmkey.iova & page_mask)) >> page_shift;

        if (mr.umem.writable)
            access_mask |= ODP_WRITE_ALLOWED_BIT;

        current_seq = READ_ONCE(odp.notifiers_seq);
        /*
         * Ensure the sequence number is valid for some time before we call
         * gup.
         */
        smp_rmb();

        ret = ib_umem_odp_map_dma_pages(mr.umem, io_virt, size,
                                        access_mask, current_seq);

        if (ret < 0)
            goto @out;

        np = ret;

        mutex_lock(odp.umem_mutex);
        if (ib_umem_mmu_notifier_retry(mr.umem, current_seq) == 0)
        {
            /*
             * No need to check whether the MTTs really belong to
             * this MR, since ib_umem_odp_map_dma_pages already
             * checks this.
             */
            ret = mlx5_ib_update_xlt(mr, start_idx, np,
                                     page_shift, MLX5_IB_UPD_XLT_ATOMIC);
        }
        else
        {
            ret = -EAGAIN;
        }
        mutex_unlock(odp.umem_mutex);

        if (ret < 0)
        {
            if (ret != -EAGAIN)
                mlx5_ib_err(dev, "Failed to update mkey page tables\n");
            goto @out;
        }

        if (bytes_mapped != null)
        {
            uint new_mappings = (uint)((ulong)(np << page_shift) -
                (io_virt - round_down(io_virt, 1UL << page_shift)));
            bytes_mapped[0] += (uint)Math.Min(new_mappings, size);
        }

        npages += np << (page_shift - PAGE_SHIFT);
        bcnt -= size;

        if (unlikely(bcnt != 0))
        {
            ib_umem_odp? next;

            io_virt += size;
            next = odp_next(odp);
            if (unlikely(next == null || next.umem.address != io_virt))
                return -EAGAIN;
            odp = next;
            mr = odp.@private!;
            goto next_mr;
        }

        return npages;

    @out:
        if (ret == -EAGAIN)
        {
            if (mr.parent != null || !odp.dying)
            {
                ulong timeout = msecs_to_jiffies(MMU_NOTIFIER_TIMEOUT);

                if (!wait_for_completion_timeout(odp.notifier_completion, timeout))
                    mlx5_ib_err(dev, "timeout waiting for mmu notifier");
            }
            else
            {
                /* The MR is being killed, kill the QP as well. */
                ret = -EFAULT;
            }
        }

        return ret;
    }
}
