using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Flow;

/// <summary>
/// The names that make a body worth binding include what the referenced kernel libraries declare;
/// that part is kept with the runtime's symbols for the next compilation. A compilation that
/// references one more library, or one fewer, must see its own.
/// </summary>
public sealed class BodyRelevanceTests
{
    [Fact]
    public void A_referenced_library_counts_only_for_the_compilations_that_reference_it()
    {
        var library = CSharpCompilation.Create(
            "kernel_lib",
            [CSharpSyntaxTree.ParseText("using MmuNotifierAnalyzers.Annotations; public static class L { [AcquiresLock(\"l\")] public static void lib_lock(object l) { } }")],
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        using var image = new MemoryStream();
        Assert.True(library.Emit(image).Success);
        var libraryReference = MetadataReference.CreateFromImage(image.ToArray());

        var tree = CSharpSyntaxTree.ParseText("class C { void f(object l) { } }");
        var references = TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations);
        var without = CSharpCompilation.Create("without", [tree], references);
        var with = without.AddReferences(libraryReference);
        var againWithout = CSharpCompilation.Create("again", [tree], references);

        Assert.DoesNotContain("lib_lock", Names(without));
        Assert.Contains("lib_lock", Names(with));
        Assert.DoesNotContain("lib_lock", Names(againWithout));

        // The same runtime in all three, as Roslyn shares a reference's symbols: the kept names are
        // offered to each, and only the matching walk may take them.
        Assert.Same(KnownSymbols.Get(without).Linux, KnownSymbols.Get(with).Linux);
        Assert.Contains("spin_lock", Names(with));
    }

    private static System.Collections.Generic.HashSet<string> Names(Compilation compilation) =>
        BodyRelevance.Get(compilation, KnownSymbols.Get(compilation)).Names(CancellationToken.None);
}
