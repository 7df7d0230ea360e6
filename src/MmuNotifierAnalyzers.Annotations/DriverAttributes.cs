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
/// (a driver's own sequence read; rule MMU012). On a field or property, reading it is the
/// sequence read (KVM's <c>kvm->mmu_notifier_seq</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Field | AttributeTargets.Property, Inherited = false)]
public sealed class SequenceReadAttribute : Attribute
{
}

/// <summary>
/// The method checks a sequence number read earlier, like <c>mmu_interval_read_retry</c>:
/// it returns <see langword="true"/> when the caller must retry (rule MMU012), unless
/// <see cref="TrueWhenValid"/> says it answers the other way round.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SequenceRetryCheckAttribute : Attribute
{
    /// <summary>The method returns <see langword="true"/> when the sequence is still valid
    /// (<c>hmm_range_valid</c>, amdgpu's <c>amdgpu_ttm_tt_get_user_pages_done</c>) instead of
    /// when the caller must retry.</summary>
    public bool TrueWhenValid { get; set; }
}

/// <summary>
/// The method looks up what a secondary mapping is built from: the CPU pages (<c>hmm_range_fault</c>,
/// <c>get_user_pages</c>) or the VMA that says how to map them (<c>vma_lookup</c>). The sequence
/// must be read before it, or while a lock held at it is still held, or an invalidation that ran
/// between the lookup and the read goes unseen (rule MMU012).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class LooksUpPagesAttribute : Attribute
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
