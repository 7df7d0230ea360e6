using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Tests.Meta;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Flow;

/// <summary>
/// The call-site index reads each file's characters to know which names it may spell: for every
/// name, it must give exactly the simple names a walk of every file's tokens gives, in file order.
/// </summary>
public sealed class CallSitesTests
{
    [Fact]
    public void Finds_every_simple_name_a_walk_finds_across_files()
    {
        var sources = new[]
        {
            "class C { void f() { spin_lock(l); set_pte_at(mm, a, p, e); } }",
            "class D { void g() { // spin_lock(l);\n /* set_pte_at */ C.f(); } string s = \"f\"; }",
            "class E { void h() { @spin_lock(l); this.@set_pte_at(); h(); new List<f>(); } }",
            "class F { void f() { \\u0073pin_lock(l); s\\u0065t_pte_at(); } }",
            "class G { void f() { spin\u00ADlock(l); spin_\u200Block(l); ṡpin_lock(l); } }",
            "class H {\n#if false\n void f() { spin_lock(l); }\n#endif\n void g() { set_pte_at(); } }",
            "class I { void f() { spin_lock(",
            string.Empty,
        };
        AssertSameAsWalk(sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, path: "f" + i + ".cs")).ToList(), everyNth: 1);
    }

    /// <summary>Real code: every port and sample in one compilation, asked for every fifth name any of them spells.</summary>
    [Fact]
    public void On_every_port_and_sample_it_finds_what_a_walk_finds()
    {
        var trees = new[] { "samples", Path.Combine("tests", "MmuNotifierAnalyzers.Tests", "KernelPorts"), Path.Combine("tests", "MmuNotifierAnalyzers.IntegrationTests", "FixCorpus") }
            .SelectMany(folder => Directory.EnumerateFiles(Path.Combine(RepositoryLayout.Root, folder), "*.cs", SearchOption.AllDirectories))
            .Where(path => !path.Contains(Path.DirectorySeparatorChar + "obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Select(path => CSharpSyntaxTree.ParseText(File.ReadAllText(path), path: path))
            .ToList();
        Assert.True(trees.Count > 50, "the corpus moved: " + trees.Count + " files");
        AssertSameAsWalk(trees, everyNth: 5);
    }

    private static void AssertSameAsWalk(List<SyntaxTree> trees, int everyNth)
    {
        var compilation = CSharpCompilation.Create("names", trees);
        var names = trees.SelectMany(t => t.GetRoot().DescendantTokens())
            .Where(t => t.IsKind(SyntaxKind.IdentifierToken))
            .Select(t => t.ValueText)
            .Distinct(StringComparer.Ordinal)
            .Where((_, i) => i % everyNth == 0)
            .Append("absent_everywhere")
            .ToList();
        var sites = CallSites.Get(compilation);
        foreach (var name in names)
        {
            var walked = trees.SelectMany(t => t.GetRoot().DescendantTokens())
                .Where(t => t.IsKind(SyntaxKind.IdentifierToken) && t.ValueText == name && t.Parent is SimpleNameSyntax)
                .Select(t => (SimpleNameSyntax)t.Parent!)
                .ToList();

            // Asked twice: the second answer comes from what the first kept with each tree.
            for (int round = 0; round < 2; round++)
            {
                var found = sites.Mentions(name, CancellationToken.None).ToList();
                Assert.True(walked.SequenceEqual(found), $"{name}: walk [{Describe(walked)}], index [{Describe(found)}]");
            }
        }
    }

    private static string Describe(IEnumerable<SimpleNameSyntax> names) =>
        string.Join(", ", names.Select(n => Path.GetFileName(n.SyntaxTree.FilePath) + "@" + n.SpanStart));
}
