using System;
using System.Collections.Immutable;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// Every C# <see cref="DiagnosticAnalyzer"/> the MmuNotifierAnalyzers assembly contains, found by
/// reflection the way the compiler loads an analyzer assembly: new rules are measured as they land.
/// </summary>
internal static class AnalyzerCatalog
{
    private static readonly Lazy<ImmutableArray<DiagnosticAnalyzer>> All = new(Discover);

    public static Assembly AnalyzerAssembly => typeof(RuleIdentifiers).Assembly;

    public static ImmutableArray<DiagnosticAnalyzer> Analyzers => All.Value;

    private static ImmutableArray<DiagnosticAnalyzer> Discover()
    {
        Type[] types;
        try
        {
            types = AnalyzerAssembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            types = e.Types.Where(t => t is not null).ToArray()!;
        }

        return types
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(DiagnosticAnalyzer).IsAssignableFrom(t))
            .Where(t => t.GetCustomAttributes<DiagnosticAnalyzerAttribute>(inherit: false)
                .Any(a => a.Languages.Contains(LanguageNames.CSharp)))
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!)
            .ToImmutableArray();
    }

    /// <summary>"UnbalancedRangeAnalyzer (MMU002)": a name for tables.</summary>
    public static string Describe(DiagnosticAnalyzer analyzer) =>
        analyzer.GetType().Name + " (" + string.Join(", ", analyzer.SupportedDiagnostics.Select(d => d.Id).Distinct()) + ")";
}
