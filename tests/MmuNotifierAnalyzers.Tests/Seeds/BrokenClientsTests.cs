using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Seeds;

/// <summary>
/// The secondary MMUs that ship with Kernel.Mm (src/Kernel.Mm/SecondaryMmu: the correct ones and
/// the deliberately broken client of each protocol mistake) and the ProtocolDemo's device mirror,
/// analyzed as a project would see them: every shipped rule reports exactly the lines marked
/// <c>// expect: MMUnnn</c> — the broken clients' bugs — and nothing on the correct clients. The
/// scenario tests of Kernel.Mm.Tests run the same clients and show the runtime twin's report and
/// the coherence checker's stale translation for each mistake, so the three views of one bug
/// are checked on one source. Kernel.Mm is compiled from source here, since the clients use its
/// internals.
/// </summary>
public sealed class BrokenClientsTests
{
    private static readonly string SecondaryMmu = Path.Combine(RepositoryLayout.Root, "src", "Kernel.Mm", "SecondaryMmu");

    private static readonly string ProtocolDemo = Path.Combine(RepositoryLayout.Root, "samples", "ProtocolDemo");

    private static readonly Regex Expect = new(@"//\s*expect:\s*(?<ids>MMU\d{3}(\s*,\s*MMU\d{3})*)", RegexOptions.CultureInvariant);

    [Fact]
    public void TheClientsCompile()
    {
        foreach (var compilation in Compilations())
        {
            var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, compilation.AssemblyName + " must compile:\n" + string.Join("\n", errors.Take(20)));
        }
    }

    [Fact]
    public async Task EveryShippedRuleReportsExactlyTheMarkedLines()
    {
        var shipped = RepositoryLayout.Analyzers.SelectMany(a => a.SupportedDiagnostics).Select(d => d.Id).ToImmutableHashSet(StringComparer.Ordinal);
        var expected = new List<string>();
        foreach (var file in RepositoryLayout.SourceFiles(SecondaryMmu).Concat(RepositoryLayout.SourceFiles(ProtocolDemo)))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var match = Expect.Match(lines[i]);
                if (match.Success)
                {
                    // An id with no analyzer in this build (a rule not merged yet) cannot be checked.
                    expected.AddRange(match.Groups["ids"].Value.Split(',').Select(x => x.Trim()).Where(shipped.Contains).Select(id => Path.GetFileName(file) + ":" + (i + 1) + " " + id));
                }
            }
        }

        var actual = new List<(string Key, string Message)>();
        foreach (var compilation in Compilations())
        {
            var result = await AnalysisRunner.AnalyzeAsync(compilation, new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty), RepositoryLayout.Analyzers, CancellationToken.None);
            Assert.True(result.AnalyzerExceptions.IsEmpty, string.Join("\n", result.AnalyzerExceptions));
            actual.AddRange(result.AnalyzerDiagnostics
                .Where(d => d.Location.SourceTree?.FilePath is { } path && (path.StartsWith(SecondaryMmu, StringComparison.Ordinal) || path.StartsWith(ProtocolDemo, StringComparison.Ordinal)))
                .Select(d => (Path.GetFileName(d.Location.SourceTree!.FilePath) + ":" + (d.Location.GetLineSpan().StartLinePosition.Line + 1) + " " + d.Id, d.GetMessage(System.Globalization.CultureInfo.InvariantCulture))));
        }

        var missed = expected.Except(actual.Select(a => a.Key), StringComparer.Ordinal).OrderBy(x => x, StringComparer.Ordinal).ToList();
        var unexpected = actual.Where(a => !expected.Contains(a.Key, StringComparer.Ordinal)).Select(a => a.Key + ": " + a.Message).OrderBy(x => x, StringComparer.Ordinal).ToList();
        Assert.True(
            missed.Count == 0 && unexpected.Count == 0,
            "Missed (marked, not reported):\n  " + string.Join("\n  ", missed) + "\nFalse findings (reported, not marked):\n  " + string.Join("\n  ", unexpected));
    }

    private static IEnumerable<CSharpCompilation> Compilations()
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var options = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable);
        SyntaxTree Parse(string file) => CSharpSyntaxTree.ParseText(File.ReadAllText(file), parse, path: file);

        // Kernel.Mm as its project builds it: its sources, the shared rule ids, the global using.
        var kernelMm = RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "src", "Kernel.Mm"))
            .Append(Path.Combine(RepositoryLayout.Root, "src", "Shared", "RuleIdentifiers.Ids.cs"))
            .Select(Parse)
            .Append(CSharpSyntaxTree.ParseText("global using MmuNotifierAnalyzers;", parse, path: "GlobalUsings.cs"));
        yield return CSharpCompilation.Create("Kernel.Mm", kernelMm, TestReferences.Framework.Add(TestReferences.Annotations), options);

        // The demo's driver, against the built Kernel.Mm, as the sample project references it.
        var demo = RepositoryLayout.SourceFiles(ProtocolDemo).Select(Parse);
        yield return CSharpCompilation.Create("ProtocolDemo", demo, TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations), options);
    }
}
