using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;

namespace Kernel.Mm;

/// <summary>
/// The current thread's atomic-context bookkeeping: the kernel's preempt count, the spinlocks
/// held (with where each was taken, like lockdep's held_locks) and the atomic notifier callbacks
/// running. Per thread, because a spinlock is held by a CPU, not by an async flow.
/// </summary>
internal static class AtomicContext
{
    [ThreadStatic]
    private static ThreadState? t_state;

    // The async flow the thread's state belongs to. A test that fails (or expects an exception)
    // while holding a spinlock leaves it in its thread's state; the test runner then reuses the
    // thread for another test, in another flow, which must start clean, not "in atomic context".
    private static readonly AsyncLocal<object?> s_flow = new();

    internal static ThreadState State
    {
        get
        {
            var flow = s_flow.Value;
            if (flow is null)
            {
                flow = new object();
                s_flow.Value = flow;
            }

            var s = t_state;
            if (s is null || !ReferenceEquals(s.Flow, flow))
            {
                s = new ThreadState(flow);
                t_state = s;
            }

            return s;
        }
    }

    private static ThreadState? Current
    {
        get
        {
            var s = t_state;
            return s is not null && ReferenceEquals(s.Flow, s_flow.Value) ? s : null;
        }
    }

    internal static bool InAtomic
    {
        get
        {
            var s = Current;
            return s is not null && (s.PreemptCount > 0 || s.HeldSpinlocks.Count > 0 || s.AtomicCallbacks.Count > 0);
        }
    }

    /// <summary>
    /// Puts the thread in atomic context for one notifier callback, until the returned scope is
    /// disposed (<c>using</c>): the runtime's <c>non_block_start()</c> / <c>non_block_end()</c>. Allocates
    /// nothing (the dispatch loops call it once per notifier): the description is built only when
    /// a report needs it.
    /// </summary>
    internal static CallbackScope EnterCallback(AtomicCallback callback)
    {
        var s = State;
        s.AtomicCallbacks.Add(callback);
        return new CallbackScope(s);
    }

    private static void Leave(ThreadState s)
    {
        var list = s.AtomicCallbacks;
        list.RemoveAt(list.Count - 1);
    }

    /// <summary>The kernel's ___might_sleep: reports MMU005 under a spinlock (or with preemption
    /// disabled), MMU004 inside an atomic callback, MMU014 inside a callback of a non-blockable range.</summary>
    internal static void CheckMightSleep(string function)
    {
        var s = Current;
        if (s is null)
        {
            return;
        }

        if (s.HeldSpinlocks.Count > 0)
        {
            var sb = new StringBuilder();
            sb.Append(RuleIdentifiers.SleepUnderSpinlock).Append(": might_sleep() called from ").Append(function)
              .Append("() while holding spinlock ");
            for (int i = s.HeldSpinlocks.Count - 1; i >= 0; i--)
            {
                var held = s.HeldSpinlocks[i];
                if (i != s.HeldSpinlocks.Count - 1)
                {
                    sb.Append(", ");
                }

                sb.Append('\'').Append(held.Lock.name).Append('\'');
                if (held.Site is not null)
                {
                    sb.Append(" (taken in ").Append(held.Site).Append(')');
                }
                else if (HolderOnStack() is { } holder)
                {
                    sb.Append(" (held by ").Append(holder).Append(')');
                }
            }

            if (s.AtomicCallbacks.Count > 0)
            {
                sb.Append(", inside ").Append(s.AtomicCallbacks[^1]);
            }

            sb.Append(": a sleeping call under a spinlock can deadlock or schedule while atomic");
            MmRuntime.Report(RuleIdentifiers.SleepUnderSpinlock, sb.ToString());
            return;
        }

        if (s.AtomicCallbacks.Count > 0)
        {
            var callback = s.AtomicCallbacks[^1];
            if (callback.NonBlockable)
            {
                MmRuntime.Report(
                    RuleIdentifiers.NonBlockableMisuse,
                    $"might_sleep() called from {function}() inside {callback}: the range is not blockable (the OOM reaper's mmu_notifier_invalidate_range_start_nonblock); check mmu_notifier_range_blockable(range) first and return -EAGAIN (false for an interval notifier) instead of sleeping");
                return;
            }

            MmRuntime.Report(
                RuleIdentifiers.SleepInAtomicCallback,
                $"might_sleep() called from {function}() inside {callback}, which runs in atomic context and must not sleep");
            return;
        }

        if (s.PreemptCount > 0)
        {
            MmRuntime.Report(
                RuleIdentifiers.SleepUnderSpinlock,
                $"{RuleIdentifiers.SleepUnderSpinlock}: might_sleep() called from {function}() in atomic context (preempt_count={s.PreemptCount}, preemption disabled)");
        }
    }

