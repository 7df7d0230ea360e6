using System;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.FlowAnalysis;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Core.Flow.Engine;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Flow;

/// <summary>The flow core on its own: the queries later rules read, cost, and the shapes the rules rely on.</summary>
public class FlowAnalysisTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public void Open_ranges_at_a_call_carry_the_start_arguments()
    {
        var (result, tree) = Analyze(@"
static class T
{
    static void f(mm_struct mm, ulong address)
    {
        ulong mmun_start = address & PAGE_MASK, mmun_end = mmun_start + PAGE_SIZE;
        mmu_notifier_invalidate_range_start(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range(mm, mmun_start, mmun_end);
        mmu_notifier_invalidate_range_end(mm, mmun_start, mmun_end);
    }
}
");
        var invalidate = Call(tree, "mmu_notifier_invalidate_range");
        var open = Assert.Single(result.At(invalidate)!.OnSomePath(Domains.Ranges));
        Assert.Equal("mm", open.KeyDisplay);
        Assert.Equal("mmun_start", open.StartDisplay);
        Assert.Equal("mmun_end", open.EndDisplay);
        Assert.Equal(Certainty.Certain, open.Certainty);
        Assert.Empty(result.LeakedRanges);
        var close = Assert.Single(result.Closes);
        Assert.False(close.HasMismatch);
    }

    [Fact]
    public void Locks_held_at_an_operation_name_the_lock_and_where_it_was_taken()
    {
        var (result, tree) = Analyze(@"
static class T
{
    static void f(mm_struct mm, pmd_ptr pmd, ulong address)
    {
        var pte = pte_offset_map_lock(mm, pmd, address, out var ptl);
        spin_lock(mm.page_table_lock);
        cond_resched();
        spin_unlock(mm.page_table_lock);
        schedule();
        pte_unmap_unlock(pte, ptl);
        msleep(1);
    }
}
");
        var both = LocksAt(result, Call(tree, "cond_resched"));
        Assert.Equal(new[] { "mm.page_table_lock", "ptl" }, both.Select(l => l.Display).OrderBy(d => d, StringComparer.Ordinal));
        Assert.Equal("ptl", Assert.Single(LocksAt(result, Call(tree, "schedule"))).Display);
        Assert.Empty(LocksAt(result, Call(tree, "msleep")));
    }

    [Fact]
    public void Three_correlated_flags_stay_precise()
    {
        var (result, _) = Analyze(@"
static class T
{
    static void f(mm_struct a, mm_struct b, mm_struct c, ulong s, ulong e, bool x, bool y, bool z)
    {
        if (x) mmu_notifier_invalidate_range_start(a, s, e);
        if (y) mmu_notifier_invalidate_range_start(b, s, e);
        if (z) mmu_notifier_invalidate_range_start(c, s, e);
        cond_resched();
        if (z) mmu_notifier_invalidate_range_end(c, s, e);
        if (y) mmu_notifier_invalidate_range_end(b, s, e);
        if (x) mmu_notifier_invalidate_range_end(a, s, e);
    }
}
");
        Assert.True(result.Complete);
        Assert.Empty(result.LeakedRanges);
        Assert.Empty(result.UnmatchedEnds);
    }

    [Fact]
    public void Cost_is_linear_not_exponential_in_branches()
    {
        // 2^300 paths: enumerating them would never finish; the disjunct merge keeps it linear.
        static string Body(int n)
        {
            var sb = new StringBuilder();
            sb.Append("static class T { static void f(mm_struct mm, ulong s, ulong e, int k) {\n");
            for (var i = 0; i < n; i++)
            {
                sb.Append("  bool f").Append(i).Append(" = k > ").Append(i).Append(";\n");
                sb.Append("  if (f").Append(i).Append(") { mmu_notifier_invalidate_range_start(mm, s, e); cond_resched(); mmu_notifier_invalidate_range_end(mm, s, e); }\n");
                sb.Append("  else { spin_lock(mm.page_table_lock); spin_unlock(mm.page_table_lock); }\n");
            }

            sb.Append("} }\n");
            return sb.ToString();
        }

        var small = Time(Body(75));
        var large = Time(Body(300));
        Assert.True(large.Result.Complete);
        Assert.Empty(large.Result.LeakedRanges);
        Assert.Empty(large.Result.UnmatchedEnds);
        Assert.True(large.Elapsed < TimeSpan.FromSeconds(20), "300 branches took " + large.Elapsed);

        // Four times the code should cost about four times as much; allow a wide margin for noise.
        Assert.True(large.Elapsed.Ticks < (small.Elapsed.Ticks * 16) + TimeSpan.FromMilliseconds(500).Ticks, "75: " + small.Elapsed + ", 300: " + large.Elapsed);
    }

    [Fact]
    public void Nested_finally_releases_the_lock_on_every_exit()
    {
        var (result, tree) = Analyze(@"
static class T
{
    static int f(mm_struct mm, ulong s, ulong e, int k)
    {
        mmu_notifier_invalidate_range_start(mm, s, e);
        try
        {
            spin_lock(mm.page_table_lock);
            try
            {
                if (k == 0)
                    return 0;
                if (k == 1)
                    throw new System.InvalidOperationException();
            }
            finally
            {
                spin_unlock(mm.page_table_lock);
            }

            msleep(1);
            return 1;
        }
        finally
        {
            mmu_notifier_invalidate_range_end(mm, s, e);
        }
    }
}
");
        Assert.Empty(result.LeakedRanges);
        Assert.Empty(result.UnmatchedEnds);
        Assert.Empty(LocksAt(result, Call(tree, "msleep")));
        Assert.Empty(LocksAt(result, Call(tree, "mmu_notifier_invalidate_range_end")));
    }

    [Fact]
    public void Infinite_loop_with_break_and_continue()
    {
        var (result, _) = Analyze(@"
static class T
{
    static void f(mm_struct mm, ulong s, ulong e, int n)
    {
        int i = 0;
        while (true)
        {
            mmu_notifier_invalidate_range_start(mm, s, e);
            if (++i > n)
            {
                mmu_notifier_invalidate_range_end(mm, s, e);
                break;
            }

            if (i % 2 == 0)
            {
                mmu_notifier_invalidate_range_end(mm, s, e);
                continue;
            }

            mmu_notifier_invalidate_range_end(mm, s, e);
        }
    }
}
");
        Assert.True(result.Complete);
        Assert.Empty(result.LeakedRanges);
        Assert.Empty(result.ReopenedStarts);
        Assert.Empty(result.UnmatchedEnds);
    }

    [Fact]
    public void Local_function_inside_a_lambda_is_analysed()
    {
        var (result, tree) = Analyze(@"
static class T
{
    static System.Action f(mm_struct mm, ulong s, ulong e)
    {
        return () =>
        {
            void inner()
            {
                mmu_notifier_invalidate_range_start(mm, s, e);
            }

            inner();
        };
    }
}
");
        var leak = Assert.Single(result.LeakedRanges);
        Assert.Equal(Call(tree, "mmu_notifier_invalidate_range_start"), leak.Range.Start);
        Assert.Equal(ExitKind.EndOfMethod, leak.Exit.Kind);
    }

    [Fact]
    public void Cancellation_is_honoured()
    {
        var (graph, owner, symbols) = Graph(Usings + "static class T { static void f(mm_struct mm) { mmu_notifier_invalidate_range_start(mm, 0, 1); } }");
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => FlowCache.Analyze(graph, owner, symbols, cts.Token));
    }

    private static (FlowResult Result, TimeSpan Elapsed) Time(string body)
    {
        var (graph, owner, symbols) = Graph(Usings + body);
        var watch = Stopwatch.StartNew();
        var result = FlowCache.Analyze(graph, owner, symbols, CancellationToken.None);
        return (result, watch.Elapsed);
    }

    private static (FlowResult Result, SyntaxTree Tree) Analyze(string body)
    {
        var (graph, owner, symbols) = Graph(Usings + body);
        var result = FlowCache.Analyze(graph, owner, symbols, CancellationToken.None);
        Assert.True(result.Complete);
        return (result, graph.OriginalOperation.Syntax.SyntaxTree);
    }

    private static (ControlFlowGraph Graph, IMethodSymbol Owner, KnownSymbols Symbols) Graph(string source)
    {
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest));
        var compilation = CSharpCompilation.Create(
            "flow",
            new[] { tree },
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        var model = compilation.GetSemanticModel(tree);
        var method = tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>().First();
        var graph = ControlFlowGraph.Create(method, model)!;
        return (graph, model.GetDeclaredSymbol(method)!, KnownSymbols.Get(compilation));
    }

    /// <summary>Spinlocks held on some path at the call (none when the call is not observed).</summary>
    private static System.Collections.Immutable.ImmutableArray<LockFact> LocksAt(FlowResult result, SyntaxNode call) =>
        result.At(call)?.OnSomePath(Domains.Locks) ?? System.Collections.Immutable.ImmutableArray<LockFact>.Empty;

    private static SyntaxNode Call(SyntaxTree tree, string name) =>
        tree.GetRoot().DescendantNodes().OfType<InvocationExpressionSyntax>()
            .First(i => i.Expression is IdentifierNameSyntax id && id.Identifier.ValueText == name);
}
