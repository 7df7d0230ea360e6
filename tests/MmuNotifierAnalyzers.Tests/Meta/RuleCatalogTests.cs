using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Meta;

/// <summary>
/// Keeps code, docs and release notes honest: every analyzer in the assembly is discovered by
/// reflection (rules other helpers add are checked without touching this file).
/// </summary>
public sealed class RuleCatalogTests
{
    private static IEnumerable<DiagnosticDescriptor> Descriptors =>
        RepositoryLayout.Analyzers.SelectMany(a => a.SupportedDiagnostics);

    [Fact]
    public void AnalyzersAreFound()
    {
        Assert.Contains(RepositoryLayout.Analyzers, a => a is MmuNotifierAnalyzers.Rules.InvalidatePageAnalyzer);
        Assert.NotEmpty(RepositoryLayout.DeclaredIds);
    }

    [Fact]
    public void EachIdBelongsToOneAnalyzerAndIsDeclaredInRuleIdentifiers()
    {
        var problems = new List<string>();
        foreach (var group in RepositoryLayout.Analyzers
            .SelectMany(a => a.SupportedDiagnostics.Select(d => (d.Id, Analyzer: a.GetType().Name)))
            .Distinct()
            .GroupBy(p => p.Id))
        {
            if (group.Count() > 1)
            {
                problems.Add($"{group.Key} is reported by several analyzers: {string.Join(", ", group.Select(p => p.Analyzer))}");
            }

            if (!RepositoryLayout.DeclaredIds.Contains(group.Key))
            {
                problems.Add($"{group.Key} ({group.First().Analyzer}) is not a RuleIdentifiers constant");
            }
        }

        foreach (var id in RepositoryLayout.DeclaredIds)
        {
            if (!Descriptors.Any(d => d.Id == id))
            {
                problems.Add($"RuleIdentifiers declares {id} but no analyzer reports it");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void DescriptorsAreComplete()
    {
        var problems = new List<string>();
        foreach (var descriptor in Descriptors)
        {
            var id = descriptor.Id;
            if (descriptor.HelpLinkUri != MmuNotifierAnalyzers.RuleIdentifiers.GetHelpUri(id))
            {
                problems.Add($"{id}: helpLinkUri is '{descriptor.HelpLinkUri}', expected RuleIdentifiers.GetHelpUri(\"{id}\")");
            }

            if (descriptor.Category != MmuNotifierAnalyzers.RuleIdentifiers.Category && descriptor.Category != MmuNotifierAnalyzers.RuleIdentifiers.ConfigurationCategory)
            {
                problems.Add($"{id}: category '{descriptor.Category}' is not a RuleIdentifiers category");
            }

            if (!descriptor.IsEnabledByDefault)
            {
                problems.Add($"{id}: not enabled by default");
            }

            if (descriptor.Title.ToString(System.Globalization.CultureInfo.InvariantCulture).Length == 0
                || descriptor.MessageFormat.ToString(System.Globalization.CultureInfo.InvariantCulture).Length == 0)
            {
                problems.Add($"{id}: empty title or message");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void EveryRuleHasADocPageWhoseTitleNamesIt()
    {
        var problems = new List<string>();
        foreach (var id in Descriptors.Select(d => d.Id).Distinct())
        {
            var path = Path.Combine(RepositoryLayout.Root, "docs", "rules", id + ".md");
            if (!File.Exists(path))
            {
                problems.Add($"{id}: docs/rules/{id}.md is missing");
                continue;
            }

            var title = File.ReadLines(path).FirstOrDefault(l => l.StartsWith('#'));
            if (title is null || !title.Contains(id, StringComparison.Ordinal))
            {
                problems.Add($"{id}: the title line of docs/rules/{id}.md ('{title}') does not mention {id}");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void EveryRuleIsInTheReleaseNotesWithItsSeverityAndCategory()
    {
        var folder = Path.Combine(RepositoryLayout.Root, "src", "MmuNotifierAnalyzers");
        var rows = new Dictionary<string, (string Category, string Severity)>(StringComparer.Ordinal);
        foreach (var file in new[] { "AnalyzerReleases.Shipped.md", "AnalyzerReleases.Unshipped.md" })
        {
            foreach (var line in File.ReadLines(Path.Combine(folder, file)))
            {
                var cells = line.Split('|').Select(c => c.Trim()).ToArray();
                if (cells.Length >= 3 && Regex.IsMatch(cells[0], "^MMU[0-9]{3}$"))
                {
                    // The latest entry wins (Unshipped is read last).
                    rows[cells[0]] = (cells[1], cells[2]);
                }
            }
        }

        var problems = new List<string>();
        foreach (var descriptor in Descriptors.GroupBy(d => d.Id).Select(g => g.First()))
        {
            if (!rows.TryGetValue(descriptor.Id, out var row))
            {
                problems.Add($"{descriptor.Id}: not in AnalyzerReleases.Shipped.md or Unshipped.md");
                continue;
            }

            if (row.Category != descriptor.Category)
            {
                problems.Add($"{descriptor.Id}: release notes say category {row.Category}, the descriptor {descriptor.Category}");
            }

            if (!string.Equals(row.Severity, descriptor.DefaultSeverity.ToString(), StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{descriptor.Id}: release notes say severity {row.Severity}, the descriptor {descriptor.DefaultSeverity}");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void EveryRuleIsInTheReadmeTable()
    {
        var readme = Path.Combine(RepositoryLayout.Root, "README.md");
        Assert.True(File.Exists(readme), "README.md is missing at the repository root; it must list every rule in a table.");
        var tableRows = File.ReadLines(readme)
            .Where(l => l.TrimStart().StartsWith('|'))
            .Select(l => l.Split('|', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? string.Empty)
            .ToList();
        var missing = Descriptors.Select(d => d.Id).Distinct()
            .Where(id => !tableRows.Any(cell => Regex.IsMatch(cell, @"(^|[\[\s`])" + id + @"($|[\]\s`])")))
            .ToList();
        Assert.True(missing.Count == 0, "README.md has no rules-table row (first cell) for: " + string.Join(", ", missing));
    }

    [Fact]
    public void CodeFixesFixKnownIdsAndSupportFixAll()
    {
        Assert.NotEmpty(RepositoryLayout.CodeFixes);
        var known = Descriptors.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var fix in RepositoryLayout.CodeFixes)
        {
            var name = fix.GetType().Name;
            if (fix.FixableDiagnosticIds.IsDefaultOrEmpty)
            {
                problems.Add($"{name} fixes no id");
            }

            foreach (var id in fix.FixableDiagnosticIds.Where(id => !known.Contains(id)))
            {
                problems.Add($"{name} fixes {id}, which no analyzer reports");
            }

            if (fix.GetFixAllProvider() is null)
            {
                problems.Add($"{name} has no FixAllProvider");
            }

            if (fix.GetType().GetCustomAttributes(typeof(Microsoft.CodeAnalysis.CodeFixes.ExportCodeFixProviderAttribute), false).Length == 0)
            {
                problems.Add($"{name} is not exported ([ExportCodeFixProvider]): the IDE and dotnet format would not find it");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
