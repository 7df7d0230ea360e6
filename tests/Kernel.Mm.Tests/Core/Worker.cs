using System;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace Kernel.Mm.Tests.Core;

/// <summary>
/// A thread for a concurrency test whose failure reaches the test thread: an exception (an
/// assertion included) thrown on a raw thread would otherwise crash the whole test host, and a
/// worker that never ends would hang the run instead of failing one test.
/// </summary>
internal sealed class Worker
{
    private static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(30);
    private readonly Thread _thread;
    private ExceptionDispatchInfo? _failure;

    private Worker(Action body, string name)
    {
        _thread = new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception exception)
            {
                _failure = ExceptionDispatchInfo.Capture(exception);
            }
        })
        { IsBackground = true, Name = name };
    }

    public bool IsAlive => _thread.IsAlive;

    public static Worker Start(Action body, string name = "test worker")
    {
        var worker = new Worker(body, name);
        worker._thread.Start();
        return worker;
    }

    /// <summary>False when the worker is still running after <paramref name="timeout"/>
    /// (for "it must still be blocked" checks); rethrows the worker's failure once it ended.</summary>
    public bool TryJoin(TimeSpan timeout)
    {
        if (!_thread.Join(timeout))
        {
            return false;
        }

        _failure?.Throw();
        return true;
    }

    /// <summary>Waits for the worker and rethrows what it threw; fails if it does not end in time.</summary>
    public void Join()
    {
        if (!TryJoin(DefaultLimit))
        {
            throw new TimeoutException($"'{_thread.Name}' did not finish within {DefaultLimit.TotalSeconds:F0} s.");
        }
    }
}
