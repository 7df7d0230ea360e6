using System;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using Microsoft.CodeAnalysis.Text;
using MmuNotifierAnalyzers.Core.Sleep;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Sleep;

/// <summary>The oracle's API as MMU004 and MMU005 use it: witnesses, the fixed point on
/// large and cyclic call graphs, caching, cancellation and concurrent use.</summary>
public class SleepOracleTests
{
    private const string Usings = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\n";

    private static CSharpCompilation Compile(params string[] sources)
    {
        var trees = sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest), path: "/0/Test" + i + ".cs"));
        var compilation = CSharpCompilation.Create(
            "SleepOracleTests" + Guid.NewGuid().ToString("N"),
            trees,
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        return compilation;
    }

    private static IMethodSymbol Method(Compilation compilation, string type, string name) =>
        compilation.GetTypeByMetadataName(type)!.GetMembers(name).OfType<IMethodSymbol>().Single();

    private static AnalyzerOptions Options(params (string Path, string Text)[] files) =>
        new(files.Select(f => (AdditionalText)new TextFile(f.Path, f.Text)).ToImmutableArray());

    [Fact]
    public void Witness_lists_the_chain_from_the_callee_down()
    {
        var compilation = Compile(Usings + @"
static class D
{
    static readonly mutex m = new mutex();
    public static void flush_dev_tlb() { mutex_lock(m); }
    public static void outer() { flush_dev_tlb(); }
    public static void quiet() { spin_lock(new spinlock_t()); }
}
");
        var oracle = SleepOracle.Get(compilation, Options());
        Assert.True(oracle.MaySleep(Method(compilation, "D", "outer"), CancellationToken.None, out var witness));
        Assert.Equal(new[] { "outer", "flush_dev_tlb", "mutex_lock" }, witness.Methods.ToArray());
        Assert.Equal("outer → flush_dev_tlb → mutex_lock (may sleep)", witness.Chain);
        Assert.Equal("flush_dev_tlb", oracle.MaySleep(Method(compilation, "D", "flush_dev_tlb"), CancellationToken.None, out var direct) ? direct.Callee : null);

        Assert.False(oracle.MaySleep(Method(compilation, "D", "quiet"), CancellationToken.None, out var none));
        Assert.Same(SleepWitness.None, none);
    }

    [Fact]
    public void Operations_at_a_call_site_answer_with_the_callee_first()
    {
        var source = Usings + @"
using System.Threading.Tasks;
static class D
{
    static readonly object gate = new object();
    static void helper() { msleep(1); }
    static async Task f()
    {
        helper();
        lock (gate) { }
        await Task.Yield();
        kmalloc(8, GFP_ATOMIC);
    }
}
";
        var compilation = Compile(source);
        var tree = compilation.SyntaxTrees.Single();
        var model = compilation.GetSemanticModel(tree);
        var body = model.GetOperation(tree.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.MethodDeclarationSyntax>().Single(m => m.Identifier.Text == "f"))!;
        var oracle = SleepOracle.Get(compilation, Options());

        var helperCall = body.Descendants().OfType<IInvocationOperation>().First(i => i.TargetMethod.Name == "helper");
        Assert.True(oracle.MaySleep(helperCall, CancellationToken.None, out var w1));
        Assert.Equal("helper → msleep (may sleep)", w1.Chain);

        var lockOp = body.Descendants().OfType<ILockOperation>().Single();
        Assert.True(oracle.MaySleep(lockOp, CancellationToken.None, out var w2));
        Assert.Equal("lock", w2.Callee);

        var awaitOp = body.Descendants().OfType<IAwaitOperation>().Single();
        Assert.True(oracle.MaySleep(awaitOp, CancellationToken.None, out var w3));
        Assert.Equal("await", w3.Callee);

        var kmalloc = body.Descendants().OfType<IInvocationOperation>().Single(i => i.TargetMethod.Name == "kmalloc");
        Assert.False(oracle.MaySleep(kmalloc, CancellationToken.None, out _));

        // Without a call site the flags are unknown.
        Assert.True(oracle.MaySleep(kmalloc.TargetMethod, CancellationToken.None, out var w4));
        Assert.Equal("kmalloc (may sleep unless the flags forbid reclaim)", w4.Chain);
    }

    [Fact]
    public void A_very_deep_call_chain_does_not_overflow_the_stack()
    {
        const int depth = 20000;
        var source = new StringBuilder(Usings + "static class D\n{\n");
        for (var i = 0; i < depth; i++)
        {
            source.Append("    public static void f").Append(i).Append("() { f").Append(i + 1).Append("(); }\n");
        }

        source.Append("    public static void f").Append(depth).Append("() { schedule(); }\n}\n");
        var compilation = Compile(source.ToString());
        var oracle = SleepOracle.Get(compilation, Options());
        Assert.True(oracle.MaySleep(Method(compilation, "D", "f0"), CancellationToken.None, out var witness));
        Assert.Equal(depth + 2, witness.Methods.Length);
        Assert.Equal("schedule", witness.Methods[^1]);

        // Every method on the way was solved by that one question.
        Assert.True(oracle.MaySleep(Method(compilation, "D", "f" + (depth / 2)), CancellationToken.None, out var middle));
        Assert.Equal(depth / 2 + 2, middle.Methods.Length);
    }

    [Fact]
    public void A_large_cycle_gives_each_method_its_shortest_way_out()
    {
        const int size = 300;
        var source = new StringBuilder(Usings + "static class D\n{\n");
        for (var i = 0; i < size; i++)
        {
            // c0 -> c1 -> ... -> c299 -> c0, and only c150 sleeps.
            var sleeps = i == size / 2 ? " cond_resched();" : string.Empty;
            source.Append("    public static void c").Append(i).Append("() { c").Append((i + 1) % size).Append("();").Append(sleeps).Append(" }\n");
        }

        source.Append("    public static void idle_a() { idle_b(); }\n    public static void idle_b() { idle_a(); }\n}\n");
        var compilation = Compile(source.ToString());
        var oracle = SleepOracle.Get(compilation, Options());
        for (var i = 0; i < size; i += 37)
        {
            Assert.True(oracle.MaySleep(Method(compilation, "D", "c" + i), CancellationToken.None, out var witness));
            var hops = ((size / 2) - i + size) % size;
            Assert.Equal(hops + 2, witness.Methods.Length);
        }

        Assert.False(oracle.MaySleep(Method(compilation, "D", "idle_a"), CancellationToken.None, out _));
    }

    [Fact]
    public void Gfp_flags_handed_down_through_recursion_are_followed()
    {
        var source = Usings + @"
using System.Linq;
static class D
{
    // a and b hand the caller's flags to each other; only a allocates.
    public static object? a(int n, gfp_t gfp) => n > 0 ? b(n - 1, gfp) : kmalloc(8, gfp);
    public static object? b(int n, gfp_t gfp) => a(n, gfp);
    public static void atomic_caller() { b(3, GFP_ATOMIC); }
    public static void sleeping_caller() { b(3, GFP_KERNEL); }
}
";
        var compilation = Compile(source);
        var oracle = SleepOracle.Get(compilation, Options());

        // Ask about b first: its summary goes through a, which comes back to b.
        Assert.True(oracle.MaySleep(Method(compilation, "D", "sleeping_caller"), CancellationToken.None, out var witness));
        Assert.Equal("sleeping_caller → b → a → kmalloc (GFP_KERNEL allows direct reclaim)", witness.Chain);
        Assert.False(oracle.MaySleep(Method(compilation, "D", "atomic_caller"), CancellationToken.None, out _));

        // Without a call site the flags are unknown.
        Assert.True(oracle.MaySleep(Method(compilation, "D", "a"), CancellationToken.None, out var unknown));
        Assert.Equal("a → kmalloc (may sleep unless the flags forbid reclaim)", unknown.Chain);
    }

    [Fact]
    public void Chains_of_flag_forwarding_helpers_are_followed_within_a_budget()
    {
        static string Chain(int depth)
        {
            var source = new StringBuilder(Usings + "static class D\n{\n");
            for (var i = 0; i < depth; i++)
            {
                source.Append("    public static object? h").Append(i).Append("(gfp_t gfp) => h").Append(i + 1).Append("(gfp);\n");
            }

            source.Append("    public static object? h").Append(depth).Append("(gfp_t gfp) => kmalloc(8, gfp);\n");
            source.Append("    public static void caller() { h0(GFP_KERNEL); }\n}\n");
            return source.ToString();
        }

        var shallow = Compile(Chain(20));
        Assert.True(SleepOracle.Get(shallow, Options()).MaySleep(Method(shallow, "D", "caller"), CancellationToken.None, out var witness));
        Assert.Equal(23, witness.Methods.Length);

        // 5000 helpers deep: past the budget the chain is cut (not reported), and nothing
        // overflows the stack.
        var deep = Compile(Chain(5000));
        Assert.False(SleepOracle.Get(deep, Options()).MaySleep(Method(deep, "D", "caller"), CancellationToken.None, out _));
    }

    [Fact]
    public void Cancellation_leaves_no_half_computed_answer()
    {
        var compilation = Compile(Usings + @"
static class D
{
    public static void a() { b(); }
    public static void b() { c(); }
    public static void c() { msleep(1); }
}
");
        var oracle = SleepOracle.Get(compilation, Options());
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => oracle.MaySleep(Method(compilation, "D", "a"), cancelled.Token, out _));
        Assert.True(oracle.MaySleep(Method(compilation, "D", "a"), CancellationToken.None, out var witness));
        Assert.Equal("a → b → c → msleep", witness.Path);
    }

    [Fact]
    public async Task Concurrent_questions_get_the_same_answers()
    {
        var source = new StringBuilder(Usings + "static class D\n{\n");
        for (var i = 0; i < 200; i++)
        {
            var body = i % 50 == 49 ? "msleep(1);" : "g" + (i + 1) + "(); g" + ((i * 7 + 3) % 200) + "();";
            source.Append("    public static void g").Append(i).Append("() { ").Append(body).Append(" }\n");
        }

        source.Append("}\n");
        var compilation = Compile(source.ToString());
        var oracle = SleepOracle.Get(compilation, Options());
        // Eight threads ask about every method, each in its own order; shortest chains do not
        // depend on who asked first.
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            var random = new Random(t);
            var lengths = new int[200];
            foreach (var i in Enumerable.Range(0, 200).OrderBy(_ => random.Next()))
            {
                lengths[i] = oracle.MaySleep(Method(compilation, "D", "g" + i), CancellationToken.None, out var w) ? w.Methods.Length : 0;
            }

            return lengths;
        })));
        foreach (var answer in answers)
        {
            Assert.Equal(answers[0], answer);
        }

        Assert.All(answers[0], length => Assert.True(length > 0));
    }

    [Fact]
    public void One_oracle_per_compilation_and_configuration()
    {
        var compilation = Compile(Usings + "namespace N { public static class D { public static void fw() { } } }");
        var none = SleepOracle.Get(compilation, Options());
        Assert.Same(none, SleepOracle.Get(compilation, Options()));
        Assert.Same(none, SleepOracle.Get(compilation, null));

        var listed = SleepOracle.Get(compilation, Options(("/p/MmuNotifier.Sleep.txt", "M:N.D.fw\n")));
        Assert.NotSame(none, listed);
        Assert.Same(listed, SleepOracle.Get(compilation, Options(("/p/MmuNotifier.Sleep.txt", "M:N.D.fw\n"))));
        Assert.True(listed.MaySleep(Method(compilation, "N.D", "fw"), CancellationToken.None, out var witness));
        Assert.Equal("fw (may sleep, per MmuNotifier.Sleep.txt)", witness.Chain);
        Assert.False(none.MaySleep(Method(compilation, "N.D", "fw"), CancellationToken.None, out _));
    }

    [Fact]
    public void Never_lines_win_over_may_lines_and_attributes()
    {
        var compilation = Compile(Usings + @"
using MmuNotifierAnalyzers.Annotations;
namespace N
{
    public static class D
    {
        [MaySleep] public static void annotated() { }
        public static void listed_both() { }
        public static void under_prefix() { }
        [NeverSleeps] public static void never() { }
        public static int size => 0;
    }
}
");
        var oracle = SleepOracle.Get(compilation, Options(
            ("/a/MmuNotifier.Sleep.txt", "T:N.D\nM:N.D.listed_both\n"),
            ("/b/MmuNotifier.Sleep.txt", "!M:N.D.annotated\n!M:N.D.listed_*\n!P:N.D.size\n")));
        Assert.False(oracle.MaySleep(Method(compilation, "N.D", "annotated"), CancellationToken.None, out _));
        Assert.False(oracle.MaySleep(Method(compilation, "N.D", "listed_both"), CancellationToken.None, out _));
        Assert.True(oracle.MaySleep(Method(compilation, "N.D", "under_prefix"), CancellationToken.None, out _));
        Assert.False(oracle.MaySleep(Method(compilation, "N.D", "never"), CancellationToken.None, out _));
        Assert.False(oracle.MaySleep(Method(compilation, "N.D", "get_size"), CancellationToken.None, out _));
        Assert.True(oracle.IsDeclaredNeverSleeping(Method(compilation, "N.D", "never")));
    }

    [Fact]
    public void Junk_configuration_is_errors_never_exceptions()
    {
        var compilation = Compile(Usings + "namespace N { public static class D { public static void fw() { } } }");
        var junk = "\0\u0001M:\nT:\nP:*\n!!!\n*\nM:(((\nM:a)b(\n" + new string('x', 5000) + "\n#\n!#\n\t\nM:N.D.fw\nM:N.D.#ctor(\n";
        var oracle = SleepOracle.Get(compilation, Options(("/MmuNotifier.Sleep.txt", junk)));
        var errors = oracle.Configuration.Validate(compilation, CancellationToken.None);
        Assert.Equal(9, errors.Length);
        Assert.All(errors, e => Assert.Equal("/MmuNotifier.Sleep.txt", e.Path));
        Assert.True(oracle.MaySleep(Method(compilation, "N.D", "fw"), CancellationToken.None, out _));
    }

    private sealed class TextFile : AdditionalText
    {
        private readonly SourceText _text;

        public TextFile(string path, string text)
        {
            Path = path;
            _text = SourceText.From(text);
        }

        public override string Path { get; }

        public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
    }
}
