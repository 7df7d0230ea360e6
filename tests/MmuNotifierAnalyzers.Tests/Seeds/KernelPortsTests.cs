using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Seeds;

/// <summary>
/// The corpus of real kernel functions hand-ported to C# (tests/MmuNotifierAnalyzers.Tests/KernelPorts,
/// excluded from this project's own compilation): every port compiles against Kernel.Mm and the
/// shared kernel pieces of samples/Seeds.Common, as the seed ports do.
/// </summary>
public sealed class KernelPortsTests
{
    [Fact]
    public void KernelPortsCompile()
    {
        var folder = Path.Combine(RepositoryLayout.Root, "tests", "MmuNotifierAnalyzers.Tests", "KernelPorts");
        var ports = RepositoryLayout.SourceFiles(folder);
        Assert.True(ports.Count > 0, "no .cs files under " + folder);

        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var files = ports.Concat(RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Common")));
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: f)).ToList();
        var compilation = CSharpCompilation.Create(
            "KernelPorts",
            trees,
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, "The kernel ports must compile:\n" + string.Join("\n", errors.Take(20)));
    }
}
