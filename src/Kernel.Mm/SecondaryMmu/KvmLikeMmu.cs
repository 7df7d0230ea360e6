using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Threading;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// A KVM-like shadow MMU: a shadow page table (guest frame = host virtual page → page) filled by
/// its own fault path, kept coherent with the CPU page table the way virt/kvm/kvm_main.c does
/// it: <c>invalidate_range_start</c> bumps <c>mmu_notifier_count</c> and zaps the shadow entries
/// in the range, <c>invalidate_range_end</c> bumps <c>mmu_notifier_seq</c> and drops the count,
/// and the fault path reads the sequence before looking the page up and, under
/// <c>mmu_lock</c>, refuses to install when an invalidation ran or is running
/// (<c>mmu_notifier_retry</c>). It implements start/end, change_pte, clear_flush_young,
/// test_young and release — not <c>invalidate_range</c>, which is a no-op for KVM. The shadow
/// page table is the base's translation table.
/// </summary>
public sealed class KvmLikeMmu : SecondaryMmuBase
{
    /// <summary>The KVM notifier: the driver's state hangs off it, as <c>container_of</c> finds
    /// <c>struct kvm</c> from <c>kvm->mmu_notifier</c>.</summary>
    private sealed class kvm_mmu_notifier : mmu_notifier
    {
        internal kvm_mmu_notifier(KvmLikeMmu kvm) => this.kvm = kvm;

        internal readonly KvmLikeMmu kvm;
    }

    private static readonly mmu_notifier_ops kvm_mmu_notifier_ops = new()
    {
        invalidate_range_start = kvm_mmu_notifier_invalidate_range_start,
        invalidate_range_end = kvm_mmu_notifier_invalidate_range_end,
        change_pte = kvm_mmu_notifier_change_pte,
        clear_flush_young = kvm_mmu_notifier_clear_flush_young,
        test_young = kvm_mmu_notifier_test_young,
        release = kvm_mmu_notifier_release,
    };

    /// <summary>kvm->mmu_lock: protects the shadow page table and the two counters below.</summary>
    internal readonly spinlock_t mmu_lock;

    // Written under mmu_lock; the fault path reads the sequence without it (then smp_rmb).
    private long mmu_notifier_seq;
    private long mmu_notifier_count;

    private readonly kvm_mmu_notifier mmu_notifier;
    private long _starts;
    private long _ends;
    private long _retries;
    private long _unbalancedEnds;

    /// <summary>Creates the shadow MMU and registers its notifier on <paramref name="mm"/>
    /// (<c>kvm_init_mmu_notifier</c>).</summary>
    public KvmLikeMmu(mm_struct mm, string name = "kvm")
        : base(mm, name)
    {
        mmu_lock = new spinlock_t(name + "->mmu_lock");
        mmu_notifier = new kvm_mmu_notifier(this) { ops = kvm_mmu_notifier_ops };
        register_notifier(mmu_notifier);
    }

    /// <summary>The registered notifier (tests look for it in <see cref="mm_struct.Notifiers"/>).</summary>
    public mmu_notifier Notifier => mmu_notifier;

    /// <summary>kvm->mmu_notifier_seq: bumped by every invalidate_range_end.</summary>
    public long MmuNotifierSeq => Interlocked.Read(ref mmu_notifier_seq);

    /// <summary>kvm->mmu_notifier_count: invalidations started and not yet ended.</summary>
    public long MmuNotifierCount => Interlocked.Read(ref mmu_notifier_count);

    /// <summary>invalidate_range_start callbacks seen.</summary>
    public long StartsSeen => Interlocked.Read(ref _starts);

    /// <summary>invalidate_range_end callbacks seen.</summary>
    public long EndsSeen => Interlocked.Read(ref _ends);

    /// <summary>Faults that had to retry because an invalidation raced with them.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>invalidate_range_end callbacks that had no matching start (KVM would BUG_ON).</summary>
    public long UnbalancedEnds => Interlocked.Read(ref _unbalancedEnds);

