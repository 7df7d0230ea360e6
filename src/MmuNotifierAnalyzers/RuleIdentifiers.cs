namespace MmuNotifierAnalyzers;

/// <summary>Categories and help links of the rules; the ids are in <c>src/Shared/RuleIdentifiers.Ids.cs</c>.</summary>
internal static partial class RuleIdentifiers
{
    public const string Category = "MmuNotifier";
    public const string ConfigurationCategory = "Configuration";

    public static string GetHelpUri(string id) =>
        "https://github.com/mmu-notifier-analyzers/MmuNotifierAnalyzers/blob/main/docs/rules/" + id + ".md";
}
