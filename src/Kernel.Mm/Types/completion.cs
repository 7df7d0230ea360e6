namespace Kernel.Mm;

/// <summary><c>struct completion</c>: <c>wait_for_completion</c> sleeps until <c>complete</c>.</summary>
public sealed class completion
{
    internal readonly object gate = new();
    internal uint done;

    /// <summary>The kernel's UINT_MAX "complete_all" marker.</summary>
    internal const uint COMPLETE_ALL = uint.MaxValue;
}
