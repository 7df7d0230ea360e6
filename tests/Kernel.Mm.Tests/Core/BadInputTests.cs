using System;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

/// <summary>Misuse fails loudly, naming the function and the value; nothing corrupts silently.</summary>
public class BadInputTests
{
    private const ulong A = TestMm.Base;

    [Fact]
    public void Mm_lifetime_misuse()
    {
        var (mm, _) = TestMm.Anon();
        mmput(mm);
        Assert.StartsWith("mmput: mm#", Assert.Throws<InvalidOperationException>(() => mmput(mm)).Message);
        Assert.StartsWith("mmget: mm#", Assert.Throws<InvalidOperationException>(() => mmget(mm)).Message);
        Assert.False(mmget_not_zero(mm));
        Assert.Contains("no users", Assert.Throws<InvalidOperationException>(() => mmu_notifier_register(RecordingNotifier.Create(), mm)).Message);
    }

    [Fact]
    public void Rmap_and_mapcount_misuse()
    {
        var p = alloc_page(GFP_KERNEL)!;
        var e = Assert.Throws<InvalidOperationException>(() => page_remove_rmap(p));
        Assert.Contains($"page_remove_rmap: pfn 0x{page_to_pfn(p):x} is not mapped", e.Message);
        Assert.Equal(0, page_mapcount(p));
        Assert.Contains("not a compound head", Assert.Throws<ArgumentException>(() => page_remove_rmap(p, compound: true)).Message);
        put_page(p);
    }

    [Fact]
    public void Page_table_misuse()
    {
        ulong start = 0x180000000UL;
        var (mm, vma) = TestMm.Anon(start, HPAGE_PMD_SIZE, VM_HUGEPAGE);
        handle_mm_fault(vma, start, FAULT_FLAG_WRITE);
        var pmd = mm_find_pmd(mm, start)!;
        Assert.Contains("maps a huge page, not a pte table", Assert.Throws<InvalidOperationException>(() => pte_offset_map(pmd, start)).Message);
        var e = Assert.Throws<ArgumentException>(() => pmdp_huge_clear_flush(vma, start + PAGE_SIZE, pmd));
        Assert.Equal("pmdp_huge_clear_flush: address 0x180001000 is not aligned to HPAGE_PMD_SIZE (Parameter 'haddr')", e.Message);
        Assert.True(pmd_trans_huge(pmdp_get(pmd)));   // untouched

        var (other, ovma) = TestMm.Anon();
        handle_mm_fault(ovma, A, FAULT_FLAG_WRITE);
        var opte = pte_offset_map(mm_find_pmd(other, A)!, A);
        Assert.Contains("the pte belongs to mm#", Assert.Throws<ArgumentException>(() => set_pte_at(mm, A, opte, default)).Message);
        Assert.Contains("is not the address of the pte", Assert.Throws<ArgumentException>(() => set_pte_at(other, A + PAGE_SIZE, opte, default)).Message);
        Assert.Contains("is outside vma", Assert.Throws<ArgumentException>(() => ptep_clear_flush(vma, A, opte)).Message);
        Assert.Contains("pointer arithmetic left its page table", Assert.Throws<ArgumentOutOfRangeException>(() => opte - 1).Message);
        mmput(other);
        mmput(mm);
    }

    [Fact]
    public void Vma_misuse()
    {
        var mm = mm_alloc();
        var huge = vm_area_alloc(mm);
        huge.vm_start = 0x40001000UL;
        huge.vm_end = 0x40201000UL;
        huge.vm_flags = VM_READ | VM_WRITE | VM_HUGETLB;
        Assert.Contains("not aligned to the huge page size", Assert.Throws<ArgumentException>(() => insert_vm_struct(mm, huge)).Message);
        var empty = vm_area_alloc(mm);
        empty.vm_start = empty.vm_end = A;
        Assert.Contains("is empty", Assert.Throws<ArgumentException>(() => insert_vm_struct(mm, empty)).Message);
        var notInserted = vm_area_alloc(mm);
        notInserted.vm_start = A;
        notInserted.vm_end = A + PAGE_SIZE;
        notInserted.vm_flags = VM_READ;
        Assert.Contains("is not inserted", Assert.Throws<InvalidOperationException>(() => handle_mm_fault(notInserted, A, 0)).Message);
        Assert.Contains("not a hugetlb vma", Assert.Throws<ArgumentException>(() => hstate_vma(notInserted)).Message);
        Assert.Equal(-EINVAL, do_munmap(mm, A + 1, PAGE_SIZE));
        mmput(mm);
    }

    [Fact]
    public void Context_and_primitive_misuse()
    {
        Assert.Contains("unbalanced preempt_enable", Assert.Throws<InvalidOperationException>(() => preempt_enable()).Message);
        Assert.Contains("is not held by this thread", Assert.Throws<InvalidOperationException>(() => assert_spin_locked(new spinlock_t("x"))).Message);
        var s = new srcu_struct();
        Assert.Throws<ArgumentOutOfRangeException>(() => srcu_read_unlock(s, 5));
        Assert.Contains("unbalanced srcu_read_unlock", Assert.Throws<InvalidOperationException>(() => srcu_read_unlock(s, 0)).Message);
        var p = alloc_page(GFP_KERNEL)!;
        Assert.Contains("is not locked", Assert.Throws<InvalidOperationException>(() => unlock_page(p)).Message);
        lock_page(p);
        Assert.False(trylock_page(p));
        unlock_page(p);
        put_page(p);
        Assert.Contains("order 11 is outside", Assert.Throws<ArgumentOutOfRangeException>(() => alloc_pages(GFP_KERNEL, MAX_ORDER)).Message);

        var k = kthread_run(() => throw new InvalidOperationException("oops"), "kworker/oops");
        Assert.Equal(-EINTR, kthread_stop(k));
        Assert.Equal("oops", k.Failure!.Message);
        bool stopSeen = false;
        var k2 = kthread_run(
            () =>
            {
                while (!kthread_should_stop())
                {
                    cond_resched();
                }

                stopSeen = true;
            },
            "kworker/loop");
        Assert.Equal(0, kthread_stop(k2));
        Assert.True(stopSeen);
    }
}
