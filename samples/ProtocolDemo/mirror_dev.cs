using System;
using Kernel.Mm;
using Kernel.Mm.SecondaryMmu;
using static Kernel.Mm.Linux;

namespace ProtocolDemo;

/// <summary>
/// A device that mirrors a range of a process (the shape of drivers/infiniband/core/umem_odp.c
/// and the HMM mirrors since 5.5): one interval notifier, a device page table (the base's
/// translation table) guarded by <c>dev_lock</c>. The invalidate callback is right. The fault
/// path exists twice: <see cref="mirror_fault_buggy"/> forgets the sequence retry check (MMU012),
/// <see cref="mirror_fault"/> is the protocol as include/linux/mmu_notifier.h documents it.
/// </summary>
internal sealed class mirror_dev : SecondaryMmuBase
{
    private sealed class mirror_interval : mmu_interval_notifier
    {
        internal mirror_interval(mirror_dev dev) => this.dev = dev;

        internal readonly mirror_dev dev;
    }

    private static readonly mmu_interval_notifier_ops mirror_ops = new()
    {
        invalidate = mirror_invalidate,
    };

    private readonly mirror_interval notifier;
    private readonly mutex dev_lock = new("mirror_dev->dev_lock");

    public mirror_dev(mm_struct mm, ulong start, ulong length)
        : base(mm, "mirror_dev")
    {
        notifier = new mirror_interval(this);
        if (mmu_interval_notifier_insert(notifier, mm, start, length, mirror_ops) != 0)
        {
            throw new InvalidOperationException("mmu_interval_notifier_insert failed");
        }
    }

    /// <summary>The bug: the sequence is read, the page looked up, the lock taken and the
    /// translation installed, but nothing checks that no invalidation ran in between.</summary>
    public SecondaryFaultResult mirror_fault_buggy(ulong address)
    {
        ulong hva = address & PAGE_MASK;
        ulong seq = mmu_interval_read_begin(notifier);
        page? page = lookup_cpu_page(hva);
        if (page is null)
        {
            return SecondaryFaultResult.Failed;
        }

        mutex_lock(dev_lock);
        install(hva, page, writable: false);   // expect: MMU012 (the sequence read above is never checked)
        mutex_unlock(dev_lock);
        put_page(page);
        Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, installed (sequence {seq} never checked)");
        return SecondaryFaultResult.Installed;
    }

    /// <summary>The fix: under the lock the invalidate callback also takes, retry if the sequence moved.</summary>
    public SecondaryFaultResult mirror_fault(ulong address)
    {
        ulong hva = address & PAGE_MASK;
        ulong seq = mmu_interval_read_begin(notifier);
        page? page = lookup_cpu_page(hva);
        if (page is null)
        {
            return SecondaryFaultResult.Failed;
        }

        mutex_lock(dev_lock);
        if (mmu_interval_read_retry(notifier, seq))
        {
            mutex_unlock(dev_lock);
            put_page(page);
            Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, sequence {seq} moved: retry");
            return SecondaryFaultResult.Retry;
        }

        install(hva, page, writable: false);
        mutex_unlock(dev_lock);
        put_page(page);
        Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, installed (sequence {seq} checked)");
        return SecondaryFaultResult.Installed;
    }

    public void remove() => mmu_interval_notifier_remove(notifier);

    /// <summary>hmm_range_fault in short: the page the CPU maps at <paramref name="hva"/>, with a
    /// reference, faulting it in if needed. The window an invalidation can hit is right after it
    /// (its cond_resched).</summary>
    private page? lookup_cpu_page(ulong hva)
    {
        var vma = find_vma(Mm, hva);
        if (vma is null || (int)(handle_mm_fault(vma, hva, 0) & VM_FAULT_ERROR) != 0)
        {
            return null;
        }

        var pmd = mm_find_pmd(Mm, hva);
        pte_t pte = pmd is null ? default : ptep_get(pte_offset_map(pmd, hva));
        if (!pte_present(pte))
        {
            return null;
        }

        var page = pte_page(pte);
        get_page(page);
        cond_resched();
        return page;
    }

    private static bool mirror_invalidate(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        mirror_dev dev = ((mirror_interval)mni).dev;
        if (mmu_notifier_range_blockable(range))
        {
            mutex_lock(dev.dev_lock);
        }
        else if (!mutex_trylock(dev.dev_lock))
        {
            return false;
        }

        mmu_interval_set_seq(mni, cur_seq);
        int zapped = dev.zap(range.start, range.end);
        mutex_unlock(dev.dev_lock);
        dev.Steps.Add($"invalidate [0x{range.start:x},0x{range.end:x}): sequence -> {cur_seq}, zapped {zapped}");
        return true;
    }
}
