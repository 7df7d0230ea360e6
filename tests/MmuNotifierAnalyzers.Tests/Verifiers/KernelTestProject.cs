using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>The test project every analyzer and code-fix test runs in: .NET 10 reference
/// assemblies, Kernel.Mm and the annotations, nullable annotations on and the newest language
/// version (the options the test sources are written for). A test of a project without
/// Kernel.Mm clears <c>TestState.AdditionalReferences</c>.</summary>
internal static class KernelTestProject
{
    public static void Configure(AnalyzerTest<DefaultVerifier> test)
    {
        test.ReferenceAssemblies = TestReferences.Net100;
        test.TestState.AdditionalReferences.Add(TestReferences.KernelMm);
        test.TestState.AdditionalReferences.Add(TestReferences.Annotations);

        // MMU002 and MMU003 report one id with a message per kind of finding: [|..|] stands for
        // the id, as Diagnostic(id) does (FirstDescriptor); tests that care compare the message.
        test.MarkupOptions = MarkupOptions.UseFirstDescriptor;
        test.SolutionTransforms.Add(static (solution, projectId) =>
        {
            var project = solution.GetProject(projectId)!;
            var compilation = ((CSharpCompilationOptions)project.CompilationOptions!).WithNullableContextOptions(NullableContextOptions.Enable);
            var parse = ((CSharpParseOptions)project.ParseOptions!).WithLanguageVersion(LanguageVersion.Latest);
            return solution.WithProjectCompilationOptions(projectId, compilation).WithProjectParseOptions(projectId, parse);
        });
    }

    /// <summary>The framework enables the analyzers' ids with <see cref="ReportDiagnostic.Default"/>
    /// entries, which the compiler reads as <c>/warnaserror-:id</c>: an .editorconfig or
    /// .globalconfig could then not raise a warning to an error. For an id enabled by default the
    /// entry changes nothing else, so it goes and the configuration applies as in a real build.</summary>
    public static Project WithConfigurableSeverities(Project project, IEnumerable<DiagnosticAnalyzer> analyzers)
    {
        var options = project.CompilationOptions!;
        var specific = options.SpecificDiagnosticOptions;
        foreach (var descriptor in analyzers.SelectMany(a => a.SupportedDiagnostics).Where(d => d.IsEnabledByDefault))
        {
            if (specific.TryGetValue(descriptor.Id, out var report) && report == ReportDiagnostic.Default)
            {
                specific = specific.Remove(descriptor.Id);
            }
        }

        return project.WithCompilationOptions(options.WithSpecificDiagnosticOptions(specific));
    }

    /// <summary>The analyzer's first descriptor with this id (or its only id), as
    /// <see cref="MarkupOptions.UseFirstDescriptor"/> takes for markup. Like a markup diagnostic,
    /// it compares the locations a test gives: the rules' additional locations (the range's start,
    /// the sleeping callee, ...) are not asserted unless a test adds them.</summary>
    public static DiagnosticResult FirstDescriptor(DiagnosticAnalyzer analyzer, string? id = null)
    {
        var supported = analyzer.SupportedDiagnostics;
        id ??= supported.Select(d => d.Id).Distinct().Single();
        return new DiagnosticResult(supported.First(d => d.Id == id)).WithOptions(DiagnosticOptions.IgnoreAdditionalLocations);
    }
}
