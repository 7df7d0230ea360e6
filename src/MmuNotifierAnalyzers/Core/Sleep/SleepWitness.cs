using System.Collections.Immutable;

namespace MmuNotifierAnalyzers.Core.Sleep;

/// <summary>
/// Why a call may sleep: the chain of calls from the callee at the call site down to the
/// call that sleeps, e.g. <c>flush_dev_tlb → mutex_lock (may sleep)</c>.
/// </summary>
internal sealed class SleepWitness
{
    /// <summary>Returned (through the <see langword="out"/> parameter) when nothing may sleep.</summary>
    public static readonly SleepWitness None = new(ImmutableArray<string>.Empty, string.Empty);

    public SleepWitness(ImmutableArray<string> methods, string reason)
    {
        Methods = methods;
        Reason = reason;
    }

    /// <summary>Display names, the callee at the call site first, the call that sleeps last
    /// (<c>flush_dev_tlb</c>, <c>mutex_lock</c>). <c>lock</c> and <c>await</c> appear as such.</summary>
    public ImmutableArray<string> Methods { get; }

    /// <summary>Why the last element sleeps: <c>may sleep</c> (annotated or configured),
    /// <c>blocks the thread</c>, <c>synchronous I/O</c>, <c>GFP_KERNEL allows direct reclaim</c>, ...</summary>
    public string Reason { get; }

    /// <summary>The callee at the call site (the first element), or empty for <see cref="None"/>.</summary>
    public string Callee => Methods.IsDefaultOrEmpty ? string.Empty : Methods[0];

    /// <summary>The names joined by arrows, without the reason: <c>flush_dev_tlb → mutex_lock</c>.</summary>
    public string Path => Methods.IsDefaultOrEmpty ? string.Empty : string.Join(" → ", Methods);

    /// <summary>The path and the reason: <c>flush_dev_tlb → mutex_lock (may sleep)</c>.</summary>
    public string Chain => Methods.IsDefaultOrEmpty ? string.Empty : Path + " (" + Reason + ")";

    /// <summary>The path, with the reason only when it says more than "may sleep" — what
    /// diagnostic messages print after "which may sleep: ".</summary>
    public string MessageChain => Reason == SleepReasons.MaySleep ? Path : Chain;

    public override string ToString() => Chain;
}

/// <summary>The reasons a witness ends with.</summary>
internal static class SleepReasons
{
    public const string MaySleep = "may sleep";
    public const string Configured = "may sleep, per MmuNotifier.Sleep.txt";
    public const string Blocks = "blocks the thread";
    public const string SynchronousIo = "synchronous I/O";
    public const string Lock = "Monitor.Enter blocks";
    public const string Await = "suspends until the task completes";
    public const string GfpUnknown = "may sleep unless the flags forbid reclaim";
}
