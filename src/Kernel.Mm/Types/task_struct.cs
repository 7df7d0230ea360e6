using System;
using System.Threading;

namespace Kernel.Mm;

/// <summary>A kernel thread started with <c>kthread_run</c>: a real .NET thread. When its function
/// returns, the runtime checks it left no invalidation range open (MMU002).</summary>
public sealed class task_struct
{
    internal readonly Thread thread;
    internal volatile bool should_stop;
    internal Exception? failure;

    internal task_struct(Thread thread, string comm)
    {
        this.thread = thread;
        this.comm = comm;
    }

    /// <summary>The thread's name (<c>task->comm</c>).</summary>
    public string comm { get; }

    /// <summary>An exception the thread function threw, if any (the kernel would oops).</summary>
    public Exception? Failure => failure;

    /// <summary>Waits for the thread to exit (without asking it to stop).</summary>
    public void Join() => thread.Join();

    public override string ToString() => comm;
}
