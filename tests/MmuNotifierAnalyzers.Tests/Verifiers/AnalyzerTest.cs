using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>
/// An analyzer test, shaped like Microsoft.CodeAnalysis.Testing's <c>AnalyzerTest</c>: set
/// <see cref="TestCode"/> (or <see cref="TestState"/>), expectations, options, then
/// <see cref="RunAsync"/>. The run fails when the source does not compile (unless the errors
/// are expected), when an analyzer throws, when the diagnostics differ, and when they do not
/// disappear with <c>// &lt;auto-generated/&gt;</c> or <c>#pragma warning disable</c> prepended.
/// </summary>
public abstract class AnalyzerTest
{
    public SolutionState TestState { get; } = new();

    /// <summary>The first source (markup allowed).</summary>
    public string TestCode
    {
        set => SetFirst(TestState.Sources, value);
    }

    /// <summary>Shortcut for <c>TestState.ExpectedDiagnostics</c>.</summary>
    public List<DiagnosticResult> ExpectedDiagnostics => TestState.ExpectedDiagnostics;

    public CompilerDiagnostics CompilerDiagnostics { get; set; } = CompilerDiagnostics.Errors;

    public TestBehaviors TestBehaviors { get; set; }

    /// <summary>Diagnostic ids turned off in the compilation options.</summary>
    public List<string> DisabledDiagnostics { get; } = new();

    public LanguageVersion LanguageVersion { get; set; } = LanguageVersion.Latest;

    public OutputKind OutputKind { get; set; } = OutputKind.DynamicallyLinkedLibrary;

    /// <summary>Reference Kernel.Mm (default true); false to test a project that does not use it.</summary>
    public bool ReferenceKernelMm { get; set; } = true;

    /// <summary>Reference MmuNotifierAnalyzers.Annotations (default true).</summary>
    public bool ReferenceAnnotations { get; set; } = true;

    public List<MetadataReference> AdditionalReferences { get; } = new();

    /// <summary>Changes applied to the solution before it is analyzed.</summary>
    public List<Func<Solution, ProjectId, Solution>> SolutionTransforms { get; } = new();

    protected abstract ImmutableArray<DiagnosticAnalyzer> GetDiagnosticAnalyzers();

