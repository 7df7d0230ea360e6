namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// What MMU007, MMU008 and MMU014 tell their code fixes: the property names and values of the diagnostics,
/// shared by the analyzers and the fixes so neither spells them on its own. The fixes also read the
/// diagnostics' additional locations, in the order documented on each analyzer.
/// </summary>
public static class RangeFixProperties
{
    /// <summary>Which huge page the range's length is the size of: one of <see cref="Compound"/>,
    /// <see cref="Pmd"/>, <see cref="HugeTlb"/>.</summary>
    public const string SizeProperty = "HugeSize";

    /// <summary><c>compound_order(page)</c>: bytes are <c>PAGE_SIZE &lt;&lt; compound_order(page)</c>,
    /// the mask <c>~((PAGE_SIZE &lt;&lt; compound_order(page)) - 1)</c>.</summary>
    public const string Compound = "Compound";

    /// <summary>PMD huge page: <c>HPAGE_PMD_SIZE</c>, <c>HPAGE_PMD_MASK</c>.</summary>
    public const string Pmd = "Pmd";

    /// <summary>hugetlb page of an hstate: <c>huge_page_size(h)</c>, <c>huge_page_mask(h)</c>.</summary>
    public const string HugeTlb = "HugeTlb";

    /// <summary>MMU014: what the non-blockable callback returns to refuse the range: one of
    /// <see cref="RefuseWithEagain"/>, <see cref="RefuseWithFalse"/>; absent when it cannot refuse
    /// (<c>invalidate_range_end_range</c>, or a signature the fix does not know).</summary>
    public const string RefuseProperty = "Refuse";

    /// <summary><c>-&gt;invalidate_range_start(mn, range)</c> returns <c>-EAGAIN</c>.</summary>
    public const string RefuseWithEagain = "-EAGAIN";

    /// <summary>An interval notifier's <c>-&gt;invalidate</c> returns <c>false</c>.</summary>
    public const string RefuseWithFalse = "false";

    /// <summary>MMU014: the name of the callback's <c>mmu_notifier_range</c> parameter.</summary>
    public const string RangeParameterProperty = "RangeParameter";
}
