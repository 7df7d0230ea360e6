using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Robustness;

/// <summary>The seed ports and the real-function ports (KernelPorts, and the code fixes' FixCorpus), as units that compile on their own.</summary>
internal static class PortCorpus
{
    /// <summary>Files compiled together: a seed's folder (Seed004's ports share its 2012 wrappers), or one kernel port.</summary>
    public sealed record Unit(IReadOnlyList<(string Path, string Text)> Files);

    public static List<Unit> Units()
    {
        var root = RepositoryLayout.Root;
        var units = new List<Unit>();
        foreach (var folder in Directory.GetDirectories(Path.Combine(root, "samples", "Seeds.Before")).OrderBy(f => f, StringComparer.Ordinal))
        {
            var files = RepositoryLayout.SourceFiles(folder);
            if (files.Count > 0)
            {
                units.Add(new Unit(files.Select(Read).ToList()));
            }
        }

        units.AddRange(RepositoryLayout.SourceFiles(Path.Combine(root, "tests", "MmuNotifierAnalyzers.Tests", "KernelPorts")).Select(f => new Unit(new[] { Read(f) })));
        units.AddRange(RepositoryLayout.SourceFiles(Path.Combine(root, "tests", "MmuNotifierAnalyzers.IntegrationTests", "FixCorpus")).Select(f => new Unit(new[] { Read(f) })));
        Assert.True(units.Count >= 10, "the corpus moved: " + units.Count + " units");
        return units;

        (string, string) Read(string path) => ("/" + Path.GetRelativePath(root, path).Replace('\\', '/'), File.ReadAllText(path));
    }

    /// <summary>samples/Seeds.Common as the ports see it in their projects: a built assembly, not source.</summary>
    public static readonly Lazy<MetadataReference> SeedsCommon = new(() =>
    {
        var files = RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Common"));
        var compilation = CSharpCompilation.Create(
            "Seeds.Common",
            files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), new CSharpParseOptions(LanguageVersion.Latest), path: f)),
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        return MetadataReference.CreateFromImage(image.ToArray());
    });

}
