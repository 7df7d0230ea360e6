using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;
using MmuNotifierAnalyzers.IntegrationTests.Infrastructure;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests;

/// <summary>What is inside the three .nupkg files, read as a package consumer's NuGet would.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class PackageLayoutTests(PackageFeed feed)
{
    /// <summary>Visual Studio 2022 17.14 and every .NET 10 SDK host Roslyn 4.14: an analyzer
    /// built against a newer Roslyn would not load there.</summary>
    private static readonly Version OldestSupportedRoslyn = new(4, 14, 0, 0);

    [Fact]
    public void AnalyzerPackageHoldsBothAssembliesUnderAnalyzersAndNothingInLib()
    {
        var entries = Entries(PackageFeed.AnalyzersPackageId);

        Assert.Contains("analyzers/dotnet/cs/MmuNotifierAnalyzers.dll", entries);
        Assert.Contains("analyzers/dotnet/cs/MmuNotifierAnalyzers.CodeFixes.dll", entries);
        Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) || e.StartsWith("ref/", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => e.EndsWith("MmuNotifierAnalyzers.Package.dll", StringComparison.Ordinal));
        Assert.Contains("buildTransitive/MmuNotifierAnalyzers.props", entries);
        Assert.Contains("buildTransitive/MmuNotifierAnalyzers.targets", entries);
        Assert.Contains("README.md", entries);
    }

    [Fact]
    public void AnalyzerPackageIsADevelopmentDependencyWithoutDependencies()
    {
        var metadata = Nuspec(PackageFeed.AnalyzersPackageId);

        Assert.Equal("true", Element(metadata, "developmentDependency"));
        Assert.Equal(feed.Version, Element(metadata, "version"));
        Assert.Null(metadata.Elements().SingleOrDefault(e => e.Name.LocalName == "dependencies"));
        AssertCommonMetadata(metadata);
    }

    [Fact]
    public void AnalyzerPackageReleaseNotesAreTheReleaseTrackingFiles()
    {
        var notes = Element(Nuspec(PackageFeed.AnalyzersPackageId), "releaseNotes");
        Assert.False(string.IsNullOrWhiteSpace(notes));

        // Every rule line of both files, verbatim (comments excepted): nothing hand-copied.
        foreach (var file in new[] { "AnalyzerReleases.Unshipped.md", "AnalyzerReleases.Shipped.md" })
        {
            var path = Path.Combine(feed.RepositoryRoot, "src", "MmuNotifierAnalyzers", file);
            foreach (var line in File.ReadAllLines(path).Where(l => l.StartsWith("MMU", StringComparison.Ordinal)))
            {
                Assert.Contains(line.Trim(), notes, StringComparison.Ordinal);
            }
        }

        Assert.DoesNotContain("; Unshipped analyzer release", notes, StringComparison.Ordinal);

        // What this version adds (the unshipped rules) comes under its own version number.
        var unshipped = File.ReadAllLines(Path.Combine(feed.RepositoryRoot, "src", "MmuNotifierAnalyzers", "AnalyzerReleases.Unshipped.md"));
        if (unshipped.Any(l => l.StartsWith("MMU", StringComparison.Ordinal)))
        {
            Assert.StartsWith("## " + feed.Version, notes, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("MmuNotifierAnalyzers.dll")]
    [InlineData("MmuNotifierAnalyzers.CodeFixes.dll")]
    public void AnalyzerAssembliesReferenceNoRoslynNewerThanTheOldestSupportedHost(string assembly)
    {
        using var package = ZipFile.OpenRead(feed.PackagePath(PackageFeed.AnalyzersPackageId));
        using var stream = new MemoryStream();
        using (var entry = package.GetEntry("analyzers/dotnet/cs/" + assembly)!.Open())
        {
            entry.CopyTo(stream);
        }

        stream.Position = 0;
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var roslyn = reader.AssemblyReferences
            .Select(h => reader.GetAssemblyReference(h))
            .Where(r => reader.GetString(r.Name).StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal))
            .ToList();

        Assert.NotEmpty(roslyn);
        Assert.All(roslyn, r => Assert.True(
            r.Version <= OldestSupportedRoslyn,
            $"{assembly} references {reader.GetString(r.Name)} {r.Version}, newer than {OldestSupportedRoslyn}."));
    }

    [Fact]
    public void RuntimePackageShipsTheLibraryAndDependsOnTheAnnotationsPackage()
    {
        var entries = Entries(PackageFeed.RuntimePackageId);
        Assert.Contains("lib/net10.0/Kernel.Mm.dll", entries);
        Assert.Contains("lib/net10.0/Kernel.Mm.xml", entries);
        Assert.Contains("README.md", entries);

        var metadata = Nuspec(PackageFeed.RuntimePackageId);
        var dependencies = metadata.Descendants().Where(e => e.Name.LocalName == "dependency").ToList();
        var annotations = Assert.Single(dependencies, d => (string?)d.Attribute("id") == PackageFeed.AnnotationsPackageId);
        Assert.Equal(feed.Version, (string?)annotations.Attribute("version"));
        Assert.NotEqual("true", Element(metadata, "developmentDependency"));
        AssertCommonMetadata(metadata);
    }

    [Fact]
    public void AnnotationsPackageShipsTheAttributesForNetstandard()
    {
        var entries = Entries(PackageFeed.AnnotationsPackageId);
        Assert.Contains("lib/netstandard2.0/MmuNotifierAnalyzers.Annotations.dll", entries);
        Assert.Contains("lib/netstandard2.0/MmuNotifierAnalyzers.Annotations.xml", entries);
        Assert.Contains("README.md", entries);

        var metadata = Nuspec(PackageFeed.AnnotationsPackageId);
        Assert.DoesNotContain(metadata.Descendants(), e => e.Name.LocalName == "dependency");
        AssertCommonMetadata(metadata);
    }

    private static void AssertCommonMetadata(XElement metadata)
    {
        var license = metadata.Elements().Single(e => e.Name.LocalName == "license");
        Assert.Equal("expression", (string?)license.Attribute("type"));
        Assert.Equal("MIT", license.Value);
        Assert.Equal("README.md", Element(metadata, "readme"));
        Assert.False(string.IsNullOrWhiteSpace(Element(metadata, "description")));
        Assert.False(string.IsNullOrWhiteSpace(Element(metadata, "authors")));
        Assert.StartsWith("https://github.com/", Element(metadata, "projectUrl"), StringComparison.Ordinal);
    }

    private static string? Element(XElement metadata, string name) =>
        metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;

    private string[] Entries(string packageId)
    {
        using var package = ZipFile.OpenRead(feed.PackagePath(packageId));
        return package.Entries.Select(e => e.FullName).ToArray();
    }

    private XElement Nuspec(string packageId)
    {
        using var package = ZipFile.OpenRead(feed.PackagePath(packageId));
        var entry = package.Entries.Single(e => e.FullName == packageId + ".nuspec");
        using var stream = entry.Open();
        var document = XDocument.Load(stream);
        return document.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
    }
}
