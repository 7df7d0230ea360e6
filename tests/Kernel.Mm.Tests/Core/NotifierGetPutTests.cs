using System;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

/// <summary>
/// The 5.4 get/put scheme (2c7933f53f6b): one notifier per (mm, ops), counted; the last put frees it
/// after an SRCU grace period, so ->release may drop its reference where unregister would deadlock.
/// </summary>
public class NotifierGetPutTests
{
    private sealed class counted : mmu_notifier
    {
        public int free_calls;
        public int release_calls;
    }

    // C's alloc_notifier returns the driver's struct; mmu_notifier_get_locked sets mn->ops to the ops.
    private static mmu_notifier_ops Ops(Action<mmu_notifier>? release = null)
    {
        mmu_notifier_ops? ops = null;
        ops = new()
        {
            alloc_notifier = mm => new counted { ops = ops! },
            free_notifier = mn => ((counted)mn).free_calls++,
            release = (mn, mm) =>
            {
                ((counted)mn).release_calls++;
                release?.Invoke(mn);
            },
        };
        return ops;
    }

    [Fact]
    public void Get_returns_the_one_notifier_of_the_ops_and_the_last_put_frees_it_after_a_grace_period()
    {
        var (mm, _) = TestMm.Anon();
        var ops = Ops();
        var first = (counted)mmu_notifier_get(ops, mm)!;
        var second = mmu_notifier_get(ops, mm);
        Assert.Same(first, second);
        Assert.Single(mm.Notifiers);

        mmu_notifier_put(first);
        mmu_notifier_synchronize();
        Assert.Equal(0, first.free_calls);
        Assert.Single(mm.Notifiers);

        mmu_notifier_put(first);
        mmu_notifier_synchronize();
        Assert.Equal(1, first.free_calls);
        Assert.Empty(mm.Notifiers);
        Assert.Equal(0, first.release_calls); // put never calls ->release
    }

    [Fact]
    public void Put_from_release_does_not_wait_for_itself()
    {
        var (mm, _) = TestMm.Anon();
        var ops = Ops(release: mn => mmu_notifier_put(mn));
        var mn = (counted)mmu_notifier_get(ops, mm)!;

        mmput(mm); // exit_mmap: ->release, which drops the get's reference
        mmu_notifier_synchronize();

        Assert.Equal(1, mn.release_calls);
        Assert.Equal(1, mn.free_calls);
    }

    [Fact]
    public void Get_locked_requires_mmap_sem_for_write_and_more_puts_than_gets_are_refused()
    {
        var (mm, _) = TestMm.Anon();
        var ops = Ops();
        Assert.Throws<InvalidOperationException>(() => mmu_notifier_get_locked(ops, mm));

        down_write(mm.mmap_sem);
        var mn = mmu_notifier_get_locked(ops, mm)!;
        up_write(mm.mmap_sem);

        mmu_notifier_put(mn);
        Assert.Throws<InvalidOperationException>(() => mmu_notifier_put(mn));
        mmu_notifier_synchronize();
    }
}
