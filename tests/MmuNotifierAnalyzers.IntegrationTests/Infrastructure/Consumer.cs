using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security;
using System.Threading.Tasks;

namespace MmuNotifierAnalyzers.IntegrationTests.Infrastructure;

/// <summary>
/// A small project that uses the packages the way a user would: PackageReferences to
/// Kernel.Mm and MmuNotifierAnalyzers from the run's feed, in a folder of its own that no
/// repository file (Directory.Build.props, global.json, nuget.config) reaches.
/// </summary>
public sealed class Consumer
{
    public const string ProjectName = "Consumer";

    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(3);

    private readonly PackageFeed _feed;

    private bool _analyzersAddedByCli;

    internal Consumer(PackageFeed feed, string directory, bool referenceAnalyzers = true)
    {
        _feed = feed;
        ReferenceAnalyzers = referenceAnalyzers;
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        WriteInfrastructure();
        WriteProject();
    }

    public string Directory { get; }

    /// <summary>Whether the project file references the analyzer package itself; when not,
    /// <see cref="AddAnalyzersPackageAsync"/> adds it the way a user does.</summary>
    public bool ReferenceAnalyzers { get; }

    public string ProjectPath => Path.Combine(Directory, ProjectName + ".csproj");

    /// <summary>Extra lines inside the project's &lt;PropertyGroup&gt;.</summary>
    public List<string> ExtraProperties { get; } = [];

    /// <summary>Extra lines inside the project's package &lt;ItemGroup&gt;.</summary>
    public List<string> ExtraItems { get; } = [];

    public string PathOf(string relativePath) => Path.Combine(Directory, relativePath);

    public Consumer WithFile(string relativePath, string text)
    {
        var path = PathOf(relativePath);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.ReplaceLineEndings("\n"));
        return this;
    }

    public Consumer WithProperty(string xml)
    {
        ExtraProperties.Add(xml);
        WriteProject();
        return this;
    }

    public Consumer WithItem(string xml)
    {
        ExtraItems.Add(xml);
        WriteProject();
        return this;
    }

    public string ReadFile(string relativePath) => File.ReadAllText(PathOf(relativePath));

    /// <summary><c>dotnet add package MmuNotifierAnalyzers</c>: the reference as the CLI (or an
    /// IDE's package manager) writes it for a development dependency. The project file is the
    /// CLI's from here on.</summary>
    public Task<ProcessResult> AddAnalyzersPackageAsync()
    {
        _analyzersAddedByCli = true;
        return RunAsync("add", ProjectName + ".csproj", "package", PackageFeed.AnalyzersPackageId, "--version", _feed.Version);
    }

    public Task<ProcessResult> RestoreAsync() =>
        RunAsync("restore", "-nodeReuse:false", "-tl:off", "-v:q");

    /// <summary><c>dotnet build</c>, with whatever extra command-line arguments the test passes.</summary>
    public async Task<BuildResult> BuildAsync(params string[] arguments)
    {
        var result = await RunAsync(
            ["build", "-nodeReuse:false", "-tl:off", "-v:q", "-clp:NoSummary", .. arguments]);
        return new BuildResult(result, BuildDiagnostic.Parse(result.Output));
    }

    public Task<ProcessResult> RunAsync(params string[] arguments) =>
        DotNet.RunAsync(Directory, arguments, BuildTimeout);

    private void WriteInfrastructure()
    {
        // Stop MSBuild's upward search for the repository's (or anyone's) build customisations.
        File.WriteAllText(PathOf("Directory.Build.props"), $"""
            <Project>
              <PropertyGroup>
                <!-- This run's packages folder: packages of an earlier run can never be served. -->
                <RestorePackagesPath>{SecurityElement.Escape(_feed.PackagesDirectory)}</RestorePackagesPath>
                <!-- The audit asks nuget.org about every restore; nothing here is a dependency
                     the audit would know, and it costs seconds per build. -->
                <NuGetAudit>false</NuGetAudit>
              </PropertyGroup>
            </Project>
            """);
        File.WriteAllText(PathOf("Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(PathOf("Directory.Packages.props"), "<Project />\n");

        // The run's feed for our packages, nuget.org for anything else the framework may need;
        // source mapping keeps restore from asking nuget.org about our package ids.
        File.WriteAllText(PathOf("nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{SecurityElement.Escape(_feed.FeedDirectory)}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local">
                  <package pattern="{PackageFeed.AnalyzersPackageId}" />
                  <package pattern="{PackageFeed.AnalyzersPackageId}.*" />
                  <package pattern="{PackageFeed.RuntimePackageId}" />
                </packageSource>
                <packageSource key="nuget.org">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
            </configuration>
            """);
    }

    private void WriteProject()
    {
        if (_analyzersAddedByCli)
        {
            throw new InvalidOperationException("The project file was edited by 'dotnet add package'; set everything else before.");
        }

        var analyzers = ReferenceAnalyzers
            ? $"{Environment.NewLine}    <PackageReference Include=\"{PackageFeed.AnalyzersPackageId}\" Version=\"{_feed.Version}\" />"
            : string.Empty;
        var properties = string.Concat(ExtraProperties.Select(p => Environment.NewLine + "    " + p));
        var items = string.Concat(ExtraItems.Select(i => Environment.NewLine + "    " + i));
        File.WriteAllText(ProjectPath, $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>disable</ImplicitUsings>
                <!-- Kernel names: lowercase type names on purpose. -->
                <NoWarn>$(NoWarn);CS8981</NoWarn>{properties}
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="{PackageFeed.RuntimePackageId}" Version="{_feed.Version}" />{analyzers}{items}
              </ItemGroup>
            </Project>
            """);
    }
}

/// <summary>A build's process result and the diagnostics it printed.</summary>
public sealed record BuildResult(ProcessResult Process, IReadOnlyList<BuildDiagnostic> Diagnostics)
{
    public bool Succeeded => Process.ExitCode == 0;

    /// <summary>Diagnostics of our rules (MMU…), in the order printed.</summary>
    public IReadOnlyList<BuildDiagnostic> RuleDiagnostics =>
        Diagnostics.Where(d => d.Id.StartsWith("MMU", StringComparison.Ordinal)).ToList();

    public override string ToString() => Process.ToString();
}
