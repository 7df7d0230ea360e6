using System;

namespace MmuNotifierAnalyzers.Annotations;

/// <summary>
/// The method opens an invalidation range, like <c>mmu_notifier_invalidate_range_start</c>
/// (a helper that wraps it): callers must close it with the matching end on every path.
/// </summary>
/// <remarks>
/// The range is read from the method's parameters named by <see cref="Mm"/>, <see cref="Start"/>
/// and <see cref="End"/> (by default <c>mm</c>, <c>start</c>, <c>end</c>), or from a single
/// <c>mmu_notifier_range</c> parameter named by <see cref="Range"/>.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class OpensInvalidationRangeAttribute : Attribute
{
    /// <summary>The parameter that names the address space; <c>"mm"</c> by default.</summary>
    public string Mm { get; set; } = "mm";

    /// <summary>The parameter that holds the range's first byte; <c>"start"</c> by default.</summary>
    public string Start { get; set; } = "start";

    /// <summary>The parameter that holds the range's end (exclusive); <c>"end"</c> by default.</summary>
    public string End { get; set; } = "end";

    /// <summary>The <c>mmu_notifier_range</c> parameter, for the 4.20 form; <see langword="null"/> by default.</summary>
    public string? Range { get; set; }
}

/// <summary>
/// The method closes an invalidation range, like <c>mmu_notifier_invalidate_range_end</c>.
/// Its parameters are read as for <see cref="OpensInvalidationRangeAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ClosesInvalidationRangeAttribute : Attribute
{
    /// <summary>The parameter that names the address space; <c>"mm"</c> by default.</summary>
    public string Mm { get; set; } = "mm";

    /// <summary>The parameter that holds the range's first byte; <c>"start"</c> by default.</summary>
    public string Start { get; set; } = "start";

    /// <summary>The parameter that holds the range's end (exclusive); <c>"end"</c> by default.</summary>
    public string End { get; set; } = "end";

    /// <summary>The <c>mmu_notifier_range</c> parameter, for the 4.20 form; <see langword="null"/> by default.</summary>
    public string? Range { get; set; }
}