    /// <summary>True once ->release ran (mm teardown or unregister).</summary>
    public bool Released { get; private set; }

    /// <summary>Whether the shadow entry for <paramref name="address"/> lets the guest write.</summary>
    public bool IsWritable(ulong address) =>
        lookup(address & PAGE_MASK, out var spte) && spte.writable;

    /// <summary>
    /// The guest touched <paramref name="address"/> and the shadow table had no (writable) entry:
    /// KVM's page-fault path (<c>kvm_mmu_page_fault</c> → <c>__gfn_to_pfn</c> →
    /// <c>mmu_notifier_retry</c>). May sleep (it faults the page in through the CPU).
    /// </summary>
    public SecondaryFaultResult Fault(ulong address, bool write)
    {
        ulong hva = address & PAGE_MASK;
        long mmu_seq = Volatile.Read(ref mmu_notifier_seq);
        smp_rmb();

        // hva_to_pfn: gup with a reference, faulting the page in through the CPU if needed.
        page? page = secondary_walk.get_user_page(Mm, hva, write, out bool writable);
        if (page is null)
        {
            Steps.Add($"fault 0x{hva:x} -> no page, failed");
            return SecondaryFaultResult.Failed;
        }

        // The window the protocol exists for: an invalidation may run right here.
        cond_resched();

        spin_lock(mmu_lock);
        if (mmu_notifier_retry(mmu_seq))
        {
            spin_unlock(mmu_lock);
            kvm_release_page_clean(page);
            Interlocked.Increment(ref _retries);
            Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, retry");
            return SecondaryFaultResult.Retry;
        }

        install(hva, new secondary_pte(page, writable));
        spin_unlock(mmu_lock);
        Steps.Add($"fault 0x{hva:x} -> pfn 0x{page_to_pfn(page):x}, installed");

        // The shadow entry holds no reference: the notifier keeps it coherent instead.
        kvm_release_page_clean(page);
        return SecondaryFaultResult.Installed;
    }

    /// <summary>
    /// A guest access: uses the shadow entry if it allows the access, otherwise faults (retrying
    /// at most <paramref name="maxFaults"/> times, like a vCPU re-entering the guest). Returns the
    /// page the guest reached, or null.
    /// </summary>
    public page? Access(ulong address, bool write, int maxFaults = 64)
    {
        ulong hva = address & PAGE_MASK;
        for (int i = 0; i <= maxFaults; i++)
        {
            if (lookup(hva, out var spte) && (!write || spte.writable))
            {
                return spte.page;
            }

            if (i == maxFaults || Fault(hva, write) == SecondaryFaultResult.Failed)
            {
                break;
            }
        }

        return null;
    }

    // mmu_notifier_retry(): an invalidation is running, or one ended since mmu_seq was read.
    private bool mmu_notifier_retry(long mmu_seq)
    {
        if (mmu_notifier_count != 0)
        {
            return true;
        }

        smp_rmb();
        return mmu_notifier_seq != mmu_seq;
    }

    private static void kvm_release_page_clean(page page) => put_page(page);

    private static void smp_rmb() => Interlocked.MemoryBarrier();

    private static void smp_wmb() => Interlocked.MemoryBarrier();

    private static KvmLikeMmu mmu_notifier_to_kvm(mmu_notifier mn) => ((kvm_mmu_notifier)mn).kvm;

    // kvm_unmap_hva_range: zap every shadow entry in [start, end). Caller holds mmu_lock.
    private int kvm_unmap_hva_range(ulong start, ulong end) => zap(start, end);

