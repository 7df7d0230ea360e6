using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MmuNotifierAnalyzers.Tests.Meta;

/// <summary>Where the repository is, and what the analyzer and code-fix assemblies contain.</summary>
internal static class RepositoryLayout
{
    private static readonly Lazy<string> LazyRoot = new(() => FindRoot());

    /// <summary>The folder holding MmuNotifierAnalyzers.sln. Found from this source file's
    /// compile-time path first (test binaries may live in an artifacts folder outside the repo),
    /// then from the test's base and current directories.</summary>
    public static string Root => LazyRoot.Value;

    public static ImmutableArray<DiagnosticAnalyzer> Analyzers { get; } =
        typeof(MmuNotifierAnalyzers.Rules.InvalidatePageAnalyzer).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(DiagnosticAnalyzer).IsAssignableFrom(t) && t.GetCustomAttribute<DiagnosticAnalyzerAttribute>() is not null)
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!)
            .ToImmutableArray();

    public static ImmutableArray<CodeFixProvider> CodeFixes { get; } =
        typeof(MmuNotifierAnalyzers.CodeFixes.InvalidatePageCodeFix).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(CodeFixProvider).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => (CodeFixProvider)Activator.CreateInstance(t)!)
            .ToImmutableArray();

    /// <summary>Every rule id declared in RuleIdentifiers (its const strings that look like MMUnnn).</summary>
    public static ImmutableArray<string> DeclaredIds { get; } =
        typeof(MmuNotifierAnalyzers.RuleIdentifiers).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .Where(v => v.Length == 6 && v.StartsWith("MMU", StringComparison.Ordinal) && v.Substring(3).All(char.IsDigit))
            .OrderBy(v => v, StringComparer.Ordinal)
            .ToImmutableArray();

    /// <summary>The .cs files under <paramref name="folder"/>, in ordinal order, without build
    /// output (obj/, bin/); none when the folder does not exist.</summary>
    public static List<string> SourceFiles(string folder) =>
        Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains(Path.DirectorySeparatorChar + "obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal)
                    && !f.Contains(Path.DirectorySeparatorChar + "bin" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                .OrderBy(f => f, StringComparer.Ordinal)
                .ToList()
            : new List<string>();

    private static string FindRoot([CallerFilePath] string thisFile = "")
    {
        foreach (var start in new[] { Path.GetDirectoryName(thisFile), AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = start is null ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MmuNotifierAnalyzers.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("MmuNotifierAnalyzers.sln not found above " + thisFile + " or " + AppContext.BaseDirectory);
    }
}
