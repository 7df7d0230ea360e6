using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>
/// Metadata references for test sources, offline: the test host's own framework assemblies
/// (from TRUSTED_PLATFORM_ASSEMBLIES, only those of the shared framework directory, not the
/// test's own dependencies), and Kernel.Mm + the annotations copied next to the test assembly.
/// Created once and shared by every test.
/// </summary>
public static class TestReferences
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> LazyFramework = new(LoadFramework);
    private static readonly Lazy<MetadataReference> LazyKernelMm = new(() => FromBaseDirectory("Kernel.Mm.dll"));
    private static readonly Lazy<MetadataReference> LazyAnnotations = new(() => FromBaseDirectory("MmuNotifierAnalyzers.Annotations.dll"));

    public static ImmutableArray<MetadataReference> Framework => LazyFramework.Value;

    public static MetadataReference KernelMm => LazyKernelMm.Value;

    public static MetadataReference Annotations => LazyAnnotations.Value;

    private static ImmutableArray<MetadataReference> LoadFramework()
    {
        var frameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)
            ?? throw new InvalidOperationException("Cannot locate the framework directory.");
        var tpa = AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string
            ?? throw new InvalidOperationException("TRUSTED_PLATFORM_ASSEMBLIES is not set.");
        return tpa.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(p => string.Equals(Path.GetDirectoryName(p), frameworkDirectory, StringComparison.Ordinal))
            .Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
    }

    private static MetadataReference FromBaseDirectory(string fileName)
    {
        var path = Path.Combine(AppContext.BaseDirectory, fileName);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"{fileName} is not next to the test assembly ({path}); the test project must reference it.");
        }

        return MetadataReference.CreateFromFile(path);
    }
}
