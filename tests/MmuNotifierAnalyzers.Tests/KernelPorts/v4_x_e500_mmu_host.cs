using System;
using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;
using static Seeds.Common.kernel;

namespace KernelPorts.V4_x.E500;

/// <summary>
/// arch/powerpc/kvm/e500_mmu_host.c, <c>kvmppc_e500_shadow_map</c>, Linux v4.x (the v4.5-v4.13 era:
/// four-argument <c>find_linux_pte_or_hugepte</c>, <c>pr_err_ratelimited</c>; read as find_string
/// id 11273239, whose repository the index does not name). The form after Bharat Bhushan's booke fix
/// (v3.13, backported to 3.12; see <c>v3_8_e500_mmu_host.cs</c>) and his "use caching attributes as
/// per linux pte" (the WIMG bits read under <c>mmu_lock</c>): <c>kvm-&gt;mmu_notifier_seq</c> is read
/// first, before the VMA lookup and <c>gfn_to_pfn_memslot</c>; <c>mmu_notifier_retry</c> runs under
/// <c>kvm-&gt;mmu_lock</c>, which is held until the shadow TLB entry is set up. The hardware write
/// (<c>write_stlbe</c>, in the callers) follows the unlock, but e500's invalidation is
/// <c>kvm_flush_remote_tlbs</c>, a request every vcpu serves before it re-enters the guest. Correct:
/// no MMU012.
/// </summary>
public static class e500_mmu_host
{
    public sealed class kvm_book3e_206_tlb_entry
    {
        public uint mas1;
        public ulong mas2;
        public ulong mas7_3;
    }

    public sealed class tlbe_ref
    {
        public ulong pfn;
        public uint flags;
    }

    public sealed class kvm_memory_slot
    {
        public ulong base_gfn;
        public ulong npages;
    }

    public sealed class kvm_vcpu
    {
        public kvm kvm = new();
        public mm_struct mm = null!;  /* current->mm */
        public object pgdir = new();  /* vcpu->arch.pgdir */
    }

    public sealed class kvmppc_vcpu_e500
    {
        public kvm_vcpu vcpu = new();
    }

    private const int BOOK3E_PAGESZ_4K = 2;
    private const uint MAS1_TSIZE_MASK = 0x00000f80;
    private const int MAS1_TSIZE_SHIFT = 7;
    private const uint E500_TLB_VALID = 1;
    private const int EINVAL = 22;
    private const int EAGAIN = 11;
    private const int PTE_WIMGE_SHIFT = 6;
    private const ulong MAS2_WIMGE_MASK = 0x1f;

    /* The memslot helpers, the TLB helpers of this file and the cache flush the function calls. */
    private static kvm_memory_slot gfn_to_memslot(kvm kvm, ulong gfn) => new();

    private static ulong gfn_to_hva_memslot(kvm_memory_slot slot, ulong gfn) => gfn << PAGE_SHIFT;

    private static bool is_error_noslot_pfn(ulong pfn) => pfn == ulong.MaxValue;

    private static ulong vma_kernel_pagesize(vm_area_struct vma) => PAGE_SIZE;

    private static int __ilog2(ulong x) => 63 - System.Numerics.BitOperations.LeadingZeroCount(x);

    private static bool printk_ratelimit() => true;

    private static void pr_err(string message)
    {
    }

    private static void pr_err_ratelimited(string message)
    {
    }

    private static void smp_rmb() => System.Threading.Interlocked.MemoryBarrier();

    private static void local_irq_save(out ulong flags) => flags = 0;

    private static void local_irq_restore(ulong flags)
    {
    }

    /* The host (Linux) pte of hva in the process page table; lockless, interrupts off. */
    private static pte_t? find_linux_pte_or_hugepte(object pgdir, ulong ea, object? is_thp, object? shift) => null;

    private static T READ_ONCE<T>(T x) => x;

    private static void kvmppc_mmu_flush_icache(ulong pfn)
    {
    }