    private static void kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        KvmLikeMmu kvm = mmu_notifier_to_kvm(mn);
        spin_lock(kvm.mmu_lock);
        // The count is elevated before the zap so a fault that looked the page up before it
        // cannot install it after it: mmu_notifier_retry sees count != 0.
        kvm.mmu_notifier_count++;
        int zapped = kvm.kvm_unmap_hva_range(start, end);
        spin_unlock(kvm.mmu_lock);
        Interlocked.Increment(ref kvm._starts);
        kvm.Steps.Add($"invalidate_range_start {MmuStepLog.Range(start, end)}: count={kvm.MmuNotifierCount}, zapped {zapped}");
    }

    private static void kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        KvmLikeMmu kvm = mmu_notifier_to_kvm(mn);
        spin_lock(kvm.mmu_lock);
        // The sequence is bumped before the count drops so a fault that looked the page up
        // during the invalidation sees the new sequence once it sees count == 0.
        kvm.mmu_notifier_seq++;
        smp_wmb();
        kvm.mmu_notifier_count--;
        bool unbalanced = kvm.mmu_notifier_count < 0;
        if (unbalanced)
        {
            // KVM BUG_ON()s here: an end without its start would let a later fault install
            // during an invalidation. Count it (tests assert zero) and keep the count sane.
            kvm.mmu_notifier_count = 0;
            Interlocked.Increment(ref kvm._unbalancedEnds);
        }

        long count = kvm.mmu_notifier_count;
        spin_unlock(kvm.mmu_lock);
        Interlocked.Increment(ref kvm._ends);
        kvm.Steps.Add($"invalidate_range_end {MmuStepLog.Range(start, end)}: seq={kvm.MmuNotifierSeq}, count={count}{(unbalanced ? ", UNBALANCED (no matching start)" : "")}");
    }

    private static void kvm_mmu_notifier_change_pte(mmu_notifier mn, mm_struct mm, ulong address, pte_t pte)
    {
        KvmLikeMmu kvm = mmu_notifier_to_kvm(mn);
        ulong hva = address & PAGE_MASK;
        spin_lock(kvm.mmu_lock);
        // Only act when this change_pte is the sole invalidation in flight (seed 002): with more
        // outstanding, a later invalidation could be missed. Inside its start/end the entry was
        // already zapped, so this normally finds nothing, which is what KVM does too.
        bool updated = false;
        if (kvm.mmu_notifier_count <= 1 && kvm.lookup(hva, out _) && pte_present(pte))
        {
            kvm.update(hva, new secondary_pte(pte_page(pte), pte_write(pte)));
            updated = true;
        }

        spin_unlock(kvm.mmu_lock);
        kvm.Steps.Add($"change_pte 0x{hva:x} -> pfn 0x{pte_pfn(pte):x}, {(updated ? "updated" : "no shadow entry")}");
    }

    private static int kvm_mmu_notifier_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        KvmLikeMmu kvm = mmu_notifier_to_kvm(mn);
        int young = 0;
        spin_lock(kvm.mmu_lock);
        foreach (var entry in kvm.entries_in(start, end))
        {
            if (entry.Value.accessed)
            {
                kvm.update(entry.Key, entry.Value with { accessed = false });
                young = 1;
            }
        }

        spin_unlock(kvm.mmu_lock);
        kvm.Steps.Add($"clear_flush_young {MmuStepLog.Range(start, end)} -> {young}");
        return young;
    }

    private static int kvm_mmu_notifier_test_young(mmu_notifier mn, mm_struct mm, ulong address)
    {
        KvmLikeMmu kvm = mmu_notifier_to_kvm(mn);
        spin_lock(kvm.mmu_lock);
        int young = kvm.lookup(address & PAGE_MASK, out var spte) && spte.accessed ? 1 : 0;
        spin_unlock(kvm.mmu_lock);
        kvm.Steps.Add($"test_young 0x{address & PAGE_MASK:x} -> {young}");
        return young;
    }

    private static void kvm_mmu_notifier_release(mmu_notifier mn, mm_struct mm)
    {
        KvmLikeMmu kvm = mmu_notifier_to_kvm(mn);
        spin_lock(kvm.mmu_lock);
        // kvm_arch_flush_shadow_all: the address space is going away.
        int zapped = kvm.kvm_unmap_hva_range(0, ulong.MaxValue);
        spin_unlock(kvm.mmu_lock);
        kvm.Released = true;
        kvm.Steps.Add($"release: zapped {zapped}");
    }
}