    /// <summary>The first method on the current stack outside Kernel.Mm: the code that holds the lock
    /// when the exact acquisition site was not recorded (only computed when reporting).</summary>
    private static string? HolderOnStack()
    {
        var trace = new System.Diagnostics.StackTrace(1, false);
        var own = typeof(AtomicContext).Assembly;
        for (int i = 0; i < trace.FrameCount; i++)
        {
            var m = trace.GetFrame(i)?.GetMethod();
            if (m?.DeclaringType is { } t && t.Assembly != own)
            {
                return Describe(m);
            }
        }

        return null;
    }

    /// <summary>"Type.Method", with compiler-generated lambda and display-class names made readable.</summary>
    internal static string Describe(System.Reflection.MethodBase method)
    {
        string name = method.Name;
        int close = name.IndexOf('>');
        if (name.StartsWith('<') && close > 1)
        {
            name = name.Substring(1, close - 1) + " (lambda)";
        }

        var type = method.DeclaringType;
        while (type is not null && type.Name.StartsWith('<') && type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        return type is null ? name : type.Name + "." + name;
    }

    internal sealed class ThreadState
    {
        public ThreadState(object flow) => Flow = flow;

        public readonly object Flow;
        public int PreemptCount;
        public readonly List<HeldLock> HeldSpinlocks = new();
        public readonly List<AtomicCallback> AtomicCallbacks = new();
        public readonly List<OpenInvalidation> OpenRanges = new();
        public readonly List<srcu_struct> SrcuReadSections = new();
        public readonly List<mmu_notifier_range> RefusedRanges = new();
        public readonly List<InvalidationTwin.UncoveredChange> UncoveredChanges = new();
        public readonly List<SequenceTwin.SequenceRead> SequenceReads = new();
        public string? KthreadName;
    }

    internal readonly record struct HeldLock(spinlock_t Lock, string? Site);

    /// <summary>Leaves the atomic callback it was returned for, on the thread state that entered it.</summary>
    internal readonly struct CallbackScope : IDisposable
    {
        private readonly ThreadState _state;

        internal CallbackScope(ThreadState state) => _state = state;

        public void Dispose() => Leave(_state);
    }
}

/// <summary>
/// An atomic notifier callback running on the thread: which callback, of which notifier's type.
/// Formats as the MMU004/MMU005 messages name it ("the atomic -&gt;invalidate_range callback of
/// notifier X").
/// </summary>
internal readonly struct AtomicCallback
{
    private readonly string _callback;
    private readonly Type _notifier;
    private readonly bool _interval;
    private readonly bool _nonBlockable;

    private AtomicCallback(string callback, Type notifier, bool interval, bool nonBlockable)
    {
        _callback = callback;
        _notifier = notifier;
        _interval = interval;
        _nonBlockable = nonBlockable;
    }

    /// <summary>A callback of an <see cref="mmu_notifier"/> that always runs in atomic context, or
    /// (<paramref name="nonBlockable"/>) one that runs so because the range is not blockable.</summary>
    internal static AtomicCallback Of(mmu_notifier mn, string callback, bool nonBlockable = false) =>
        new(callback, mn.GetType(), interval: false, nonBlockable);

    /// <summary>The <c>-&gt;invalidate</c> of an interval notifier for a non-blockable range.</summary>
    internal static AtomicCallback OfInterval(mmu_interval_notifier sub, string callback) =>
        new(callback, sub.GetType(), interval: true, nonBlockable: true);

    /// <summary>True when the callback runs atomically only because its range is not blockable.</summary>
    internal bool NonBlockable => _nonBlockable;

    public override string ToString() => _interval
        ? $"the ->{_callback} callback of interval notifier {_notifier.Name}{(_nonBlockable ? " (non-blockable range)" : "")}"
        : $"the atomic ->{_callback}{(_nonBlockable ? " (non-blockable range)" : "")} callback of notifier {_notifier.Name}";
}
