namespace MmuNotifierAnalyzers;

/// <summary>The one registry of rule ids, their category and help links.</summary>
internal static class RuleIdentifiers
{
    public const string InvalidatePageRemoved = "MMU001";
    public const string UnbalancedRange = "MMU002";
    public const string RangeArgumentsChanged = "MMU003";
    public const string SleepInAtomicCallback = "MMU004";
    public const string SleepUnderSpinlock = "MMU005";
    public const string InvalidateRangeOutsideRange = "MMU006";
    public const string RangeLengthInPages = "MMU007";
    public const string HugeRangeNotAligned = "MMU008";
    public const string ChangePteOutsideRange = "MMU009";
    public const string PageReleasedBeforeInvalidation = "MMU010";

    /// <summary>A malformed line in a configuration file (a may-sleep list).</summary>
    public const string InvalidConfiguration = "MMU900";

    public const string Category = "MmuNotifier";
    public const string ConfigurationCategory = "Configuration";

    public static string GetHelpUri(string id) =>
        "https://github.com/mmu-notifier-analyzers/MmuNotifierAnalyzers/blob/main/docs/rules/" + id + ".md";
}
