namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// What MMU007 and MMU008 tell their code fixes: the property names and values of the diagnostics,
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
}