    public virtual async Task RunAsync(CancellationToken cancellationToken = default)
    {
        var prepared = Prepare(TestState, "test state");
        await VerifyDiagnosticsAsync(prepared, "Analyzer on the test source", cancellationToken).ConfigureAwait(false);
        await VerifyGeneratedAndSuppressedAsync(prepared, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The diagnostic ids the markup <c>[|..|]</c> stands for and <c>Diagnostic()</c> uses.</summary>
    internal DiagnosticDescriptor? SingleDescriptor()
    {
        var descriptors = GetDiagnosticAnalyzers().SelectMany(a => a.SupportedDiagnostics).GroupBy(d => d.Id).Select(g => g.First()).ToList();
        return descriptors.Count == 1 ? descriptors[0] : null;
    }

    internal DiagnosticDescriptor? FindDescriptor(string id) =>
        GetDiagnosticAnalyzers().SelectMany(a => a.SupportedDiagnostics).FirstOrDefault(d => d.Id == id);

    /// <summary>The state with markup removed and every expectation resolved to a location.</summary>
    protected internal sealed class PreparedState
    {
        public required ImmutableArray<(string Path, string Text)> Sources { get; init; }

        public required ImmutableArray<(string Path, string Text)> AdditionalFiles { get; init; }

        public required ImmutableArray<(string Path, string Text)> AnalyzerConfigFiles { get; init; }

        public required ImmutableArray<DiagnosticResult> Expected { get; init; }

        public IReadOnlyDictionary<string, string> Files =>
            Sources.Concat(AdditionalFiles).ToDictionary(f => f.Path, f => f.Text, StringComparer.Ordinal);
    }

    protected internal PreparedState Prepare(SolutionState state, string what)
    {
        var markers = new Dictionary<int, Microsoft.CodeAnalysis.FileLinePositionSpan>();
        var fromMarkup = new List<DiagnosticResult>();
        var sources = ImmutableArray.CreateBuilder<(string, string)>();
        for (var i = 0; i < state.Sources.Count; i++)
        {
            var (name, content) = state.Sources[i];
            var path = name.Length == 0 ? AnalysisRunner.DefaultSourcePath(i) : NormalizePath(name);
            sources.Add((path, ParseMarkup(path, content, markers, fromMarkup)));
        }

        var additional = ImmutableArray.CreateBuilder<(string, string)>();
        foreach (var (name, content) in state.AdditionalFiles)
        {
            var path = NormalizePath(name.Length == 0 ? "additional.txt" : name);
            additional.Add((path, state.MarkupInAdditionalFiles ? ParseMarkup(path, content, markers, fromMarkup) : content));
        }

        var configs = ImmutableArray.CreateBuilder<(string, string)>();
        foreach (var (name, content) in state.AnalyzerConfigFiles)
        {
            var path = name.Length == 0 ? "/.editorconfig" : name.Contains('/', StringComparison.Ordinal) ? name : "/" + name;
            configs.Add((path, content));
        }

        var defaultPath = sources.Count > 0 ? sources[0].Item1 : AnalysisRunner.DefaultSourcePath(0);
        var expected = ImmutableArray.CreateBuilder<DiagnosticResult>();
        foreach (var result in state.ExpectedDiagnostics.Concat(fromMarkup))
        {
            var resolved = result.WithDefaultPath(defaultPath);
            var locations = resolved.Spans.Select(l =>
            {
                if (l.MarkupKey is not int key)
                {
                    return l;
                }

                return markers.TryGetValue(key, out var span)
                    ? new DiagnosticLocation(span, l.Options)
                    : throw new InvalidOperationException($"{what}: WithLocation({key}) but no {{|#{key}:..|}} marker in the sources.");
            }).ToImmutableArray();
            resolved = resolved.WithResolvedLocations(locations);

            // Diagnostic(id) from a test knows only the id: take severity and message format
            // from the analyzer's descriptor, as Microsoft.CodeAnalysis.Testing does.
            if (!resolved.IsCompilerDiagnostic && resolved.MessageFormat is null && FindDescriptor(resolved.Id) is { } descriptor)
            {
                resolved = resolved.WithMessageFormat(descriptor.MessageFormat);
            }

            expected.Add(resolved);
        }

        return new PreparedState
        {
            Sources = sources.ToImmutable(),
            AdditionalFiles = additional.ToImmutable(),
            AnalyzerConfigFiles = configs.ToImmutable(),
            Expected = expected.ToImmutable(),
        };
    }

    protected internal (AdhocWorkspace Workspace, Solution Solution, ProjectId ProjectId, ImmutableArray<DocumentId> Documents) CreateSolution(PreparedState state)
    {
        var references = new List<MetadataReference>(TestReferences.Framework);
        if (ReferenceKernelMm)
        {
            references.Add(TestReferences.KernelMm);
        }

        if (ReferenceAnnotations)
        {
            references.Add(TestReferences.Annotations);
        }

        references.AddRange(AdditionalReferences);
        var created = AnalysisRunner.CreateProject(
            state.Sources,
            state.AdditionalFiles,
            state.AnalyzerConfigFiles,
            references,
            AnalysisRunner.ParseOptions(LanguageVersion),
            AnalysisRunner.CompilationOptions(OutputKind, DisabledDiagnostics));
        var solution = created.Solution;
        foreach (var transform in SolutionTransforms)
        {
            solution = transform(solution, created.ProjectId);
        }

        return (created.Workspace, solution, created.ProjectId, created.Documents);
    }

    /// <summary>Analyzer + compiler diagnostics of the project, as they take part in the comparison.</summary>
    protected internal async Task<ImmutableArray<Diagnostic>> GetComparedDiagnosticsAsync(Project project, string context, CancellationToken cancellationToken)
    {
        var result = await AnalysisRunner.AnalyzeAsync(project, GetDiagnosticAnalyzers(), cancellationToken).ConfigureAwait(false);
        DiagnosticVerifier.FailOnAnalyzerExceptions(context, result.AnalyzerExceptions);
        var compiler = result.CompilerDiagnostics.Where(d => CompilerDiagnostics switch
        {
            CompilerDiagnostics.None => false,
            CompilerDiagnostics.Errors => d.Severity == DiagnosticSeverity.Error,
            _ => d.Severity >= DiagnosticSeverity.Warning,
        });
        return AnalysisRunner.Sort(compiler.Concat(result.AnalyzerDiagnostics).ToImmutableArray());
    }

    protected async Task VerifyDiagnosticsAsync(PreparedState state, string context, CancellationToken cancellationToken)
    {
        var (workspace, solution, projectId, _) = CreateSolution(state);
        using (workspace)
        {
            var actual = await GetComparedDiagnosticsAsync(solution.GetProject(projectId)!, context, cancellationToken).ConfigureAwait(false);
            DiagnosticVerifier.Verify(context, state.Expected, actual, state.Files);
        }
    }

    /// <summary>Generated code is skipped and <c>#pragma warning disable</c> works: every analyzer
    /// diagnostic located in a source file must disappear.</summary>
    protected async Task VerifyGeneratedAndSuppressedAsync(PreparedState state, CancellationToken cancellationToken)
    {
        if (!state.Expected.Any(e => !e.IsCompilerDiagnostic && e.HasLocation))
        {
            return;
        }

        if ((TestBehaviors & TestBehaviors.SkipGeneratedCodeCheck) == 0)
        {
            await VerifyNoSourceDiagnosticsAsync(state, "// <auto-generated/>\n", "Analyzer on the test source marked // <auto-generated/> (analyzers must skip generated code)", cancellationToken).ConfigureAwait(false);
        }

        if ((TestBehaviors & TestBehaviors.SkipSuppressionCheck) == 0)
        {
            var ids = GetDiagnosticAnalyzers().SelectMany(a => a.SupportedDiagnostics)
                .Where(d => !d.CustomTags.Contains(WellKnownDiagnosticTags.NotConfigurable))
                .Select(d => d.Id).Distinct().ToList();
            await VerifyNoSourceDiagnosticsAsync(state, "#pragma warning disable " + string.Join(", ", ids) + "\n", "Analyzer on the test source with #pragma warning disable", cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task VerifyNoSourceDiagnosticsAsync(PreparedState state, string prefix, string context, CancellationToken cancellationToken)
    {
        var prefixed = new PreparedState
        {
            Sources = state.Sources.Select(s => (s.Path, prefix + s.Text)).ToImmutableArray(),
            AdditionalFiles = state.AdditionalFiles,
            AnalyzerConfigFiles = state.AnalyzerConfigFiles,
            Expected = ImmutableArray<DiagnosticResult>.Empty,
        };
        var (workspace, solution, projectId, _) = CreateSolution(prefixed);
        using (workspace)
        {
            var result = await AnalysisRunner.AnalyzeAsync(solution.GetProject(projectId)!, GetDiagnosticAnalyzers(), cancellationToken).ConfigureAwait(false);
            DiagnosticVerifier.FailOnAnalyzerExceptions(context, result.AnalyzerExceptions);
            var left = result.AnalyzerDiagnostics
                .Where(d => d.Location.IsInSource && !d.Descriptor.CustomTags.Contains(WellKnownDiagnosticTags.NotConfigurable))
                .ToList();
            if (left.Count > 0)
            {
                DiagnosticVerifier.Verify(context, Array.Empty<DiagnosticResult>(), left, prefixed.Files);
            }
        }
    }

    private string ParseMarkup(string path, string content, Dictionary<int, Microsoft.CodeAnalysis.FileLinePositionSpan> markers, List<DiagnosticResult> fromMarkup)
    {
        if (!TestMarkup.HasMarkup(content))
        {
            return content;
        }

        var (text, spans) = TestMarkup.Parse(content);
        var lines = Microsoft.CodeAnalysis.Text.SourceText.From(text).Lines;
        foreach (var span in spans)
        {
            var lineSpan = new Microsoft.CodeAnalysis.FileLinePositionSpan(path, lines.GetLinePositionSpan(span.Span));
            if (span.Name.StartsWith('#'))
            {
                if (!int.TryParse(span.Name.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var key))
                {
                    throw new FormatException($"Markup {{|{span.Name}:..|}} in {path}: a location marker is # followed by digits.");
                }

                if (!markers.TryAdd(key, lineSpan))
                {
                    throw new FormatException($"Markup {{|#{key}:..|}} appears twice.");
                }
            }
            else
            {
                fromMarkup.Add(MarkupResult(span.Name, lineSpan));
            }
        }

        return text;
    }

    private static string NormalizePath(string name) =>
        name.StartsWith('/') ? name : name.Contains('/', StringComparison.Ordinal) ? "/" + name : "/0/" + name;

    private static void SetFirst(SourceFileList list, string value)
    {
        if (list.Count == 0)
        {
            list.Add(value);
        }
        else
        {
            list[0] = (list[0].FileName, value);
        }
    }

    private protected static void SetFirstSource(SourceFileList list, string value) => SetFirst(list, value);

    /// <summary>A diagnostic marked in the source: <c>[|..|]</c> is the analyzer's only id; the
    /// severity is the descriptor's default (compiler diagnostics: any severity).</summary>
    private DiagnosticResult MarkupResult(string id, Microsoft.CodeAnalysis.FileLinePositionSpan span)
    {
        if (id.Length == 0)
        {
            id = SingleDescriptor()?.Id
                ?? throw new InvalidOperationException("Markup [|..|] needs an analyzer with exactly one diagnostic id; use {|ID:..|}.");
        }

        var descriptor = FindDescriptor(id);
        var result = descriptor is not null
            ? new DiagnosticResult(descriptor)
            : new DiagnosticResult(id, DiagnosticSeverity.Error).WithAnySeverity();
        return result.WithSpan(span);
    }
}
