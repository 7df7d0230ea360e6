using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using System.Threading.Tasks;
using Xunit;

namespace MmuNotifierAnalyzers.IntegrationTests.Infrastructure;

/// <summary>
/// The three packages, packed ONCE per test run into a folder feed, under a version no
/// earlier run used (<c>0.1.0-it.&lt;ticks&gt;</c>) so neither NuGet's cache nor the compiler
/// server can hand a consumer a stale analyzer. Everything lives under one temporary root,
/// deleted at the end of the run.
/// </summary>
public sealed class PackageFeed : IAsyncLifetime
{
    public const string AnalyzersPackageId = "MmuNotifierAnalyzers";
    public const string RuntimePackageId = "Kernel.Mm";
    public const string AnnotationsPackageId = "MmuNotifierAnalyzers.Annotations";

    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(10);

    private readonly Dictionary<string, Task> _shared = [];
    private int _consumers;

    public PackageFeed()
    {
        RepositoryRoot = BuildMetadata("RepositoryRoot");
        Version = "0.1.0-it." + DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture);
        Root = Path.Combine(Path.GetTempPath(), "mmu-it-" + Guid.NewGuid().ToString("N")[..12]);
        FeedDirectory = Path.Combine(Root, "feed");
        PackagesDirectory = Path.Combine(Root, "packages");
    }

    public string RepositoryRoot { get; }

    /// <summary>The version every package of this run carries.</summary>
    public string Version { get; }

    public string Root { get; }

    /// <summary>The local feed the consumers restore from.</summary>
    public string FeedDirectory { get; }

    /// <summary>The consumers' global packages folder, for this run only.</summary>
    public string PackagesDirectory { get; }

    public ProcessResult? PackResult { get; private set; }

    public string PackagePath(string packageId) => Path.Combine(FeedDirectory, $"{packageId}.{Version}.nupkg");

    /// <summary>The extracted package, as restore left it in this run's packages folder.</summary>
    public string InstalledPackageDirectory(string packageId) =>
        Path.Combine(PackagesDirectory, packageId.ToLowerInvariant(), Version.ToLowerInvariant());

    /// <summary>A fresh, empty consumer folder that restores from this feed.</summary>
    public Consumer CreateConsumer(string name, bool referenceAnalyzers = true)
    {
        var number = System.Threading.Interlocked.Increment(ref _consumers);
        return new Consumer(this, Path.Combine(Root, "consumers", $"{number:D2}-{name}"), referenceAnalyzers);
    }

    /// <summary>One result shared by several tests of this run (one consumer build that
    /// several facts look at), computed by the first test that asks.</summary>
    public Task<T> Shared<T>(string key, Func<Task<T>> create)
    {
        lock (_shared)
        {
            if (!_shared.TryGetValue(key, out var task))
            {
                task = create();
                _shared[key] = task;
            }

            return (Task<T>)task;
        }
    }

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(FeedDirectory);
        Directory.CreateDirectory(PackagesDirectory);

        // One `dotnet pack` for the three projects, through a solution filter over the real
        // solution. First without building: this test project references the three projects,
        // so the build that produced these tests has just built them (same configuration, same
        // artifacts folder) and packing is only zipping. If that fails (the outputs are gone,
        // or are not where this assembly was told), build and pack them from scratch in an
        // artifacts folder of this run's own, never touching the obj/bin of the running build.
        var filter = await WriteSolutionFilterAsync();
        var packed = await PackAsync(filter, noBuild: true);
        if (!packed.Succeeded)
        {
            var fromScratch = await PackAsync(filter, noBuild: false);
            if (!fromScratch.Succeeded)
            {
                throw new InvalidOperationException(
                    $"Packing failed (missing: {string.Join(", ", fromScratch.Missing)}).{Environment.NewLine}"
                    + $"Packing the existing build:{Environment.NewLine}{packed.Result}{Environment.NewLine}"
                    + $"Building and packing from scratch:{Environment.NewLine}{fromScratch.Result}");
            }

            packed = fromScratch;
        }

        PackResult = packed.Result;
    }

    private async Task<string> WriteSolutionFilterAsync()
    {
        var filter = Path.Combine(Root, "pack.slnf");
        var projects = new[]
        {
            @"src\MmuNotifierAnalyzers.Package\MmuNotifierAnalyzers.Package.csproj",
            @"src\Kernel.Mm\Kernel.Mm.csproj",
            @"src\MmuNotifierAnalyzers.Annotations\MmuNotifierAnalyzers.Annotations.csproj",
        };
        await File.WriteAllTextAsync(filter, JsonSerializer.Serialize(new
        {
            solution = new
            {
                path = Path.Combine(RepositoryRoot, "MmuNotifierAnalyzers.sln"),
                projects,
            },
        }));
        return filter;
    }

    private async Task<(bool Succeeded, ProcessResult Result, List<string> Missing)> PackAsync(string filter, bool noBuild)
    {
        foreach (var stale in Directory.EnumerateFiles(FeedDirectory))
        {
            File.Delete(stale);
        }

        var arguments = new List<string>
        {
            "pack", filter,
            "-o", FeedDirectory,
            "-p:Version=" + Version,
            "-nodeReuse:false",
            "-tl:off",
            "-v:m",
        };
        var environment = new Dictionary<string, string>();
        if (noBuild)
        {
            arguments.AddRange(["--no-build", "-c", BuildMetadata("Configuration")]);
            var artifacts = BuildMetadata("MmuArtifacts");
            if (artifacts.Length > 0)
            {
                environment["MMU_ARTIFACTS"] = artifacts;
            }
        }
        else
        {
            arguments.AddRange(["-c", "Release"]);
            environment["MMU_ARTIFACTS"] = Path.Combine(Root, "artifacts");
        }

        var result = await DotNet.RunAsync(Root, arguments, PackTimeout, environment);
        var missing = new[] { AnalyzersPackageId, RuntimePackageId, AnnotationsPackageId }
            .Where(id => !File.Exists(PackagePath(id)))
            .ToList();
        return (result.ExitCode == 0 && missing.Count == 0, result, missing);
    }

    /// <summary>How the build that produced this test assembly was run (see the .csproj).</summary>
    private static string BuildMetadata(string key) =>
        typeof(PackageFeed).Assembly
            .GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == key).Value ?? string.Empty;

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A compiler server may still hold a file open; the OS cleans temp eventually.
        }
        catch (UnauthorizedAccessException)
        {
        }

        return Task.CompletedTask;
    }
}

/// <summary>Every test shares the one packed feed, and runs one at a time: they are
/// whole builds, and the machine they run on may have two cores.</summary>
[CollectionDefinition(Name)]
public sealed class PackageFeedCollection : ICollectionFixture<PackageFeed>
{
    public const string Name = "Packed feed";
}
