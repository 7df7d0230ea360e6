using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>Microsoft.CodeAnalysis.Testing's <c>CSharpCodeFixVerifier&lt;TAnalyzer, TCodeFix, DefaultVerifier&gt;</c>
/// with its test project set up by <see cref="KernelTestProject"/>; <c>Diagnostic(id)</c> takes the
/// first descriptor of an id that several share.</summary>
public static class CSharpCodeFixVerifier<TAnalyzer, TCodeFix>
    where TAnalyzer : DiagnosticAnalyzer, new()
    where TCodeFix : CodeFixProvider, new()
{
    public static DiagnosticResult Diagnostic() => KernelTestProject.FirstDescriptor(new TAnalyzer());

    public static DiagnosticResult Diagnostic(string diagnosticId) => KernelTestProject.FirstDescriptor(new TAnalyzer(), diagnosticId);

    public static DiagnosticResult Diagnostic(DiagnosticDescriptor descriptor) => CSharpCodeFixVerifier<TAnalyzer, TCodeFix, DefaultVerifier>.Diagnostic(descriptor);

    public static Task VerifyAnalyzerAsync(string source, params DiagnosticResult[] expected)
    {
        var test = new Test { TestCode = source };
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(CancellationToken.None);
    }

    public static Task VerifyCodeFixAsync(string source, string fixedSource) =>
        VerifyCodeFixAsync(source, DiagnosticResult.EmptyDiagnosticResults, fixedSource);

    public static Task VerifyCodeFixAsync(string source, DiagnosticResult expected, string fixedSource) =>
        VerifyCodeFixAsync(source, new[] { expected }, fixedSource);

    public static Task VerifyCodeFixAsync(string source, DiagnosticResult[] expected, string fixedSource)
    {
        var test = new Test { TestCode = source, FixedCode = fixedSource };
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(CancellationToken.None);
    }

    public sealed class Test : CSharpCodeFixTest<TAnalyzer, TCodeFix, DefaultVerifier>
    {
        public Test() => KernelTestProject.Configure(this);

        protected override Project ApplyCompilationOptions(Project project) =>
            KernelTestProject.WithConfigurableSeverities(base.ApplyCompilationOptions(project), GetDiagnosticAnalyzers());
    }
}
