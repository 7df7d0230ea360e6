using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>Microsoft.CodeAnalysis.Testing's <c>CSharpAnalyzerVerifier&lt;TAnalyzer, DefaultVerifier&gt;</c>
/// with its test project set up by <see cref="KernelTestProject"/>; <c>Diagnostic(id)</c> takes the
/// first descriptor of an id that several share.</summary>
public static class CSharpAnalyzerVerifier<TAnalyzer>
    where TAnalyzer : DiagnosticAnalyzer, new()
{
    public static DiagnosticResult Diagnostic() => KernelTestProject.FirstDescriptor(new TAnalyzer());

    public static DiagnosticResult Diagnostic(string diagnosticId) => KernelTestProject.FirstDescriptor(new TAnalyzer(), diagnosticId);

    public static DiagnosticResult Diagnostic(DiagnosticDescriptor descriptor) => CSharpAnalyzerVerifier<TAnalyzer, DefaultVerifier>.Diagnostic(descriptor);

    public static Task VerifyAnalyzerAsync(string source, params DiagnosticResult[] expected)
    {
        var test = new Test { TestCode = source };
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(CancellationToken.None);
    }

    public sealed class Test : CSharpAnalyzerTest<TAnalyzer, DefaultVerifier>
    {
        public Test() => KernelTestProject.Configure(this);

        protected override Project ApplyCompilationOptions(Project project) =>
            KernelTestProject.WithConfigurableSeverities(base.ApplyCompilationOptions(project), GetDiagnosticAnalyzers());
    }
}
