using System;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/sched.h, include/linux/kernel.h, include/linux/delay.h, include/linux/kthread.h
public static partial class Linux
{
    [ThreadStatic]
    private static task_struct? t_current_kthread;

    /// <summary>Annotation of a function that may sleep: reports MMU005 if a spinlock is held (or
    /// preemption is disabled) and MMU004 inside an atomic notifier callback.</summary>
    [MaySleep]
    public static void might_sleep() => AtomicContext.CheckMightSleep(nameof(might_sleep));

    /// <summary>might_sleep() on behalf of <paramref name="function"/>, named in the report.</summary>
    internal static void might_sleep_in(string function) => AtomicContext.CheckMightSleep(function);

    /// <summary>Gives up the CPU (sleeps). A preemption point for
    /// <see cref="MmRuntime.OnPreemptionPoint"/>.</summary>
    [MaySleep]
    public static void schedule()
    {
        might_sleep_in(nameof(schedule));
        MmRuntime.PreemptionPoint(nameof(schedule));
        Thread.Yield();
    }

    /// <summary>A voluntary preemption point (may sleep).</summary>
    [MaySleep]
    public static void cond_resched()
    {
        might_sleep_in(nameof(cond_resched));
        MmRuntime.PreemptionPoint(nameof(cond_resched));
    }

    /// <summary>Sleeps for <paramref name="msecs"/> milliseconds.</summary>
    [MaySleep]
    public static void msleep(uint msecs)
    {
        might_sleep_in(nameof(msleep));
        Thread.Sleep(TimeSpan.FromMilliseconds(msecs));
    }

    /// <summary>Busy-waits <paramref name="usecs"/> microseconds; never sleeps (fine under a spinlock).</summary>
    [NeverSleeps]
    public static void udelay(ulong usecs)
    {
        var until = System.Diagnostics.Stopwatch.GetTimestamp()
            + (long)(usecs * (ulong)System.Diagnostics.Stopwatch.Frequency / 1_000_000UL);
        while (System.Diagnostics.Stopwatch.GetTimestamp() < until)
        {
            Thread.SpinWait(20);
        }
    }

    /// <summary>
    /// Starts a kernel thread running <paramref name="threadfn"/> (a real thread, with the caller's
    /// report sink). When the function returns, a range opened with
    /// <c>mmu_notifier_invalidate_range_start</c> and not ended by that thread is reported as MMU002.
    /// Wait for it with <see cref="kthread_stop"/> or <see cref="task_struct.Join"/>.
    /// </summary>
    public static task_struct kthread_run(Action threadfn, string name)
    {
        ArgumentNullException.ThrowIfNull(threadfn);
        ArgumentNullException.ThrowIfNull(name);
        task_struct? task = null;
        var ready = new ManualResetEventSlim(false);
        var thread = new Thread(() =>
        {
            ready.Wait();
            t_current_kthread = task;
            AtomicContext.State.KthreadName = name;
            try
            {
                threadfn();
            }
            catch (Exception e)
            {
                task!.failure = e;
            }
            finally
            {
                try
                {
                    kthread_exit_checks(name);
                }
                catch (Exception e)
                {
                    task!.failure ??= e;
                }
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        task = new task_struct(thread, name);
        thread.Start();
        ready.Set();
        return task;
    }

    /// <summary>Asks <paramref name="k"/> to stop (<see cref="kthread_should_stop"/> turns true) and
    /// waits for it to exit. Returns 0, or -EINTR (-4) when the thread function threw.</summary>
    [MaySleep]
    public static int kthread_stop(task_struct k)
    {
        ArgumentNullException.ThrowIfNull(k);
        might_sleep_in(nameof(kthread_stop));
        k.should_stop = true;
        k.thread.Join();
        return k.failure is null ? 0 : -4;
    }

    /// <summary>True in a kthread whose <see cref="kthread_stop"/> was called.</summary>
    public static bool kthread_should_stop() => t_current_kthread?.should_stop ?? false;

    private static void kthread_exit_checks(string name)
    {
        InvalidationTwin.ThreadExiting(name);

        if (AtomicContext.State.HeldSpinlocks.Count > 0)
        {
            throw new InvalidOperationException(
                $"kthread '{name}' exited holding spinlock '{AtomicContext.State.HeldSpinlocks[^1].Lock.name}'");
        }
    }
}
