using System;

namespace MmuNotifierAnalyzers.Annotations;

/// <summary>
/// The method may sleep (block, schedule, wait): it must not be reached while a spinlock is
/// held or from a callback that runs in atomic context. The kernel's <c>might_sleep()</c>.
/// </summary>
/// <remarks>
/// The analyzers recognise this attribute by its full name, so a kernel that does not use
/// <c>Kernel.Mm</c> may declare its own copy in the same namespace instead of referencing
/// this package.
/// </remarks>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Constructor | AttributeTargets.Property | AttributeTargets.Delegate, Inherited = false)]
public sealed class MaySleepAttribute : Attribute
{
}

/// <summary>
/// The method never sleeps, whatever it calls: the interprocedural may-sleep analysis stops
/// here. Use it for a method whose sleeping calls are guarded by a check the analyzer cannot
/// see (for example <c>if (gfpflags_allow_blocking(gfp))</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Constructor | AttributeTargets.Property | AttributeTargets.Delegate, Inherited = false)]
public sealed class NeverSleepsAttribute : Attribute
{
}

/// <summary>
/// The method runs in atomic context (a callback of your own that is called under a spinlock
/// or with preemption disabled): nothing reachable from it may sleep.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Delegate, Inherited = false)]
public sealed class AtomicContextAttribute : Attribute
{
}
