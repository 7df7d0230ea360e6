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

    /// <summary>
    /// An editor's next compilation shares every tree but the edited one, and reads the last full
    /// gathering of which files spell which names: a name the edit adds, one it removes, one it
    /// hides behind an escape (the file may then spell anything) must all be found as a walk finds
    /// them, and again after a second edit of another file.
    /// </summary>
    [Fact]
    public void An_edited_compilation_finds_what_a_walk_finds()
    {
        var trees = Enumerable.Range(0, 12)
            .Select(i => CSharpSyntaxTree.ParseText($"class C{i} {{ void f{i}() {{ spin_lock(l); common(); only_{i}(); }} }}", path: "f" + i + ".cs"))
            .ToList();
        var first = CSharpCompilation.Create("edits", trees);
        var names = new[] { "spin_lock", "common", "only_3", "only_5", "added", "set_pte_at", "absent_everywhere" };
        AssertSame(first, names);

        // File 3 stops calling only_3 and spin_lock, and calls added.
        var edited = CSharpSyntaxTree.ParseText("class C3 { void f3() { added(); common(); } }", path: "f3.cs");
        var second = first.ReplaceSyntaxTree(trees[3], edited);
        AssertSame(second, names);

        // Then file 5 spells set_pte_at with an escape: it may spell any name.
        var escaped = CSharpSyntaxTree.ParseText("class C5 { void f5() { s\\u0065t_pte_at(); only_5(); } }", path: "f5.cs");
        AssertSame(second.ReplaceSyntaxTree(trees[5], escaped), names);

        static void AssertSame(Compilation compilation, string[] names)
        {
            var sites = CallSites.Get(compilation);
            var all = compilation.SyntaxTrees.ToList();
            foreach (var name in names)
            {
                var walked = all.SelectMany(t => t.GetRoot().DescendantTokens())
                    .Where(t => t.IsKind(SyntaxKind.IdentifierToken) && t.ValueText == name && t.Parent is SimpleNameSyntax)
                    .Select(t => (SimpleNameSyntax)t.Parent!)
                    .ToList();
                var found = sites.Mentions(new[] { name }, CancellationToken.None);
                Assert.True(walked.SequenceEqual(found), $"{name}: walk [{Describe(walked)}], index [{Describe(found)}]");
            }
        }
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

        // First every name at once (each file read once for all it may spell), then one by one:
        // those answers come from what the batch kept with each tree.
        var batch = sites.Mentions(names, CancellationToken.None);
        foreach (var name in names)
        {
            var walked = trees.SelectMany(t => t.GetRoot().DescendantTokens())
                .Where(t => t.IsKind(SyntaxKind.IdentifierToken) && t.ValueText == name && t.Parent is SimpleNameSyntax)
                .Select(t => (SimpleNameSyntax)t.Parent!)
                .ToList();
            var batched = batch.Where(n => n.Identifier.ValueText == name).ToList();
            Assert.True(walked.SequenceEqual(batched), $"{name}: walk [{Describe(walked)}], batch [{Describe(batched)}]");
            var found = sites.Mentions(new[] { name }, CancellationToken.None);
            Assert.True(walked.SequenceEqual(found), $"{name}: walk [{Describe(walked)}], index [{Describe(found)}]");
        }

        // A name asked alone first, then in a batch with names not asked yet.
        var fresh = CallSites.Get(CSharpCompilation.Create("names2", trees.Select(t => CSharpSyntaxTree.ParseText(t.GetText(), path: t.FilePath))));
        var lone = names[0];
        fresh.Mentions(new[] { lone }, CancellationToken.None);
        var mixed = fresh.Mentions(names.Take(7).ToList(), CancellationToken.None);
        var seven = names.Take(7).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(
            trees.SelectMany(t => t.GetRoot().DescendantTokens())
                .Where(t => t.IsKind(SyntaxKind.IdentifierToken) && seven.Contains(t.ValueText) && t.Parent is SimpleNameSyntax)
                .Select(t => (t.ValueText, t.SpanStart, Path.GetFileName(t.SyntaxTree!.FilePath))),
            mixed.Select(n => (n.Identifier.ValueText, n.SpanStart, Path.GetFileName(n.SyntaxTree.FilePath))));
    }

    private static string Describe(IEnumerable<SimpleNameSyntax> names) =>
        string.Join(", ", names.Select(n => Path.GetFileName(n.SyntaxTree.FilePath) + "@" + n.SpanStart));
}
