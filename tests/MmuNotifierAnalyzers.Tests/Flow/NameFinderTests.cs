using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Tests.Meta;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Flow;

/// <summary>
/// The pre-check every rule shares reads characters, not tokens: it must find exactly the
/// identifier tokens a walk of the tree finds, in the same order, on every spelling C# allows.
/// </summary>
public sealed class NameFinderTests
{
    private static readonly HashSet<string> Names = new(StringComparer.Ordinal) { "spin_lock", "set_pte_at", "invalidate_range_start", "x" };

    [Theory]
    [InlineData("class C { void f() { spin_lock(l); set_pte_at(mm, a, p, e); } }")]
    [InlineData("class C { void f() { // spin_lock(l);\n /* set_pte_at */ } }")]
    [InlineData("class C { string s = \"spin_lock\" + @\"set_pte_at\" + $\"{spin_lock(l)} spin_lock\"; }")]
    [InlineData("class C { void f() { @spin_lock(l); this.@set_pte_at(); } }")]
    [InlineData("class C { void f() { spin_lock_irq(l); xspin_lock(l); spin_lock2(); } }")]
    [InlineData("class C {\n#if false\n void f() { spin_lock(l); }\n#endif\n void g() { set_pte_at(); } }")]
    [InlineData("class C {\n#region spin_lock\n /// <see cref=\"spin_lock\"/>\n void set_pte_at() { }\n#endregion\n}")]
    [InlineData("class C { void f() { \\u0073pin_lock(l); s\\u0065t_pte_at(); } }")]
    [InlineData("class C { string s = \"C:\\\\users\\\\spin_lock\"; void f() { char c = '\\u0041'; spin_lock(l); } }")]
    [InlineData("class C { void f() { spin\u00ADlock(l); spin_\u200Block(l); ṡpin_lock(l); } }")]
    [InlineData("spin_lock")]
    [InlineData("x")]
    [InlineData("class C { int x; void f(int y) => x = x + y; }")]
    [InlineData("class C { void f() { spin_lock(")]
    [InlineData("")]
    public void Finds_what_a_walk_of_the_tokens_finds(string source) => AssertSameAsWalk(source, Names);

    [Fact]
    public void A_name_across_the_reading_buffers_edge_is_found()
    {
        for (int pad = 4080; pad <= 4100; pad++)
        {
            AssertSameAsWalk("class C { void f() { " + new string(' ', pad - 21) + "spin_lock(l); } }", Names);
        }
    }

    [Fact]
    public void A_long_file_with_many_names_is_found_in_order()
    {
        var text = new StringBuilder("class C { void f() {\n");
        for (int i = 0; i < 3000; i++)
        {
            text.Append(i % 3 == 0 ? "spin_lock(l);\n" : i % 3 == 1 ? "// set_pte_at\n" : "invalidate_range_start(mm, s, e); x++;\n");
        }

        AssertSameAsWalk(text.Append("} }").ToString(), Names);
    }

    /// <summary>Real code: every port and sample, with every third identifier it spells as the names.</summary>
    [Fact]
    public void On_every_port_and_sample_it_finds_what_a_walk_finds()
    {
        var files = new[] { "samples", Path.Combine("tests", "MmuNotifierAnalyzers.Tests", "KernelPorts"), Path.Combine("tests", "MmuNotifierAnalyzers.IntegrationTests", "FixCorpus"), Path.Combine("src", "Kernel.Mm") }
            .SelectMany(folder => Directory.EnumerateFiles(Path.Combine(RepositoryLayout.Root, folder), "*.cs", SearchOption.AllDirectories))
            .Where(path => !path.Contains(Path.DirectorySeparatorChar + "obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .ToList();
        Assert.True(files.Count > 100, "the corpus moved: " + files.Count + " files");
        foreach (var path in files)
        {
            var tree = CSharpSyntaxTree.ParseText(File.ReadAllText(path), path: path);
            var names = tree.GetRoot().DescendantTokens()
                .Where(t => t.IsKind(SyntaxKind.IdentifierToken))
                .Select(t => t.ValueText)
                .Distinct(StringComparer.Ordinal)
                .Where((_, i) => i % 3 == 0)
                .ToHashSet(StringComparer.Ordinal);
            AssertSameAsWalk(tree, names);
        }
    }

    private static void AssertSameAsWalk(string source, HashSet<string> names) =>
        AssertSameAsWalk(CSharpSyntaxTree.ParseText(source), names);

    private static void AssertSameAsWalk(SyntaxTree tree, HashSet<string> names)
    {
        var walked = tree.GetRoot().DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken) && names.Contains(t.ValueText)).ToList();
        var found = new NameFinder(names).Find(tree, CancellationToken.None);
        Assert.True(walked.SequenceEqual(found), $"{tree.FilePath}: walk [{Describe(walked)}], finder [{Describe(found)}]");
    }

    private static string Describe(IEnumerable<SyntaxToken> tokens) => string.Join(", ", tokens.Select(t => t.ValueText + "@" + t.SpanStart));
}
