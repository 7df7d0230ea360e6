using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Benchmarks.Corpus;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Benchmarks;

/// <summary>
/// Where the analyzers' time goes, measured from outside in one run: the compiler alone, the
/// driver with a do-nothing analyzer of each registration kind (what the registration itself
/// costs), our analyzers, and the flow core's own phases called directly (operation tree,
/// control-flow graph, flow walk), with the bytes each allocates.
/// </summary>
internal static class PhaseProfile
{
    public static string Measure(int scale, ImmutableArray<DiagnosticAnalyzer> analyzers, int rounds)
    {
        var trees = CorpusCompilation.GetTrees(scale);
        var (table, compiler, compilerBytes) = Cases(() => CorpusCompilation.Parse(CorpusCompilation.GetCorpus(scale)), analyzers, rounds);
        var phases = DirectPhases(trees, rounds);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{scale}x kernel corpus, {rounds} rounds in rotating order after a warm-up; medians, as ratios to the compiler alone (time) and extra bytes over the compiler's own allocations.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"The flow core called directly on every method body of the same corpus (one thread; medians of {rounds}), as a share of the compiler alone:");
        text.AppendLine();
        text.AppendLine("| Phase | Bodies | Time / compiler | Allocations / compiler's |");
        text.AppendLine("|---|---:|---:|---:|");
        foreach (var (name, count, ms, allocated) in phases)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {count} | {ms / compiler:0.00} | {allocated / compilerBytes:0.00} |");
        }

