using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>
/// What test sources compile against: the .NET reference assemblies of the
/// Microsoft.NETCore.App.Ref package that <c>dotnet restore</c> put into the NuGet global packages
/// folder (a <c>PackageDownload</c> of the test project), plus Kernel.Mm and the annotations.
/// Shared by the verifiers and by the tests that compile and analyze on their own.
/// </summary>
public static class TestReferences
{
    private const string RefPackageId = "Microsoft.NETCore.App.Ref";

    private static readonly Lazy<ReferenceAssemblies> LazyNet100 = new(CreateNet100);
    private static readonly Lazy<ImmutableArray<MetadataReference>> LazyFramework = new(ResolveFramework);

    /// <summary>net10.0 from the restored package. Found in the global packages folder, the
    /// framework never asks a feed for it; we check it is there so that a missing restore fails
    /// here and not as a download at the first test.</summary>
    public static ReferenceAssemblies Net100 => LazyNet100.Value;

    /// <summary>The framework assemblies of <see cref="Net100"/>, resolved once.</summary>
    public static ImmutableArray<MetadataReference> Framework => LazyFramework.Value;

    public static MetadataReference KernelMm { get; } = MetadataReference.CreateFromFile(typeof(Kernel.Mm.Linux).Assembly.Location);

    public static MetadataReference Annotations { get; } = MetadataReference.CreateFromFile(typeof(MmuNotifierAnalyzers.Annotations.ReleasesPageAttribute).Assembly.Location);

    private static ReferenceAssemblies CreateNet100()
    {
        // Both set by the test project: the pinned version (Directory.Packages.props) and the
        // global packages folder restore put it in.
        var version = Metadata("MicrosoftNETCoreAppRefVersion");
        var globalPackages = Metadata("NuGetPackageRoot");
        if (!Directory.Exists(Path.Combine(globalPackages, RefPackageId.ToLowerInvariant(), version, "ref", "net10.0")))
        {
            throw new InvalidOperationException($"{RefPackageId} {version} is not in {globalPackages}: run dotnet restore on the test project.");
        }

        return new ReferenceAssemblies("net10.0", new PackageIdentity(RefPackageId, version), Path.Combine("ref", "net10.0"));
    }

    private static string Metadata(string key) =>
        typeof(TestReferences).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    // Off the caller's synchronization context: the xunit one has as many threads as cores.
    private static ImmutableArray<MetadataReference> ResolveFramework() =>
        Task.Run(() => Net100.ResolveAsync(LanguageNames.CSharp, CancellationToken.None)).GetAwaiter().GetResult();
}
