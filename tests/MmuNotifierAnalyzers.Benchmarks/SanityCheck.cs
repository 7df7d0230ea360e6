using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Benchmarks.Corpus;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// A benchmark over a corpus where nothing fires measures nothing: compiles the corpus, runs
/// every analyzer once, and compares what fired with what the generator planted, member by
/// member (a method, or the ops table field), so misses and false positives are named.
/// </summary>
internal sealed class SanityCheck
{
    private SanityCheck(int scale, GeneratedCorpus corpus)
    {
        Scale = scale;
        Corpus = corpus;
    }

    public int Scale { get; }

    public GeneratedCorpus Corpus { get; }

    public IReadOnlyList<Diagnostic> CompilerErrors { get; private set; } = Array.Empty<Diagnostic>();

    public int CompilerWarnings { get; private set; }

    public IReadOnlyList<string> AnalyzerExceptions { get; private set; } = Array.Empty<string>();

    /// <summary>Rule id → (planted, reported, reported where planted).</summary>
    public SortedDictionary<string, (int Planted, int Reported, int Matched)> PerRule { get; } = new(StringComparer.Ordinal);

    public List<string> Missed { get; } = new();

    public List<string> Unexpected { get; } = new();

    public bool CompilesCleanly => CompilerErrors.Count == 0;

    public bool AllAsPlanted => CompilesCleanly && AnalyzerExceptions.Count == 0 && Missed.Count == 0 && Unexpected.Count == 0;

    public static SanityCheck Run(int scale, ImmutableArray<DiagnosticAnalyzer> analyzers)
    {
        var corpus = CorpusCompilation.GetCorpus(scale);
        var check = new SanityCheck(scale, corpus);
        var compilation = CorpusCompilation.Create(CorpusCompilation.GetTrees(scale));
        var compilerDiagnostics = compilation.GetDiagnostics();
        check.CompilerErrors = compilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        check.CompilerWarnings = compilerDiagnostics.Count(d => d.Severity == DiagnosticSeverity.Warning);

        var exceptions = new ConcurrentQueue<string>();
        var withAnalyzers = CorpusCompilation.WithAnalyzers(
            compilation,
            analyzers,
            logExecutionTime: false,
            (e, a, d) => exceptions.Enqueue(a.GetType().Name + ": " + e.GetType().Name + ": " + e.Message));
        var reported = withAnalyzers.GetAnalyzerDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult();
        var ad0001 = reported.Where(d => d.Id == "AD0001").Select(d => d.GetMessage(CultureInfo.InvariantCulture));
        check.AnalyzerExceptions = exceptions.Concat(ad0001).Distinct(StringComparer.Ordinal).ToList();
        check.Compare(reported.Where(d => d.Id != "AD0001").ToList(), analyzers);
        return check;
    }

    private void Compare(IReadOnlyList<Diagnostic> reported, ImmutableArray<DiagnosticAnalyzer> analyzers)
    {
        // Expected diagnostics per (file, member, id); rules with no analyzer yet are listed, not failed.
        var supported = analyzers.SelectMany(a => a.SupportedDiagnostics).Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        var expected = new Dictionary<(string Path, string Member, string Id), int>();
        foreach (var defect in Corpus.Defects)
        {
            var key = (defect.Path, defect.Member, defect.RuleId);
            expected[key] = expected.GetValueOrDefault(key) + defect.Count;
        }

        var actual = new Dictionary<(string Path, string Member, string Id), List<Diagnostic>>();
        foreach (var diagnostic in reported)
        {
            var key = (diagnostic.Location.SourceTree?.FilePath ?? "<no file>", EnclosingMember(diagnostic), diagnostic.Id);
            if (!actual.TryGetValue(key, out var list))
            {
                actual[key] = list = new List<Diagnostic>();
            }

            list.Add(diagnostic);
        }

        foreach (string id in expected.Keys.Select(k => k.Id).Concat(actual.Keys.Select(k => k.Id)).Concat(supported).Distinct())
        {
            int planted = expected.Where(p => p.Key.Id == id).Sum(p => p.Value);
            int total = actual.Where(p => p.Key.Id == id).Sum(p => p.Value.Count);
            int matched = expected.Where(p => p.Key.Id == id)
                .Sum(p => Math.Min(p.Value, actual.TryGetValue(p.Key, out var got) ? got.Count : 0));
            PerRule[id] = (planted, total, matched);
        }

        foreach (var (key, count) in expected.OrderBy(p => p.Key.Path, StringComparer.Ordinal))
        {
            int got = actual.TryGetValue(key, out var list) ? list.Count : 0;
            if (got < count && supported.Contains(key.Id))
            {
                Missed.Add($"{key.Id} expected {count}, got {got}: {key.Path} {key.Member}");
            }
        }

        foreach (var (key, list) in actual.OrderBy(p => p.Key.Path, StringComparer.Ordinal))
        {
            int want = expected.GetValueOrDefault(key);
            foreach (var diagnostic in list.Skip(want))
            {
                var line = diagnostic.Location.GetLineSpan().StartLinePosition.Line + 1;
                Unexpected.Add($"{key.Path}({line}) {key.Member}: {diagnostic.Id}: {diagnostic.GetMessage(CultureInfo.InvariantCulture)}");
            }
        }
    }

    private static string EnclosingMember(Diagnostic diagnostic)
    {
        var tree = diagnostic.Location.SourceTree;
        if (tree is null)
        {
            return "<no member>";
        }

        var node = tree.GetRoot().FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
        foreach (var ancestor in node.AncestorsAndSelf())
        {
            switch (ancestor)
            {
                case MethodDeclarationSyntax method:
                    return method.Identifier.ValueText;
                case VariableDeclaratorSyntax variable when ancestor.Parent?.Parent is FieldDeclarationSyntax:
                    return variable.Identifier.ValueText;
            }
        }

        return "<no member>";
    }

    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Corpus {Scale}x: {Corpus.Files.Count} files, {Corpus.Lines} lines, {Corpus.Functions} methods, {Corpus.Defects.Count} planted defects.");
        text.AppendLine(CultureInfo.InvariantCulture, $"Compiler: {CompilerErrors.Count} errors, {CompilerWarnings} warnings. Analyzer exceptions (AD0001): {AnalyzerExceptions.Count}.");
        text.AppendLine();
        text.AppendLine("| Rule | Planted | Reported | Reported where planted |");
        text.AppendLine("|---|---:|---:|---:|");
        foreach (var (id, (planted, reported, matched)) in PerRule)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {id} | {planted} | {reported} | {matched} |");
        }

        AppendList(text, "Compiler errors", CompilerErrors.Select(d => d.ToString()).ToList());
        AppendList(text, "Analyzer exceptions", AnalyzerExceptions);
        AppendList(text, "Planted but not reported", Missed);
        AppendList(text, "Reported but not planted", Unexpected);
        return text.ToString();
    }

    private static void AppendList(StringBuilder text, string title, IReadOnlyList<string> items)
    {
        if (items.Count == 0)
        {
            return;
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"{title} ({items.Count}, first 15):");
        text.AppendLine();
        foreach (string item in items.Take(15))
        {
            text.AppendLine("- `" + item.Replace('`', '\'') + "`");
        }
    }
}
