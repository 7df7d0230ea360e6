using System;
using System.Threading;

namespace Kernel.Mm;

/// <summary><c>struct mutex</c>: a sleeping, owner-tracked lock.</summary>
public sealed class mutex
{
    internal readonly object gate = new();
    internal int owner;

    public mutex()
        : this("mutex")
    {
    }

    public mutex(string name)
    {
        this.name = name ?? throw new ArgumentNullException(nameof(name));
    }

    public string name { get; }

    public bool IsHeldByCurrentThread => Volatile.Read(ref owner) == Environment.CurrentManagedThreadId;

    public override string ToString() => name;
}
