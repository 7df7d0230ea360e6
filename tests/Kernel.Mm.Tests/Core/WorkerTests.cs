using System;
using System.Threading;
using Xunit;

namespace Kernel.Mm.Tests.Core;

public sealed class WorkerTests
{
    [Fact]
    public void A_failure_on_the_worker_is_rethrown_by_Join_on_the_test_thread()
    {
        var worker = Worker.Start(() => throw new InvalidOperationException("from the worker"));
        var e = Assert.Throws<InvalidOperationException>(worker.Join);
        Assert.Equal("from the worker", e.Message);
        Assert.Contains(nameof(A_failure_on_the_worker_is_rethrown_by_Join_on_the_test_thread), e.StackTrace, StringComparison.Ordinal);
    }

    [Fact]
    public void TryJoin_says_false_while_the_worker_is_blocked()
    {
        using var go = new ManualResetEventSlim();
        var worker = Worker.Start(() => go.Wait());
        Assert.False(worker.TryJoin(TimeSpan.FromMilliseconds(20)));
        go.Set();
        worker.Join();
        Assert.False(worker.IsAlive);
    }
}
