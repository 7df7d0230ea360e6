using System;
using System.Collections.Immutable;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>An analyzer test for one analyzer type.</summary>
public class CSharpAnalyzerTest<TAnalyzer> : AnalyzerTest
    where TAnalyzer : DiagnosticAnalyzer, new()
{
    protected override ImmutableArray<DiagnosticAnalyzer> GetDiagnosticAnalyzers() => ImmutableArray.Create<DiagnosticAnalyzer>(new TAnalyzer());
}

/// <summary>
/// The static facade tests use (Microsoft.CodeAnalysis.Testing's <c>AnalyzerVerifier</c>):
/// <c>await CSharpAnalyzerVerifier&lt;X&gt;.VerifyAnalyzerAsync(source, Diagnostic("MMU001").WithLocation(0))</c>.
/// </summary>
public static class CSharpAnalyzerVerifier<TAnalyzer>
    where TAnalyzer : DiagnosticAnalyzer, new()
{
    /// <summary>A diagnostic of the analyzer's only id.</summary>
    public static DiagnosticResult Diagnostic() => DiagnosticFactory.Single(new TAnalyzer());

    /// <summary>A diagnostic with this id; severity and message format from the analyzer's descriptor.</summary>
    public static DiagnosticResult Diagnostic(string diagnosticId) => DiagnosticFactory.ForId(new TAnalyzer(), diagnosticId);

    public static DiagnosticResult Diagnostic(DiagnosticDescriptor descriptor) => new(descriptor);

    public static DiagnosticResult CompilerError(string errorIdentifier) => DiagnosticResult.CompilerError(errorIdentifier);

    public static DiagnosticResult CompilerWarning(string warningIdentifier) => DiagnosticResult.CompilerWarning(warningIdentifier);

    public static Task VerifyAnalyzerAsync(string source, params DiagnosticResult[] expected)
    {
        var test = new Test { TestCode = source };
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(CancellationToken.None);
    }

    public sealed class Test : CSharpAnalyzerTest<TAnalyzer>
    {
    }
}

internal static class DiagnosticFactory
{
    public static DiagnosticResult Single(DiagnosticAnalyzer analyzer)
    {
        var supported = analyzer.SupportedDiagnostics;
        var first = supported[0];
        foreach (var descriptor in supported)
        {
            if (descriptor.Id != first.Id)
            {
                throw new InvalidOperationException(analyzer.GetType().Name + " reports several ids: use Diagnostic(id).");
            }
        }

        return new DiagnosticResult(first);
    }

    public static DiagnosticResult ForId(DiagnosticAnalyzer analyzer, string id)
    {
        foreach (var descriptor in analyzer.SupportedDiagnostics)
        {
            if (descriptor.Id == id)
            {
                return new DiagnosticResult(descriptor);
            }
        }

        throw new InvalidOperationException(analyzer.GetType().Name + " does not report " + id + ".");
    }
}
