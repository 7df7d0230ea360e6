using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>
/// A code-fix test (Microsoft.CodeAnalysis.Testing's <c>CodeFixTest</c>). After the analyzer
/// check of <see cref="AnalyzerTest.TestState"/> it
/// 1. applies the selected code action (<see cref="CodeActionEquivalenceKey"/>, else
///    <see cref="CodeActionIndex"/>, else the first) to the first fixable diagnostic, re-analyzes,
///    and repeats until no fixable diagnostic is left (at most <see cref="MaxIterations"/>);
/// 2. does the same through the provider's FixAllProvider in document, project and solution scope;
/// and compares each result with <see cref="FixedState"/> (line endings normalised): the text,
/// then the diagnostics of the fixed code (compiler errors fail; analyzer diagnostics must be
/// those expected in FixedState).
/// </summary>
public class CSharpCodeFixTest<TAnalyzer, TCodeFix> : CSharpAnalyzerTest<TAnalyzer>
    where TAnalyzer : DiagnosticAnalyzer, new()
    where TCodeFix : CodeFixProvider, new()
{
    /// <summary>The expected result: every source (same order/names as TestState), markup for the
    /// diagnostics the fixed code still has. Additional/config files default to TestState's.</summary>
    public SolutionState FixedState { get; } = new();

    public string FixedCode
    {
        set => SetFirstSource(FixedState.Sources, value);
    }

    /// <summary>The expected result of Fix All when it differs from the one-at-a-time result.</summary>
    public SolutionState? BatchFixedState { get; set; }

    public string BatchFixedCode
    {
        set
        {
            BatchFixedState ??= new SolutionState();
            SetFirstSource(BatchFixedState.Sources, value);
        }
    }

    /// <summary>The code action to apply, by its equivalence key.</summary>
    public string? CodeActionEquivalenceKey { get; set; }

    /// <summary>The code action to apply, by its index among the fixes offered for a diagnostic.</summary>
    public int? CodeActionIndex { get; set; }

    /// <summary>When set, the one-at-a-time pass must take exactly this many code actions.</summary>
    public int? NumberOfIncrementalIterations { get; set; }

    /// <summary>When set, each Fix All pass must take exactly this many Fix All actions.</summary>
    public int? NumberOfFixAllIterations { get; set; }

    public int MaxIterations { get; set; } = 50;

    public CodeFixTestBehaviors CodeFixTestBehaviors { get; set; }

    public override async Task RunAsync(CancellationToken cancellationToken = default)
    {
        await base.RunAsync(cancellationToken).ConfigureAwait(false);
        if (FixedState.Sources.Count == 0)
        {
            throw new InvalidOperationException("A code-fix test needs FixedCode (or FixedState.Sources).");
        }

        if (FixedState.Sources.Count != TestState.Sources.Count)
        {
            throw new InvalidOperationException($"FixedState has {FixedState.Sources.Count} sources, TestState {TestState.Sources.Count}: list every source.");
        }

        var original = Prepare(TestState, "test state");
        var expected = PrepareFixed(FixedState, "fixed state");
        var batchExpected = BatchFixedState is null ? expected : PrepareFixed(BatchFixedState, "batch fixed state");
        var provider = new TCodeFix();

        var (workspace, solution, projectId, documents) = CreateSolution(original);
        using (workspace)
        {
            var (oneByOne, iterations) = await FixOneAtATimeAsync(provider, solution, projectId, cancellationToken).ConfigureAwait(false);
            if (NumberOfIncrementalIterations is int expectedIterations && expectedIterations != iterations)
            {
                throw new VerificationException($"The code fix took {iterations} iterations, expected {expectedIterations}.");
            }

            await VerifyFixedAsync(oneByOne, projectId, documents, expected, "Code fix applied one diagnostic at a time", cancellationToken).ConfigureAwait(false);

            if ((CodeFixTestBehaviors & CodeFixTestBehaviors.FixOne) != 0)
            {
                return;
            }

            foreach (var (scope, skip) in new[]
            {
                (FixAllScope.Document, CodeFixTestBehaviors.SkipFixAllInDocumentCheck),
                (FixAllScope.Project, CodeFixTestBehaviors.SkipFixAllInProjectCheck),
                (FixAllScope.Solution, CodeFixTestBehaviors.SkipFixAllInSolutionCheck),
            })
            {
                if ((CodeFixTestBehaviors & skip) != 0)
                {
                    continue;
                }

                var (fixedAll, fixAllIterations) = await FixAllAsync(provider, solution, projectId, scope, cancellationToken).ConfigureAwait(false);
                if (NumberOfFixAllIterations is int expectedFixAll && expectedFixAll != fixAllIterations)
                {
                    throw new VerificationException($"Fix All in {scope} took {fixAllIterations} iterations, expected {expectedFixAll}.");
                }

                await VerifyFixedAsync(fixedAll, projectId, documents, batchExpected, "Fix All in " + scope, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private PreparedState PrepareFixed(SolutionState state, string what)
    {
        // Additional and configuration files carry over from the test state unless given.
        var full = new SolutionState { MarkupInAdditionalFiles = TestState.MarkupInAdditionalFiles };
        full.Sources.AddRange(state.Sources);
        full.AdditionalFiles.AddRange(state.AdditionalFiles.Count > 0 ? state.AdditionalFiles : StripMarkup(TestState.AdditionalFiles, TestState.MarkupInAdditionalFiles));
        full.AnalyzerConfigFiles.AddRange(state.AnalyzerConfigFiles.Count > 0 ? state.AnalyzerConfigFiles : TestState.AnalyzerConfigFiles);
        full.ExpectedDiagnostics.AddRange(state.ExpectedDiagnostics);
        return Prepare(full, what);
    }

    private static IEnumerable<(string, string)> StripMarkup(SourceFileList files, bool markup) =>
        files.Select(f => (f.FileName, markup && TestMarkup.HasMarkup(f.Content) ? TestMarkup.Parse(f.Content).Text : f.Content));

    private async Task<(Solution Solution, int Iterations)> FixOneAtATimeAsync(CodeFixProvider provider, Solution solution, ProjectId projectId, CancellationToken cancellationToken)
    {
        var iterations = 0;
        while (true)
        {
            var found = await FindActionAsync(provider, solution.GetProject(projectId)!, CodeActionEquivalenceKey, cancellationToken).ConfigureAwait(false);
            if (found is null)
            {
                return (solution, iterations);
            }

            if (iterations == MaxIterations)
            {
                throw new VerificationException($"The code fix still offers an action after {MaxIterations} iterations (it does not converge): {found.Value.Action.Title} for {DiagnosticVerifier.Describe(found.Value.Diagnostic)}.");
            }

            solution = await ApplyAsync(found.Value.Action, solution, "Code action '" + found.Value.Action.Title + "' for " + DiagnosticVerifier.Describe(found.Value.Diagnostic), cancellationToken).ConfigureAwait(false);
            iterations++;
            if ((CodeFixTestBehaviors & CodeFixTestBehaviors.FixOne) != 0)
            {
                return (solution, iterations);
            }
        }
    }

    private async Task<(Solution Solution, int Iterations)> FixAllAsync(CodeFixProvider provider, Solution solution, ProjectId projectId, FixAllScope scope, CancellationToken cancellationToken)
    {
        var fixAllProvider = provider.GetFixAllProvider()
            ?? throw new VerificationException(typeof(TCodeFix).Name + " has no FixAllProvider (set CodeFixTestBehaviors.SkipFixAllCheck if that is intended).");
        if (!fixAllProvider.GetSupportedFixAllScopes().Contains(scope))
        {
            throw new VerificationException(typeof(TCodeFix).Name + "'s FixAllProvider does not support " + scope + ".");
        }

        var fixableIds = provider.FixableDiagnosticIds;
        var diagnosticProvider = new TestDiagnosticProvider(this, fixableIds);
        var iterations = 0;
        while (true)
        {
            var project = solution.GetProject(projectId)!;
            var found = await FindActionAsync(provider, project, CodeActionEquivalenceKey, cancellationToken).ConfigureAwait(false);
            if (found is null)
            {
                return (solution, iterations);
            }

            if (iterations == MaxIterations)
            {
                throw new VerificationException($"Fix All in {scope} does not converge after {MaxIterations} iterations.");
            }

            var (action, diagnostic, document) = found.Value;
            var context = new FixAllContext(document, provider, scope, action.EquivalenceKey, fixableIds, diagnosticProvider, cancellationToken);
            var fixAll = await fixAllProvider.GetFixAsync(context).ConfigureAwait(false);
            if (fixAll is null)
            {
                throw new VerificationException($"Fix All in {scope} offered no action for {DiagnosticVerifier.Describe(diagnostic)} (equivalence key '{action.EquivalenceKey}').");
            }

            solution = await ApplyAsync(fixAll, solution, "Fix All in " + scope, cancellationToken).ConfigureAwait(false);
            iterations++;
        }
    }

    /// <summary>The first fixable diagnostic (in source order) for which the provider offers the selected action.</summary>
    private async Task<(CodeAction Action, Diagnostic Diagnostic, Document Document)?> FindActionAsync(CodeFixProvider provider, Project project, string? equivalenceKey, CancellationToken cancellationToken)
    {
        foreach (var diagnostic in await GetFixableDiagnosticsAsync(project, provider.FixableDiagnosticIds, cancellationToken).ConfigureAwait(false))
        {
            var document = project.GetDocument(diagnostic.Location.SourceTree);
            if (document is null)
            {
                continue;
            }

            var actions = new List<CodeAction>();
            var context = new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), cancellationToken);
            await provider.RegisterCodeFixesAsync(context).ConfigureAwait(false);
            var flat = actions.SelectMany(Flatten).ToList();
            CodeAction? chosen = null;
            if (equivalenceKey is not null)
            {
                chosen = flat.FirstOrDefault(a => a.EquivalenceKey == equivalenceKey);
            }
            else if (CodeActionIndex is int index)
            {
                chosen = index < flat.Count ? flat[index] : null;
            }
            else
            {
                chosen = flat.FirstOrDefault();
            }

            if (chosen is not null)
            {
                return (chosen, diagnostic, document);
            }
        }

        return null;
    }

    private static IEnumerable<CodeAction> Flatten(CodeAction action) =>
        action.NestedActions.IsDefaultOrEmpty ? new[] { action } : action.NestedActions.SelectMany(Flatten);

    internal async Task<ImmutableArray<Diagnostic>> GetFixableDiagnosticsAsync(Project project, ImmutableArray<string> fixableIds, CancellationToken cancellationToken)
    {
        var result = await AnalysisRunner.AnalyzeAsync(project, GetDiagnosticAnalyzers(), cancellationToken).ConfigureAwait(false);
        DiagnosticVerifier.FailOnAnalyzerExceptions("Analyzer during the code fix", result.AnalyzerExceptions);
        return result.AnalyzerDiagnostics.Where(d => fixableIds.Contains(d.Id) && d.Location.IsInSource).ToImmutableArray();
    }

    private static async Task<Solution> ApplyAsync(CodeAction action, Solution solution, string what, CancellationToken cancellationToken)
    {
        var operations = await action.GetOperationsAsync(cancellationToken).ConfigureAwait(false);
        var apply = operations.OfType<ApplyChangesOperation>().ToList();
        if (apply.Count != 1)
        {
            throw new VerificationException($"{what} produced {apply.Count} ApplyChangesOperation(s), expected 1.");
        }

        var changed = apply[0].ChangedSolution;
        if (!await HasTextChangesAsync(solution, changed, cancellationToken).ConfigureAwait(false))
        {
            throw new VerificationException($"{what} changed nothing: a fix offered for a diagnostic must change the code.");
        }

        return changed;
    }

    private static async Task<bool> HasTextChangesAsync(Solution before, Solution after, CancellationToken cancellationToken)
    {
        foreach (var project in after.Projects)
        {
            foreach (var document in project.Documents)
            {
                var old = before.GetDocument(document.Id);
                if (old is null)
                {
                    return true;
                }

                var oldText = await old.GetTextAsync(cancellationToken).ConfigureAwait(false);
                var newText = await document.GetTextAsync(cancellationToken).ConfigureAwait(false);
                if (!oldText.ContentEquals(newText))
                {
                    return true;
                }
            }
        }

        return before.Projects.Sum(p => p.DocumentIds.Count) != after.Projects.Sum(p => p.DocumentIds.Count);
    }

    private async Task VerifyFixedAsync(Solution solution, ProjectId projectId, ImmutableArray<DocumentId> documents, PreparedState expected, string context, CancellationToken cancellationToken)
    {
        var project = solution.GetProject(projectId)!;
        if (project.DocumentIds.Count != documents.Length)
        {
            throw new VerificationException($"{context}: the fix left {project.DocumentIds.Count} documents, expected {documents.Length}.");
        }

        var actualFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < documents.Length; i++)
        {
            var document = project.GetDocument(documents[i])!;
            var rawText = (await document.GetTextAsync(cancellationToken).ConfigureAwait(false)).ToString();
            if (MixesLineEndings(rawText))
            {
                throw new VerificationException(context + ": the fixed source " + document.FilePath + " mixes line endings (CRLF and LF): a fix must end new lines like the document does.");
            }

            var actualText = Normalize(rawText);
            var expectedText = Normalize(expected.Sources[i].Text);
            if (actualText != expectedText)
            {
                throw new VerificationException(context + ": the fixed source " + document.FilePath + " differs from the expected one.\n" + TextDiff(expectedText, actualText));
            }

            actualFiles[expected.Sources[i].Path] = actualText;
        }

        foreach (var file in expected.AdditionalFiles)
        {
            actualFiles[file.Path] = file.Text;
        }

        // Document paths of the fixed project are the test state's; expected locations use the
        // fixed state's names, which are the same by construction (same index, same default names).
        var actual = await GetComparedDiagnosticsAsync(project, context + " (diagnostics of the fixed code)", cancellationToken).ConfigureAwait(false);
        DiagnosticVerifier.Verify(context + " (diagnostics of the fixed code: it must compile and report only what FixedState expects)", expected.Expected, actual, actualFiles);
    }

    private static bool MixesLineEndings(string text)
    {
        var crlf = text.Contains("\r\n", StringComparison.Ordinal);
        var lf = text.Replace("\r\n", string.Empty, StringComparison.Ordinal).Contains('\n', StringComparison.Ordinal);
        return crlf && lf;
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');

    /// <summary>Both texts with line numbers; the first differing line is marked.</summary>
    public static string TextDiff(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        var first = 0;
        while (first < e.Length && first < a.Length && e[first] == a[first])
        {
            first++;
        }

        var text = new StringBuilder();
        text.Append("First difference at line ").Append((first + 1).ToString(CultureInfo.InvariantCulture)).Append(":\n");
        text.Append("  expected: ").Append(first < e.Length ? Visible(e[first]) : "(end of text)").Append('\n');
        text.Append("  actual:   ").Append(first < a.Length ? Visible(a[first]) : "(end of text)").Append("\n\n");
        text.Append("--- actual (fixed) source\n");
        for (var i = 0; i < a.Length; i++)
        {
            text.Append(i == first ? ">" : " ").Append((i + 1).ToString(CultureInfo.InvariantCulture).PadLeft(4)).Append(" | ").Append(a[i]).Append('\n');
        }

        text.Append("--- expected source\n");
        for (var i = 0; i < e.Length; i++)
        {
            text.Append(i == first ? ">" : " ").Append((i + 1).ToString(CultureInfo.InvariantCulture).PadLeft(4)).Append(" | ").Append(e[i]).Append('\n');
        }

        return text.ToString();
    }

    private static string Visible(string line) => "\"" + line.Replace("\t", "\\t", StringComparison.Ordinal) + "\"";

    private sealed class TestDiagnosticProvider : FixAllContext.DiagnosticProvider
    {
        private readonly CSharpCodeFixTest<TAnalyzer, TCodeFix> _test;
        private readonly ImmutableArray<string> _fixableIds;

        public TestDiagnosticProvider(CSharpCodeFixTest<TAnalyzer, TCodeFix> test, ImmutableArray<string> fixableIds)
        {
            _test = test;
            _fixableIds = fixableIds;
        }

        public override async Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken)
        {
            var all = await _test.GetFixableDiagnosticsAsync(document.Project, _fixableIds, cancellationToken).ConfigureAwait(false);
            return all.Where(d => d.Location.SourceTree?.FilePath == document.FilePath);
        }

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
            Task.FromResult(Enumerable.Empty<Diagnostic>());

        public override async Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
            await _test.GetFixableDiagnosticsAsync(project, _fixableIds, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// The static facade for code-fix tests:
/// <c>await CSharpCodeFixVerifier&lt;A, F&gt;.VerifyCodeFixAsync(source, Diagnostic("MMU001").WithLocation(0), fixedSource)</c>.
/// </summary>
public static class CSharpCodeFixVerifier<TAnalyzer, TCodeFix>
    where TAnalyzer : DiagnosticAnalyzer, new()
    where TCodeFix : CodeFixProvider, new()
{
    public static DiagnosticResult Diagnostic() => CSharpAnalyzerVerifier<TAnalyzer>.Diagnostic();

    public static DiagnosticResult Diagnostic(string diagnosticId) => CSharpAnalyzerVerifier<TAnalyzer>.Diagnostic(diagnosticId);

    public static DiagnosticResult Diagnostic(DiagnosticDescriptor descriptor) => new(descriptor);

    public static DiagnosticResult CompilerError(string errorIdentifier) => DiagnosticResult.CompilerError(errorIdentifier);

    public static Task VerifyAnalyzerAsync(string source, params DiagnosticResult[] expected) =>
        CSharpAnalyzerVerifier<TAnalyzer>.VerifyAnalyzerAsync(source, expected);

    public static Task VerifyCodeFixAsync(string source, string fixedSource) =>
        VerifyCodeFixAsync(source, Array.Empty<DiagnosticResult>(), fixedSource);

    public static Task VerifyCodeFixAsync(string source, DiagnosticResult expected, string fixedSource) =>
        VerifyCodeFixAsync(source, new[] { expected }, fixedSource);

    public static Task VerifyCodeFixAsync(string source, DiagnosticResult[] expected, string fixedSource)
    {
        var test = new Test { TestCode = source, FixedCode = fixedSource };
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(CancellationToken.None);
    }

    public sealed class Test : CSharpCodeFixTest<TAnalyzer, TCodeFix>
    {
    }
}
