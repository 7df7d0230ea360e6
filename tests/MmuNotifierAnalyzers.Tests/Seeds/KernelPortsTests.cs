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
/// The corpora of real kernel functions hand-ported to C# (tests/MmuNotifierAnalyzers.Tests/KernelPorts
/// and tests/MmuNotifierAnalyzers.IntegrationTests/FixCorpus, both of which the code fixes are held to; both
/// excluded from their projects' own compilation): every port compiles against Kernel.Mm and the
/// shared kernel pieces of samples/Seeds.Common, as the seed ports do; and every shipped rule
/// reports exactly what the ports' markers claim (<c>// expect: MMUnnn</c> on the line), nothing
/// more, nothing less. A <c>// known false finding: MMUnnn</c> line is a documented limit: the
/// rule reports it and the kernel says the code is correct.
/// </summary>
public sealed class KernelPortsTests
{
    public static readonly TheoryData<string> Corpora = new()
    {
        "tests/MmuNotifierAnalyzers.Tests/KernelPorts",
        "tests/MmuNotifierAnalyzers.IntegrationTests/FixCorpus",
    };

    private static readonly Regex Expect = new(@"//\s*expect:\s*(?<ids>MMU\d{3}(\s*,\s*MMU\d{3})*)", RegexOptions.CultureInvariant);

    // A finding on code the kernel argues is correct, which the rule cannot tell apart: reported,
    // counted and documented (docs/rules), never silently expected.
    private static readonly Regex KnownFalse = new(@"//\s*known false finding:\s*(?<ids>MMU\d{3})", RegexOptions.CultureInvariant);

    [Theory]
    [MemberData(nameof(Corpora))]
    public void KernelPortsCompile(string corpus)
    {
        var errors = Compile(FolderOf(corpus)).GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, "The kernel ports must compile:\n" + string.Join("\n", errors.Take(20)));
    }

    [Theory]
    [MemberData(nameof(Corpora))]
    public async Task EveryShippedRuleReportsExactlyTheMarkedLines(string corpus)
    {
        var folder = FolderOf(corpus);
        var shipped = RepositoryLayout.Analyzers.SelectMany(a => a.SupportedDiagnostics).Select(d => d.Id).ToImmutableHashSet(StringComparer.Ordinal);
        var expected = new List<string>();
        foreach (var file in RepositoryLayout.SourceFiles(folder))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var known = KnownFalse.Match(lines[i]);
                if (known.Success && shipped.Contains(known.Groups["ids"].Value))
                {
                    expected.Add(Path.GetFileName(file) + ":" + (i + 1) + " " + known.Groups["ids"].Value);
                }

                var match = Expect.Match(lines[i]);
                if (!match.Success)
                {
                    continue;
                }

                foreach (var id in match.Groups["ids"].Value.Split(',').Select(x => x.Trim()).Where(shipped.Contains))
                {
                    expected.Add(Path.GetFileName(file) + ":" + (i + 1) + " " + id);
                }
            }
        }

        var result = await AnalysisRunner.AnalyzeAsync(Compile(folder), new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty), RepositoryLayout.Analyzers, CancellationToken.None);
        Assert.True(result.AnalyzerExceptions.IsEmpty, string.Join("\n", result.AnalyzerExceptions));
        var ports = result.AnalyzerDiagnostics.Where(d => d.Location.SourceTree?.FilePath.StartsWith(folder, StringComparison.Ordinal) == true).ToList();
        var actual = ports
            .Select(d => Path.GetFileName(d.Location.SourceTree!.FilePath) + ":" + (d.Location.GetLineSpan().StartLinePosition.Line + 1) + " " + d.Id)
            .ToList();

        var missed = expected.Except(actual, StringComparer.Ordinal).OrderBy(x => x, StringComparer.Ordinal).ToList();
        var unexpected = ports.Where(d => !expected.Contains(Path.GetFileName(d.Location.SourceTree!.FilePath) + ":" + (d.Location.GetLineSpan().StartLinePosition.Line + 1) + " " + d.Id, StringComparer.Ordinal))
            .Select(d => Path.GetFileName(d.Location.SourceTree!.FilePath) + ":" + (d.Location.GetLineSpan().StartLinePosition.Line + 1) + " " + d.Id + ": " + d.GetMessage(System.Globalization.CultureInfo.InvariantCulture))
            .OrderBy(x => x, StringComparer.Ordinal)
            .ToList();
        Assert.True(
            missed.Count == 0 && unexpected.Count == 0,
            "Missed (marked, not reported):\n  " + string.Join("\n  ", missed) + "\nFalse findings (reported, not marked):\n  " + string.Join("\n  ", unexpected));
    }

    private static string FolderOf(string corpus) => Path.Combine(RepositoryLayout.Root, corpus);

    private static CSharpCompilation Compile(string folder)
    {
        var ports = RepositoryLayout.SourceFiles(folder);
        Assert.True(ports.Count > 0, "no .cs files under " + folder);

        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var files = ports.Concat(RepositoryLayout.SourceFiles(Path.Combine(RepositoryLayout.Root, "samples", "Seeds.Common")));
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: f)).ToList();
        return CSharpCompilation.Create(
            "KernelPorts",
            trees,
            TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
    }
}