    private static void kvm_release_pfn_clean(ulong pfn)
    {
    }

    /* gfn_to_pfn_memslot(): gup on the memslot's host address, taking a page reference (kvm_main.c). */
    [LooksUpPages]
    private static ulong gfn_to_pfn_memslot(kvm_memory_slot slot, ulong gfn) => gfn;

    private static void kvmppc_e500_ref_setup(tlbe_ref @ref, kvm_book3e_206_tlb_entry gtlbe, ulong pfn, uint wimg)
    {
        @ref.pfn = pfn;
        @ref.flags |= wimg << 8;
        @ref.flags |= E500_TLB_VALID;
    }

    /* kvmppc_e500_setup_stlbe(): the shadow TLB entry for gvaddr -> pfn, which the caller writes
     * to the hardware TLB (write_stlbe). */
    [EstablishesSecondaryMapping]
    private static void kvmppc_e500_setup_stlbe(kvm_vcpu vcpu, kvm_book3e_206_tlb_entry gtlbe,
                                                int tsize, tlbe_ref @ref, ulong gvaddr,
                                                kvm_book3e_206_tlb_entry stlbe)
    {
        stlbe.mas1 = (uint)(tsize << MAS1_TSIZE_SHIFT) | 0x80000000;
        stlbe.mas2 = gvaddr;
        stlbe.mas7_3 = @ref.pfn << PAGE_SHIFT;
    }

    public static int kvmppc_e500_shadow_map(kvmppc_vcpu_e500 vcpu_e500,
        ulong gvaddr, ulong gfn, kvm_book3e_206_tlb_entry gtlbe,
        int tlbsel, kvm_book3e_206_tlb_entry stlbe,
        tlbe_ref @ref)
    {
        kvm_memory_slot slot;
        ulong pfn = 0; /* silence GCC warning */
        ulong hva;
        int pfnmap = 0;
        int tsize = BOOK3E_PAGESZ_4K;
        int ret = 0;
        long mmu_seq;
        kvm kvm = vcpu_e500.vcpu.kvm;
        ulong tsize_pages = 0;
        pte_t? ptep;
        uint wimg = 0;
        object pgdir;
        ulong flags;

        /* used to check for invalidations in progress */
        mmu_seq = kvm.mmu_notifier_seq;
        smp_rmb();

        /*
         * Translate guest physical to true physical, acquiring
         * a page reference if it is normal, non-reserved memory.
         */
        slot = gfn_to_memslot(vcpu_e500.vcpu.kvm, gfn);
        hva = gfn_to_hva_memslot(slot, gfn);

        if (tlbsel == 1)
        {
            vm_area_struct? vma;
            down_read(vcpu_e500.vcpu.mm.mmap_sem);

            vma = find_vma(vcpu_e500.vcpu.mm, hva);
            if (vma != null && hva >= vma.vm_start &&
                (vma.vm_flags & VM_PFNMAP) != 0)
            {
                /*
                 * This VMA is a physically contiguous region (e.g.
                 * /dev/mem) that bypasses normal Linux page
                 * management.  Find the overlap between the
                 * vma and the memslot.
                 */
                ulong start, end;
                ulong slot_start, slot_end;

                pfnmap = 1;

                start = vma.vm_pgoff;
                end = start +
                      ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT);

                pfn = start + ((hva - vma.vm_start) >> PAGE_SHIFT);

                slot_start = pfn - (gfn - slot.base_gfn);
                slot_end = slot_start + slot.npages;

                if (start < slot_start)
                    start = slot_start;
                if (end > slot_end)
                    end = slot_end;

                tsize = (int)((gtlbe.mas1 & MAS1_TSIZE_MASK) >> MAS1_TSIZE_SHIFT);

                /*
                 * e500 doesn't implement the lowest tsize bit,
                 * or 1K pages.
                 */
                tsize = Math.Max(BOOK3E_PAGESZ_4K, tsize & ~1);

                /*
                 * Now find the largest tsize (up to what the guest
                 * requested) that will cover gfn, stay within the
                 * range, and for which gfn and pfn are mutually
                 * aligned.
                 */
                for (; tsize > BOOK3E_PAGESZ_4K; tsize -= 2)
                {
                    ulong gfn_start, gfn_end;
                    tsize_pages = 1UL << (tsize - 2);

                    gfn_start = gfn & ~(tsize_pages - 1);
                    gfn_end = gfn_start + tsize_pages;

                    if (gfn_start + pfn - gfn < start)
                        continue;
                    if (gfn_end + pfn - gfn > end)
                        continue;
                    if ((gfn & (tsize_pages - 1)) !=
                        (pfn & (tsize_pages - 1)))
                        continue;

                    gvaddr &= ~((tsize_pages << PAGE_SHIFT) - 1);
                    pfn &= ~(tsize_pages - 1);
                    break;
                }
            }
            else if (vma != null && hva >= vma.vm_start &&
                     (vma.vm_flags & VM_HUGETLB) != 0)
            {
                ulong psize = vma_kernel_pagesize(vma);

                tsize = (int)((gtlbe.mas1 & MAS1_TSIZE_MASK) >> MAS1_TSIZE_SHIFT);

                /*
                 * Take the largest page size that satisfies both host
                 * and guest mapping
                 */
                tsize = Math.Min(__ilog2(psize) - 10, tsize);

                /*
                 * e500 doesn't implement the lowest tsize bit,
                 * or 1K pages.
                 */
                tsize = Math.Max(BOOK3E_PAGESZ_4K, tsize & ~1);
            }

            up_read(vcpu_e500.vcpu.mm.mmap_sem);
        }