        return text.ToString();
    }

    /// <summary>The same cases on code that never touches the notifier or lock API.</summary>
    public static string MeasureOrdinary(int files, ImmutableArray<DiagnosticAnalyzer> analyzers, int rounds)
    {
        var corpus = OrdinaryCorpusGenerator.Generate(files);
        var trees = CorpusCompilation.Parse(corpus);
        var compilation = CorpusCompilation.Create(trees);
        var errors = compilation.GetDiagnostics().Count(d => d.Severity == DiagnosticSeverity.Error);
        var findings = CorpusCompilation.RunAnalyzers(compilation, analyzers).Where(d => d.Id.StartsWith("MMU", StringComparison.Ordinal)).ToList();
        var (table, _, _) = Cases(() => CorpusCompilation.Parse(corpus), analyzers, rounds);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Ordinary code: {corpus.Files.Count} files, {corpus.Lines} lines, {corpus.Functions} methods that reference Kernel.Mm but never call the notifier or lock API ({errors} compiler errors, {findings.Count} MMU diagnostics). {rounds} rounds in rotating order; medians.");
        text.AppendLine();
        text.Append(table);
        return text.ToString();
    }

    /// <summary>Whole-corpus analyses between the cold and the warm edits.</summary>
    private const int EditorWarmUpAnalyses = 4;

    /// <summary>
    /// The editor's loop: a document of the corpus is edited (a statement added to one method), the
    /// compilation is forked as an IDE forks it, and that document alone is analysed — the compiler's
    /// own diagnostics for it, then ours (which includes building the new compilation's indexes).
    /// </summary>

    public static string MeasureEditor(int scale, ImmutableArray<DiagnosticAnalyzer> analyzers, int rounds)
    {
        var trees = CorpusCompilation.GetTrees(scale);
        var baseCompilation = CorpusCompilation.Create(trees);
        CorpusCompilation.RunAnalyzers(baseCompilation, analyzers);
        var document = trees
            .Where(t => t.GetText().Lines.Count is >= 200 and <= 400)
            .OrderBy(t => Math.Abs(t.GetText().Lines.Count - 300))
            .ThenBy(t => t.FilePath, StringComparer.Ordinal)
            .First();

        // What the host costs for the same document: the driver runs a do-nothing syntax-node
        // analyzer on it (one callback per method, as ours registers), and one that asks every
        // method's operation tree (what ours asks for a method that calls the API). Each set gets
        // its own driver per edit, in rotating order, so none always runs first on a new compilation.
        var sets = new (string Name, ImmutableArray<DiagnosticAnalyzer> Analyzers)[]
        {
            ("our analyzers", analyzers),
            ("a do-nothing syntax-node analyzer (method declarations)", ImmutableArray.Create<DiagnosticAnalyzer>(new NoOpSyntaxNodeAnalyzer())),
            ("a syntax-node analyzer that asks for every method's operation tree", ImmutableArray.Create<DiagnosticAnalyzer>(new OperationOnDemandAnalyzer())),
        };

        // The same edits twice: in a process that has analysed the corpus once (an editor just
        // opened), and after a few more whole-corpus analyses (an editor that has been running: the
        // runtime has by then compiled the hot paths at full optimisation).
        var edit = 0;
        var (cold, coldCompiler) = Edits(baseCompilation, document, sets, rounds, ref edit);
        for (int i = 0; i < EditorWarmUpAnalyses; i++)
        {
            CorpusCompilation.RunAnalyzers(CorpusCompilation.Create(trees), analyzers);
        }

        var (warm, warmCompiler) = Edits(baseCompilation, document, sets, rounds, ref edit);
        foreach (var noOp in sets.SelectMany(set => set.Analyzers).OfType<NoOpAnalyzer>())
        {
            noOp.EnsureRan();
        }

        // Which analyzer the document's time goes to: one more edit, with Roslyn's accounting on.
        var again = baseCompilation.ReplaceSyntaxTree(document, Edit(document, edit));
        var telemetry = CorpusCompilation.WithAnalyzers(again, analyzers, logExecutionTime: true)
            .GetAnalysisResultAsync(again.GetSemanticModel(again.SyntaxTrees.First(t => t.FilePath == document.FilePath)), null, CancellationToken.None)
            .GetAwaiter().GetResult().AnalyzerTelemetryInfo;
        double all = telemetry.Values.Sum(t => t.ExecutionTime.TotalMilliseconds);
        var shares = string.Join(", ", telemetry
            .OrderByDescending(p => p.Value.ExecutionTime)
            .Where(p => all > 0 && p.Value.ExecutionTime.TotalMilliseconds / all >= 0.02)
            .Select(p => AnalyzerCatalog.Describe(p.Key) + " " + AnalyzerTelemetry.Percent(p.Value.ExecutionTime.TotalMilliseconds, all)));

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"One edited document of the {scale}x corpus (`{document.FilePath}`, {document.GetText().Lines.Count} lines), {rounds} edits after a warm-up edit, each in a fresh compilation: the compiler's diagnostics for the document (`SemanticModel.GetDiagnostics`), then each set of analyzers on that document alone (syntax and semantic passes, as the IDE asks; a driver of its own per set and edit, in rotating order). \"Cold\": the process has analysed the corpus once; \"warm\": {EditorWarmUpAnalyses} more whole-corpus analyses later.");
        text.AppendLine();
        text.AppendLine("| Measure | Median | Range |");
        text.AppendLine("|---|---:|---:|");
        foreach (var (name, times, compiler) in new[] { ("cold", cold, coldCompiler), ("warm", warm, warmCompiler) })
        {
            for (int s = 0; s < sets.Length; s++)
            {
                var ms = times[s];
                text.AppendLine(CultureInfo.InvariantCulture, $"| {sets[s].Name}, ms ({name}) | {Median(ms):0} | {ms.Min():0}–{ms.Max():0} |");
            }

            text.AppendLine(CultureInfo.InvariantCulture, $"| our analyzers / the compiler's own diagnostics of the document ({name}) | {Median(times[0].Select((o, i) => o / compiler[i]).ToList()):0.00} | |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| our analyzers / the do-nothing syntax-node analyzer, per edit ({name}) | {Median(times[0].Select((o, i) => o / times[1][i]).ToList()):0.00} | |");
        }

        text.AppendLine();
        text.AppendLine("Shares of the document's analyzer time (Roslyn telemetry, one more edit): " + shares + ".");
        return text.ToString();
    }

    // A warm-up edit, then `rounds` measured ones; each its own edit, in a fresh compilation, as after
    // a keystroke, and each set of analyzers timed on it with a driver of its own.
    private static (List<double>[] Sets, List<double> Compiler) Edits(Compilation baseCompilation, SyntaxTree document, (string Name, ImmutableArray<DiagnosticAnalyzer> Analyzers)[] sets, int rounds, ref int edit)
    {
        var compilerMs = new List<double>();
        var setMs = sets.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round <= rounds; round++)
        {
            var editedTree = Edit(document, edit++);
            var compilation = baseCompilation.ReplaceSyntaxTree(document, editedTree);
            var model = compilation.GetSemanticModel(editedTree);
            var (compilerTime, _) = Time(() => model.GetDiagnostics());
            var times = new double[sets.Length];
            for (int k = 0; k < sets.Length; k++)
            {
                int s = (k + round) % sets.Length;
                var withAnalyzers = CorpusCompilation.WithAnalyzers(compilation, sets[s].Analyzers, logExecutionTime: false);
                (times[s], _) = Time(() =>
                {
                    withAnalyzers.GetAnalyzerSyntaxDiagnosticsAsync(editedTree, CancellationToken.None).GetAwaiter().GetResult();
                    withAnalyzers.GetAnalyzerSemanticDiagnosticsAsync(compilation.GetSemanticModel(editedTree), null, CancellationToken.None).GetAwaiter().GetResult();
                });
            }

            if (round > 0)
            {
                compilerMs.Add(compilerTime);
                for (int s = 0; s < sets.Length; s++)
                {
                    setMs[s].Add(times[s]);
                }
            }
        }

        return (setMs, compilerMs);
    }

    // The document with one statement added to its first non-empty method: `_ = edit;`.
    private static SyntaxTree Edit(SyntaxTree document, int edit)
    {
        var root = document.GetRoot();
        var body = root.DescendantNodes().OfType<MethodDeclarationSyntax>().First(m => m.Body is { Statements.Count: > 0 }).Body!;
        var edited = root.ReplaceNode(body, body.AddStatements(SyntaxFactory.ParseStatement("_ = " + edit.ToString(CultureInfo.InvariantCulture) + ";")));
        return document.WithRootAndOptions(edited, document.Options);
    }

    // Every run gets trees parsed for it, outside the timer: a build parses afresh, so what our
    // analyzers keep with a tree (its token scan) is paid in every run, as in a build.
    private static (string Table, double CompilerMs, double CompilerBytes) Cases(Func<ImmutableArray<SyntaxTree>> parse, ImmutableArray<DiagnosticAnalyzer> analyzers, int rounds)
    {
        var sets = new (string Name, ImmutableArray<DiagnosticAnalyzer> Analyzers)[]
        {
            ("compiler alone (`GetDiagnostics`)", default),
            ("+ a do-nothing compilation-start analyzer", ImmutableArray.Create<DiagnosticAnalyzer>(new NoOpCompilationStartAnalyzer())),
            ("+ a do-nothing operation-block analyzer", ImmutableArray.Create<DiagnosticAnalyzer>(new NoOpOperationBlockAnalyzer())),
            ("+ a do-nothing syntax-node analyzer (method declarations)", ImmutableArray.Create<DiagnosticAnalyzer>(new NoOpSyntaxNodeAnalyzer())),
            ($"+ {analyzers.Length} do-nothing syntax-node analyzers (as many as ours)", analyzers.Select(_ => (DiagnosticAnalyzer)new NoOpSyntaxNodeAnalyzer()).ToImmutableArray()),
            ("+ a syntax-node analyzer that asks for every method's operation tree", ImmutableArray.Create<DiagnosticAnalyzer>(new OperationOnDemandAnalyzer())),
            ("+ the same, from a semantic model without nullable analysis", ImmutableArray.Create<DiagnosticAnalyzer>(new OperationWithoutNullableAnalyzer())),
            ("+ our analyzers", analyzers),
        };
        var cases = sets
            .Select(set => (set.Name, Run: set.Analyzers.IsDefault
                ? (Action<ImmutableArray<SyntaxTree>>)(trees => CorpusCompilation.Create(trees).GetDiagnostics())
                : trees => CorpusCompilation.RunAnalyzers(CorpusCompilation.Create(trees), set.Analyzers)))
            .ToArray();

        var times = cases.Select(_ => new List<double>()).ToArray();
        var bytes = cases.Select(_ => new List<double>()).ToArray();
        foreach (var c in cases)
        {
            c.Run(parse());
        }

        foreach (var noOp in sets.Where(set => !set.Analyzers.IsDefault).SelectMany(set => set.Analyzers).OfType<NoOpAnalyzer>())
        {
            noOp.EnsureRan();
        }

        for (int round = 0; round < rounds; round++)
        {
            // Rotate the order each round so no case always runs after the same neighbour.
            for (int k = 0; k < cases.Length; k++)
            {
                int i = (k + round) % cases.Length;
                var trees = parse();
                var (ms, allocated) = Time(() => cases[i].Run(trees));
                times[i].Add(ms);
                bytes[i].Add(allocated);
            }
        }

        double compiler = Median(times[0]);
        double compilerBytes = Median(bytes[0]);
        var text = new StringBuilder();
        text.AppendLine("| Case | Time / compiler (median, range) | Time / do-nothing compilation-start (median of rounds) | Extra allocations / compiler's |");
        text.AppendLine("|---|---:|---:|---:|");
        for (int i = 0; i < cases.Length; i++)
        {
            var ratios = times[i].Select(t => t / compiler).ToList();
            var overStart = Median(times[i].Select((t, r) => t / times[1][r]).ToList());
            text.AppendLine(CultureInfo.InvariantCulture, $"| {cases[i].Name} | {Median(times[i]) / compiler:0.00} ({ratios.Min():0.00}–{ratios.Max():0.00}) | {(i == 0 ? "—" : overStart.ToString("0.00", CultureInfo.InvariantCulture))} | {(i == 0 ? "—" : ((Median(bytes[i]) - compilerBytes) / compilerBytes).ToString("0.00", CultureInfo.InvariantCulture))} |");
        }

        return (text.ToString(), compiler, compilerBytes);
    }

    /// <summary>Runs our analyzers over the corpus again and again: a workload to trace.</summary>
    public static void Loop(int scale, ImmutableArray<DiagnosticAnalyzer> analyzers, int iterations, bool ordinary, bool sameShape)
    {
        var corpus = ordinary ? OrdinaryCorpusGenerator.Generate(CorpusCompilation.BaseFiles * scale)
            : sameShape ? SameShapeCorpusGenerator.Generate(CorpusCompilation.BaseFiles * scale, SameShapeCorpusGenerator.Dialect.Notifier)
            : CorpusCompilation.GetCorpus(scale);
        for (int i = 0; i < iterations; i++)
        {
            // Parsed afresh each time, as a build does, so the per-tree scans are in every iteration.
            var trees = CorpusCompilation.Parse(corpus);
            // Processor time beside wall time: on a shared machine the other processes' load stretches the wall time of a run far more than its processor time.
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var (ms, allocated) = Time(() => CorpusCompilation.RunAnalyzers(CorpusCompilation.Create(trees), analyzers));
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"iteration {i}: {ms:0} ms, {allocated / 1e6:0} MB, {cpu:0} ms processor"));
        }
    }

    /// <summary>Runs only the flow walk over every body, again and again: the core alone, to trace.</summary>
    public static void LoopFlow(int scale, int iterations, bool sameShape = false)
    {
        var trees = sameShape
            ? CorpusCompilation.Parse(SameShapeCorpusGenerator.Generate(CorpusCompilation.BaseFiles * scale, SameShapeCorpusGenerator.Dialect.Notifier))
            : CorpusCompilation.GetTrees(scale);
        var compilation = CorpusCompilation.Create(trees);
        var symbols = KnownSymbols.Get(compilation);
        var graphs = new List<(ControlFlowGraph Graph, IMethodSymbol Method)>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var declaration in tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>())
            {
                if (model.GetOperation(declaration) is IMethodBodyOperation body && model.GetDeclaredSymbol(declaration) is IMethodSymbol method)
                {
                    graphs.Add((ControlFlowGraph.Create(body), method));
                }
            }
        }

        for (int i = 0; i < iterations; i++)
        {
            var (ms, allocated) = Time(() =>
            {
                foreach (var (graph, method) in graphs)
                {
                    FlowCache.Analyze(graph, method, symbols, CancellationToken.None);
                }
            });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"flow iteration {i}: {ms:0} ms, {allocated / 1e6:0} MB, {graphs.Count} bodies"));
        }
    }

    private static List<(string Name, int Count, double Ms, double Bytes)> DirectPhases(ImmutableArray<SyntaxTree> trees, int rounds)
    {
        var samples = new Dictionary<string, (int Count, List<double> Ms, List<double> Bytes)>();
        void Add(string name, int count, double ms, double allocated)
        {
            if (!samples.TryGetValue(name, out var s))
            {
                s = (count, new List<double>(), new List<double>());
                samples[name] = s;
            }

            s.Ms.Add(ms);
            s.Bytes.Add(allocated);
        }

        for (int round = 0; round <= rounds; round++)
        {
            var compilation = CorpusCompilation.Create(trees);
            var symbols = KnownSymbols.Get(compilation);
            var bodies = new List<(IOperation Body, IMethodSymbol Method)>();
            var (ms, allocated) = Time(() =>
            {
                foreach (var tree in compilation.SyntaxTrees)
                {
                    var model = compilation.GetSemanticModel(tree);
                    foreach (var declaration in tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>())
                    {
                        if (model.GetOperation(declaration) is IMethodBodyOperation body && model.GetDeclaredSymbol(declaration) is IMethodSymbol method)
                        {
                            bodies.Add((body, method));
                        }
                    }
                }
            });
            var graphs = new List<(ControlFlowGraph Graph, IMethodSymbol Method)>();
            var (cfgMs, cfgBytes) = Time(() =>
            {
                foreach (var (body, method) in bodies)
                {
                    graphs.Add((ControlFlowGraph.Create((IMethodBodyOperation)body), method));
                }
            });
            var (flowMs, flowBytes) = Time(() =>
            {
                foreach (var (graph, method) in graphs)
                {
                    FlowCache.Analyze(graph, method, symbols, CancellationToken.None);
                }
            });
            if (round == 0)
            {
                continue; // warm-up
            }

            Add("binding + operation tree (`GetOperation`)", bodies.Count, ms, allocated);
            Add("control-flow graph", graphs.Count, cfgMs, cfgBytes);
            Add("flow walk (`FlowAnalysis.Analyze`, every body)", graphs.Count, flowMs, flowBytes);
        }

        return samples.Select(s => (s.Key, s.Value.Count, Median(s.Value.Ms), Median(s.Value.Bytes))).ToList();
    }

    internal static (double Ms, double Bytes) Time(Action action)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var stopwatch = Stopwatch.StartNew();
        action();
        double ms = stopwatch.Elapsed.TotalMilliseconds;
        return (ms, GC.GetTotalAllocatedBytes(precise: true) - before);
    }

    internal static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

