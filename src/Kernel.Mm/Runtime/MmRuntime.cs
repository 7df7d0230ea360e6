using System;
using System.Threading;

namespace Kernel.Mm;

/// <summary>
/// The runtime twin of the analyzers: where reports go, hooks that let tests interleave threads
/// deterministically, and the current thread's atomic-context state.
/// </summary>
public static class MmRuntime
{
    private static readonly AsyncLocal<IMmViolationSink?> s_sinkOverride = new();
    private static readonly AsyncLocal<Action<string>?> s_preemptionHook = new();
    private static IMmViolationSink s_defaultSink = new ThrowingViolationSink();

    /// <summary>The process-wide sink; a <see cref="ThrowingViolationSink"/> unless set.</summary>
    public static IMmViolationSink DefaultSink
    {
        get => Volatile.Read(ref s_defaultSink);
        set => Volatile.Write(ref s_defaultSink, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>The sink reports of the current flow go to (the <see cref="UseSink"/> override, else the default).</summary>
    public static IMmViolationSink CurrentSink => s_sinkOverride.Value ?? DefaultSink;

    /// <summary>
    /// Sends the reports of the current async flow (and threads it starts) to <paramref name="sink"/>
    /// until the result is disposed. xunit runs test classes in parallel, so tests use this rather
    /// than <see cref="DefaultSink"/>.
    /// </summary>
    public static IDisposable UseSink(IMmViolationSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var previous = s_sinkOverride.Value;
        s_sinkOverride.Value = sink;
        return new Restore(() => s_sinkOverride.Value = previous);
    }

    /// <summary>Reports a violation of <paramref name="ruleId"/>; the message is prefixed with the id
    /// unless it already starts with it. Captures the caller's stack.</summary>
    public static void Report(string ruleId, string message)
    {
        ArgumentNullException.ThrowIfNull(ruleId);
        ArgumentNullException.ThrowIfNull(message);
        Report(ruleId, message, new System.Diagnostics.StackTrace(1, true).ToString());
    }

    /// <summary>A report whose stack was captured earlier, where the violation happened (a twin that
    /// can only decide later that it was one).</summary>
    internal static void Report(string ruleId, string message, string stackTrace)
    {
        string text = message.StartsWith(ruleId, StringComparison.Ordinal) ? message : ruleId + ": " + message;
        CurrentSink.Report(new MmViolation(ruleId, text, stackTrace));
    }

    /// <summary>
    /// Calls <paramref name="hook"/> with the function name right after every lock release
    /// (<c>spin_unlock</c>, <c>pte_unmap_unlock</c>, <c>mutex_unlock</c>, <c>up_read</c>,
    /// <c>up_write</c>) and in <c>cond_resched</c> / <c>schedule</c> on the current flow, so a test
    /// can interleave another thread's work at exactly those points without sleeping.
    /// </summary>
    public static IDisposable OnPreemptionPoint(Action<string> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        var previous = s_preemptionHook.Value;
        s_preemptionHook.Value = previous is null ? hook : name => { previous(name); hook(name); };
        return new Restore(() => s_preemptionHook.Value = previous);
    }

    /// <summary>Raised when a page's refcount reaches zero, before the page goes back to the free list.</summary>
    public static event Action<page>? PageFreeing;

    /// <summary>True when the current thread is in atomic context: a spinlock is held, preemption is
    /// disabled, or an atomic notifier callback is running.</summary>
    public static bool InAtomicContext => AtomicContext.InAtomic;

    /// <summary>
    /// Record the exact function that took each spinlock, so MMU005 can say where a held lock was
    /// taken. It costs a stack walk per <c>spin_lock</c>, so it is off by default; MMU005 then names
    /// the function on the current stack that holds the lock instead. Process-wide; see
    /// <see cref="TrackLockSitesInThisFlow"/> for a per-test switch.
    /// </summary>
    public static bool TrackLockSites { get; set; }

    /// <summary>Turns <see cref="TrackLockSites"/> on for the current async flow until disposed.</summary>
    public static IDisposable TrackLockSitesInThisFlow()
    {
        var previous = s_trackSites.Value;
        s_trackSites.Value = true;
        return new Restore(() => s_trackSites.Value = previous);
    }

    private static readonly AsyncLocal<bool> s_trackSites = new();

    internal static bool ShouldTrackLockSites => TrackLockSites || s_trackSites.Value;

    internal static void PreemptionPoint(string function)
    {
        var hook = s_preemptionHook.Value;
        hook?.Invoke(function);
    }

    internal static void RaisePageFreeing(page page) => PageFreeing?.Invoke(page);

    private sealed class Restore : IDisposable
    {
        private Action? _undo;

        public Restore(Action undo) => _undo = undo;

        public void Dispose()
        {
            Interlocked.Exchange(ref _undo, null)?.Invoke();
        }
    }
}