        if (likely(pfnmap == 0))
        {
            tsize_pages = 1UL << (tsize + 10 - PAGE_SHIFT);
            pfn = gfn_to_pfn_memslot(slot, gfn);
            if (is_error_noslot_pfn(pfn))
            {
                if (printk_ratelimit())
                    pr_err("kvmppc_e500_shadow_map: real page not found for gfn\n");
                return -EINVAL;
            }

            /* Align guest and physical address to page map boundaries */
            pfn &= ~(tsize_pages - 1);
            gvaddr &= ~((tsize_pages << PAGE_SHIFT) - 1);
        }

        spin_lock(kvm.mmu_lock);
        if (mmu_notifier_retry(kvm, mmu_seq) != 0)
        {
            ret = -EAGAIN;
            goto @out;
        }

        pgdir = vcpu_e500.vcpu.pgdir;
        /*
         * We are just looking at the wimg bits, so we don't
         * care much about the trans splitting bit.
         * We are holding kvm->mmu_lock so a notifier invalidate
         * can't run hence pfn won't change.
         */
        local_irq_save(out flags);
        ptep = find_linux_pte_or_hugepte(pgdir, hva, null, null);
        if (ptep != null)
        {
            pte_t pte = READ_ONCE(ptep.Value);

            if (pte_present(pte))
            {
                wimg = (uint)((pte_val(pte) >> PTE_WIMGE_SHIFT) &
                              MAS2_WIMGE_MASK);
                local_irq_restore(flags);
            }
            else
            {
                local_irq_restore(flags);
                pr_err_ratelimited("kvmppc_e500_shadow_map: pte not present\n");
                ret = -EINVAL;
                goto @out;
            }
        }
        kvmppc_e500_ref_setup(@ref, gtlbe, pfn, wimg);

        kvmppc_e500_setup_stlbe(vcpu_e500.vcpu, gtlbe, tsize,
                                @ref, gvaddr, stlbe);

        /* Clear i-cache for new pages */
        kvmppc_mmu_flush_icache(pfn);

    @out:
        spin_unlock(kvm.mmu_lock);

        /* Drop refcount on page, so that mmu notifiers can clear it */
        kvm_release_pfn_clean(pfn);

        return ret;
    }
}
