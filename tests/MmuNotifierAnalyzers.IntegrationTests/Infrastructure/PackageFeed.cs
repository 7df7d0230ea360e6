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
        RepositoryRoot = typeof(PackageFeed).Assembly
            .GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "RepositoryRoot").Value!;
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
    public Consumer CreateConsumer(string name)
    {
        var number = System.Threading.Interlocked.Increment(ref _consumers);
        return new Consumer(this, Path.Combine(Root, "consumers", $"{number:D2}-{name}"));
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

        // One `dotnet pack` for the three projects (they build in parallel), through a solution
        // filter over the real solution, into an artifacts folder of its own: the packages are
        // built exactly as a release would be, without touching the obj/bin folders of the build
        // that is running these tests.
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

        PackResult = await DotNet.RunAsync(
            Root,
            [
                "pack", filter,
                "-c", "Release",
                "-o", FeedDirectory,
                "-p:Version=" + Version,
                "-nodeReuse:false",
                "-tl:off",
                "-v:m",
            ],
            PackTimeout,
            new Dictionary<string, string> { ["MMU_ARTIFACTS"] = Path.Combine(Root, "artifacts") });

        var missing = new[] { AnalyzersPackageId, RuntimePackageId, AnnotationsPackageId }
            .Where(id => !File.Exists(PackagePath(id)))
            .ToList();
        if (PackResult.ExitCode != 0 || missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"Packing failed (missing: {string.Join(", ", missing)}).{Environment.NewLine}{PackResult}");
        }
    }

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
