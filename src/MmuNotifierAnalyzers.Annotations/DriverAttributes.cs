using System;

namespace MmuNotifierAnalyzers.Annotations;

/// <summary>
/// The method drops a reference to a page (like <c>put_page</c>): the page must already be
/// invalidated in every secondary MMU (rule MMU010). The page is the parameter named
/// <see cref="Page"/> (<c>"page"</c> by default).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ReleasesPageAttribute : Attribute
{
    /// <summary>The parameter holding the page; <c>"page"</c> by default.</summary>
    public string Page { get; set; } = "page";
}

/// <summary>
/// The method reads an invalidation sequence number, like <c>mmu_interval_read_begin</c>
/// (a driver's own sequence read; rule MMU012).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SequenceReadAttribute : Attribute
{
}

/// <summary>
/// The method checks a sequence number read earlier, like <c>mmu_interval_read_retry</c>:
/// it returns <see langword="true"/> when the caller must retry (rule MMU012).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SequenceRetryCheckAttribute : Attribute
{
}

/// <summary>
/// The method establishes a mapping in a secondary MMU (a shadow PTE, a device page-table
/// entry): it must come after a successful sequence retry check (rule MMU012).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class EstablishesSecondaryMappingAttribute : Attribute
{
}
