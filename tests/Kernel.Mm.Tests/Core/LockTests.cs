using System;
using System.Threading;
using System.Threading.Tasks;
using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

public class LockTests
{
    private const int Threads = 4;
    private const int Iterations = 20_000;

    [Fact]
    public void Spinlock_really_excludes_contending_threads()
    {
        var lk = new spinlock_t("counter_lock");
        long counter = 0; // non-atomic increments: only mutual exclusion keeps the count
        int inside = 0;
        int overlaps = 0;
        bool wasAtomic = true;
        Parallel.For(0, Threads, _ =>
        {
            for (int i = 0; i < Iterations / 10; i++)
            {
                spin_lock(lk);
                if (Interlocked.Increment(ref inside) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                wasAtomic &= MmRuntime.InAtomicContext;
                counter++;
                Interlocked.Decrement(ref inside);
                spin_unlock(lk);
            }
        });
        Assert.Equal(0, overlaps);
        Assert.Equal(Threads * (Iterations / 10), counter);
        Assert.True(wasAtomic);
        Assert.False(spin_is_locked(lk));
    }

    [Fact]
    public void Spinlock_misuse_is_a_clear_error()
    {
        var lk = new spinlock_t("my_lock");
        var e = Assert.Throws<InvalidOperationException>(() => spin_unlock(lk));
        Assert.Equal("spin_unlock: spinlock 'my_lock' is not held (unlock of a lock not held)", e.Message);

        spin_lock(lk);
        var e2 = Assert.Throws<InvalidOperationException>(() => spin_lock(lk));
        Assert.Contains("recursive locking of spinlock 'my_lock'", e2.Message);

        Exception? other = null;
        var t = new Thread(() =>
        {
            try
            {
                spin_unlock(lk);
            }
            catch (Exception x)
            {
                other = x;
            }
        });
        t.Start();
        t.Join();
        Assert.IsType<InvalidOperationException>(other);
        Assert.Contains("not by the current thread", other!.Message);
        spin_unlock(lk);
    }

    [Fact]
    public void Trylock_takes_a_free_lock_and_fails_on_a_held_one()
    {
        var lk = new spinlock_t("t");
        Assert.True(spin_trylock(lk));
        Assert.True(MmRuntime.InAtomicContext);
        bool otherGot = true;
        var t = new Thread(() => otherGot = spin_trylock(lk));
        t.Start();
        t.Join();
        Assert.False(otherGot);
        spin_unlock(lk);
        Assert.False(MmRuntime.InAtomicContext);
    }

    [Fact]
    public void Might_sleep_under_a_spinlock_reports_MMU005_naming_the_lock_and_where_it_was_taken()
    {
        var sink = new CollectingViolationSink();
        using (MmRuntime.TrackLockSitesInThisFlow())
        using (MmRuntime.UseSink(sink))
        {
            var lk = new spinlock_t("mm->page_table_lock");
            var m = new mutex("dev_mutex");
            spin_lock(lk);
            mutex_lock(m);           // reports, then (no contention) takes the mutex
            mutex_unlock(m);
            spin_unlock(lk);
            mutex_lock(m);           // fine: no lock held
            mutex_unlock(m);
        }

        var v = Assert.Single(sink.Violations);
        Assert.Equal("MMU005", v.RuleId);
        Assert.StartsWith("MMU005: might_sleep() called from mutex_lock() while holding spinlock 'mm->page_table_lock'", v.Message);
        Assert.Contains("(taken in LockTests." + nameof(Might_sleep_under_a_spinlock_reports_MMU005_naming_the_lock_and_where_it_was_taken) + ")", v.Message);
        Assert.Contains(nameof(Might_sleep_under_a_spinlock_reports_MMU005_naming_the_lock_and_where_it_was_taken), v.StackTrace);
    }

    [Fact]
    public void Every_sleeping_primitive_reports_in_atomic_context_and_none_outside()
    {
        var sink = new CollectingViolationSink();
        using (MmRuntime.UseSink(sink))
        {
            var sem = new rw_semaphore();
            var c = new completion();
            complete(c);
            var s = new srcu_struct();
            down_read(sem);
            up_read(sem);
            down_write(sem);
            up_write(sem);
            wait_for_completion(c);
            synchronize_srcu(s);
            cond_resched();
            schedule();
            msleep(0);
            might_sleep();
            kfree(kmalloc(16, GFP_KERNEL));
            Assert.Empty(sink.Violations);

            preempt_disable();
            might_sleep();
            cond_resched();
            Assert.NotNull(kmalloc(16, GFP_ATOMIC));                               // atomic flags: no report
            kmalloc(16, GFP_KERNEL);                                                // reclaim allowed: report
            udelay(1);                                                              // never sleeps
            Assert.True(down_read_trylock(sem));                                   // never sleeps
            up_read(sem);
            preempt_enable();
        }

        Assert.Equal(3, sink.Count("MMU005"));
        Assert.Contains(sink.Violations, v => v.Message.Contains("from kmalloc()"));
        Assert.Contains(sink.Violations, v => v.Message.Contains("from cond_resched()"));
    }

    [Fact]
    public void Mutex_excludes_and_checks_its_owner()
    {
        var m = new mutex("m");
        long counter = 0;
        Parallel.For(0, Threads, _ =>
        {
            for (int i = 0; i < 2000; i++)
            {
                mutex_lock(m);
                counter++;
                mutex_unlock(m);
            }
        });
        Assert.Equal(Threads * 2000, counter);
        var e = Assert.Throws<InvalidOperationException>(() => mutex_unlock(m));
        Assert.Equal("mutex_unlock: mutex 'm' is not locked", e.Message);
        mutex_lock(m);
        Assert.Contains("recursive", Assert.Throws<InvalidOperationException>(() => mutex_lock(m)).Message);
        Assert.True(mutex_is_locked(m));
        Assert.False(mutex_trylock(m));
        mutex_unlock(m);
    }

    [Fact]
    public void Rw_semaphore_admits_readers_together_and_writers_alone()
    {
        var sem = new rw_semaphore("sem");
        using var bothIn = new Barrier(2);
        // Two readers inside at once: each waits at the barrier while holding the read lock.
        Parallel.For(0, 2, _ =>
        {
            down_read(sem);
            Assert.True(bothIn.SignalAndWait(TimeSpan.FromSeconds(10)));
            up_read(sem);
        });

        long counter = 0;
        Parallel.For(0, Threads, i =>
        {
            for (int k = 0; k < 2000; k++)
            {
                if ((k + i) % 3 == 0)
                {
                    down_write(sem);
                    counter++;
                    up_write(sem);
                }
                else
                {
                    down_read(sem);
                    _ = Interlocked.Read(ref counter);
                    up_read(sem);
                }
            }
        });
        Assert.Equal(0, sem.ReaderCount);
        Assert.Contains("up_read", Assert.Throws<InvalidOperationException>(() => up_read(sem)).Message);
        Assert.Contains("up_write", Assert.Throws<InvalidOperationException>(() => up_write(sem)).Message);
        down_write(sem);
        Assert.False(down_read_trylock(sem));
        Assert.Contains("deadlock", Assert.Throws<InvalidOperationException>(() => down_read(sem)).Message);
        up_write(sem);
    }

    [Fact]
    public void Completion_wakes_a_waiter_on_another_thread()
    {
        var c = new completion();
        var done = new completion();
        int seen = 0;
        var t = Worker.Start(() =>
        {
            wait_for_completion(c);
            seen = 1;
            complete(done);
        });
        complete(c);
        wait_for_completion(done);
        Assert.Equal(1, seen);
        t.Join();
        Assert.False(try_wait_for_completion(c));
        complete_all(c);
        Assert.True(try_wait_for_completion(c));
        Assert.True(try_wait_for_completion(c));
    }

    [Fact]
    public void Synchronize_srcu_waits_for_readers_that_started_before_it_only()
    {
        var s = new srcu_struct();
        int idx = srcu_read_lock(s);
        var syncDone = new ManualResetEventSlim();
        var t = Worker.Start(() =>
        {
            synchronize_srcu(s);
            syncDone.Set();
        });
        // A reader that starts now (after the flip or before it) must not be needed to finish; the
        // old reader must. The grace period cannot end while idx is held.
        Assert.False(syncDone.Wait(100));
        srcu_read_unlock(s, idx);
        Assert.True(syncDone.Wait(TimeSpan.FromSeconds(10)));
        t.Join();
        Assert.Equal(1, s.CompletedGracePeriods);

        // Readers that start after a grace period began are not waited for.
        int before = srcu_read_lock(s);
        var second = new ManualResetEventSlim();
        var t2 = Worker.Start(() =>
        {
            synchronize_srcu(s);
            second.Set();
        });
        Assert.False(second.Wait(50));
        int after = srcu_read_lock(s);   // started while the grace period waits
        srcu_read_unlock(s, before);
        Assert.True(second.Wait(TimeSpan.FromSeconds(10)));  // done although 'after' still reads
        srcu_read_unlock(s, after);
        t2.Join();
        Assert.Throws<InvalidOperationException>(() => srcu_read_unlock(s, after));
    }

    [Fact]
    public void Preemption_points_fire_after_each_release()
    {
        var names = new System.Collections.Generic.List<string>();
        var lk = new spinlock_t();
        var m = new mutex();
        var sem = new rw_semaphore();
        using (MmRuntime.OnPreemptionPoint(names.Add))
        {
            spin_lock(lk);
            Assert.Empty(names);
            spin_unlock(lk);
            mutex_lock(m);
            mutex_unlock(m);
            down_read(sem);
            up_read(sem);
            down_write(sem);
            up_write(sem);
            cond_resched();
            schedule();
        }

        spin_lock(lk);
        spin_unlock(lk);
        Assert.Equal(new[] { "spin_unlock", "mutex_unlock", "up_read", "up_write", "cond_resched", "schedule" }, names);
    }

    [Fact]
    public void A_lock_leaked_by_one_flow_does_not_put_the_next_flow_on_that_thread_in_atomic_context()
    {
        var lk = new spinlock_t("leaked");
        bool atomicInFirst = false;
        bool atomicInSecond = true;
        Exception? failure = null;
        var t = new Thread(() =>
        {
            try
            {
                var ec = ExecutionContext.Capture()!;
                ExecutionContext.Run(ec, _ =>   // a "test" that fails while holding a spinlock
                {
                    spin_lock(lk);
                    atomicInFirst = MmRuntime.InAtomicContext;
                }, null);
                ExecutionContext.Run(ec, _ =>   // the next "test" the runner puts on this thread
                {
                    atomicInSecond = MmRuntime.InAtomicContext;
                    might_sleep();
                }, null);
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        using (ExecutionContext.SuppressFlow())
        {
            t.Start();
        }

        t.Join();
        Assert.Null(failure);
        Assert.True(atomicInFirst);
        Assert.False(atomicInSecond);
    }
}