#pragma warning disable RS1001, RS1012, RS2008 // Benchmark-only analyzers, created by hand, never exported; doing nothing is their point.

    /// <summary>
    /// The do-nothing analyzers' common part. Each supports one enabled descriptor it never reports:
    /// the driver skips an analyzer with no supported diagnostic that is enabled, so with none it would
    /// measure the driver with no analyzer at all (as this benchmark did until 2026-12-05). Each counts
    /// its callbacks, and <see cref="EnsureRan"/> fails a measurement in which one never ran.
    /// </summary>
    private abstract class NoOpAnalyzer : DiagnosticAnalyzer
    {
        private static readonly DiagnosticDescriptor Never = new(
            "BENCH000", "Never reported", "Never reported", "Benchmark", DiagnosticSeverity.Warning, isEnabledByDefault: true);

        private int _calls;

        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Never);

        public void EnsureRan()
        {
            if (Volatile.Read(ref _calls) == 0)
            {
                throw new InvalidOperationException($"{GetType().Name} was never called back: the driver did not run it, and the case would measure nothing.");
            }
        }

        protected void Called() => Interlocked.Increment(ref _calls);
    }

    private sealed class NoOpCompilationStartAnalyzer : NoOpAnalyzer
    {
        public override void Initialize(AnalysisContext context)
        {
            context.EnableConcurrentExecution();
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.RegisterCompilationStartAction(_ => Called());
        }
    }

    private sealed class NoOpOperationBlockAnalyzer : NoOpAnalyzer
    {
        public override void Initialize(AnalysisContext context)
        {
            context.EnableConcurrentExecution();
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.RegisterOperationBlockAction(_ => Called());
        }
    }

    private sealed class NoOpSyntaxNodeAnalyzer : NoOpAnalyzer
    {
        public override void Initialize(AnalysisContext context)
        {
            context.EnableConcurrentExecution();
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.RegisterSyntaxNodeAction(_ => Called(), SyntaxKind.MethodDeclaration);
        }
    }

    /// <summary>What our rules do for a relevant method, without the rules: a syntax-node action that
    /// asks the driver's semantic model for the body's operation tree. Beside the operation-block
    /// analyzer it says whether the tree costs the same asked for this way.</summary>
    private sealed class OperationOnDemandAnalyzer : NoOpAnalyzer
    {
        public override void Initialize(AnalysisContext context)
        {
            context.EnableConcurrentExecution();
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.RegisterSyntaxNodeAction(
                c =>
                {
                    Called();
                    c.SemanticModel.GetOperation(c.Node, c.CancellationToken);
                },
                SyntaxKind.MethodDeclaration);
        }
    }
    /// <summary>The same as <see cref="OperationOnDemandAnalyzer"/>, from a model of its own per tree
    /// made with <see cref="SemanticModelOptions.DisableNullableAnalysis"/>: what binding a body costs
    /// without the nullable pass the driver's model runs for a nullable-enabled compilation.</summary>
    private sealed class OperationWithoutNullableAnalyzer : NoOpAnalyzer
    {
        public override void Initialize(AnalysisContext context)
        {
            context.EnableConcurrentExecution();
            context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
            context.RegisterCompilationStartAction(start =>
            {
                var models = new System.Collections.Concurrent.ConcurrentDictionary<SyntaxTree, SemanticModel>();
                start.RegisterSyntaxNodeAction(
                    c =>
                    {
                        Called();
#pragma warning disable RS1030, RSEXPERIMENTAL001 // The point of the case: a model of its own, with nullable analysis off (an experimental API, so measured here, not used by the rules).
                        models.GetOrAdd(c.Node.SyntaxTree, t => c.Compilation.GetSemanticModel(t, SemanticModelOptions.DisableNullableAnalysis))
#pragma warning restore RS1030, RSEXPERIMENTAL001
                            .GetOperation(c.Node, c.CancellationToken);
                    },
                    SyntaxKind.MethodDeclaration);
            });
        }
    }
#pragma warning restore RS1001, RS1012, RS2008
}
