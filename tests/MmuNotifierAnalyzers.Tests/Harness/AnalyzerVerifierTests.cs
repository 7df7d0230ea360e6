using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Tests.Harness.BadCallAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Harness;

public sealed class AnalyzerVerifierTests
{
    private const string Methods = "void Bad() { } void Good() { } void Worse() { } void Fine() { }";

    [Fact]
    public async Task SingleIdMarkupPasses()
    {
        await Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { [|Bad|](); Good(); } }");
    }

    [Fact]
    public async Task NamedMarkupAndLocationMarkerPass()
    {
        await Verify.VerifyAnalyzerAsync(
            "class C { " + Methods + " void M() { {|TST001:Bad|}(); {|#0:Worse|}(); } }",
            Verify.Diagnostic().WithLocation(0).WithArguments("Worse"));
    }

    [Fact]
    public async Task ExplicitSpanAndMessagePass()
    {
        var source = "class C {\n" + Methods + "\nvoid M() { Bad(); }\n}";
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic("TST001").WithSpan(3, 12, 3, 15).WithMessage("Call to 'Bad' is bad"));
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithLocation(3, 12).WithSeverity(DiagnosticSeverity.Warning));
        await Verify.VerifyAnalyzerAsync(source, Verify.Diagnostic().WithSpan("/0/Test0.cs", 3, 12, 3, 15).WithArguments("Bad"));
    }

    [Fact]
    public async Task NoDiagnosticExpectedAndNonePasses()
    {
        await Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { Good(); } }");
    }

    [Fact]
    public async Task MissingDiagnosticFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { [|Good|](); } }"));
        Assert.Contains("Missing (expected, not reported): Diagnostic(\"TST001\")", failure.Message);
        // The rendering has line numbers and a ~ caret line under the expected span.
        Assert.Contains("   1 | class C {", failure.Message);
        Assert.Contains("~~~~ expected TST001", failure.Message);
    }

    [Fact]
    public async Task ExtraDiagnosticFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { [|Bad|](); Bad(); } }"));
        Assert.Contains("Unexpected (reported, not expected): TST001", failure.Message);
        Assert.Contains("^^^ reported TST001: Call to 'Bad' is bad", failure.Message);
    }

    [Fact]
    public async Task WrongSpanFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { [|Bad()|]; } }"));
        Assert.Contains("Missing", failure.Message);
        Assert.Contains("Unexpected", failure.Message);
    }

    [Fact]
    public async Task WrongArgumentsFail()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { {|#0:Bad|}(); } }", Verify.Diagnostic().WithLocation(0).WithArguments("Worse")));
        Assert.Contains("message is \"Call to 'Bad' is bad\", expected \"Call to 'Worse' is bad\"", failure.Message);
    }

    [Fact]
    public async Task WrongSeverityFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { {|#0:Bad|}(); } }", Verify.Diagnostic().WithLocation(0).WithSeverity(DiagnosticSeverity.Error)));
        Assert.Contains("severity is Warning, expected Error", failure.Message);
    }

    [Fact]
    public async Task UnresolvedLocationMarkerIsATestBug()
    {
        await Assert.ThrowsAsync<System.InvalidOperationException>(() =>
            Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { [|Bad|](); } }", Verify.Diagnostic().WithLocation(3)));
    }

    [Fact]
    public async Task ThrowingAnalyzerFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            CSharpAnalyzerVerifier<ThrowingAnalyzer>.VerifyAnalyzerAsync("class C { void M() { M(); } }"));
        Assert.Contains("AD0001", failure.Message);
        Assert.Contains("boom from ThrowingAnalyzer", failure.Message);
    }

    [Fact]
    public async Task NonCompilingSourceFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            Verify.VerifyAnalyzerAsync("class C { " + Methods + " void M() { [|Bad|](); Undefined(); } }"));
        Assert.Contains("does not compile", failure.Message);
        Assert.Contains("CS0103", failure.Message);
    }

    [Fact]
    public async Task ExpectedCompilerErrorPasses()
    {
        await Verify.VerifyAnalyzerAsync(
            "class C { " + Methods + " void M() { [|Bad|](); {|CS0103:Undefined|}(); } }");
        await Verify.VerifyAnalyzerAsync(
            "class C { " + Methods + " void M() { [|Bad|](); {|#0:Undefined|}(); } }",
            DiagnosticResult.CompilerError("CS0103").WithLocation(0));
    }

    [Fact]
    public async Task CompilerDiagnosticsNoneIgnoresErrors()
    {
        var test = new Verify.Test
        {
            TestCode = "class C { " + Methods + " void M() { [|Bad|](); Undefined(); } }",
            CompilerDiagnostics = CompilerDiagnostics.None,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task AnalyzerOfGeneratedCodeFailsTheGeneratedCodeCheck()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            CSharpAnalyzerVerifier<AnalyzesGeneratedCodeAnalyzer>.VerifyAnalyzerAsync("class C { " + Methods + " void M() { [|Bad|](); } }"));
        Assert.Contains("auto-generated", failure.Message);
    }

    [Fact]
    public async Task GeneratedCodeCheckCanBeSkipped()
    {
        var test = new CSharpAnalyzerVerifier<AnalyzesGeneratedCodeAnalyzer>.Test
        {
            TestCode = "class C { " + Methods + " void M() { [|Bad|](); } }",
            TestBehaviors = TestBehaviors.SkipGeneratedCodeCheck,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task SeveralSourcesWithPaths()
    {
        var test = new Verify.Test();
        test.TestState.Sources.Add("partial class C { " + Methods + " }");
        test.TestState.Sources.Add(("Other.cs", "partial class C { void M() { Bad(); } }"));
        test.ExpectedDiagnostics.Add(Verify.Diagnostic().WithSpan("/0/Other.cs", 1, 30, 1, 33));
        await test.RunAsync();
    }

    [Fact]
    public async Task EditorConfigSeverityApplies()
    {
        var test = new Verify.Test { TestCode = "class C { " + Methods + " void M() { {|#0:Bad|}(); } }" };
        test.TestState.AnalyzerConfigFiles.Add((".editorconfig", "root = true\n\n[*.cs]\ndotnet_diagnostic.TST001.severity = error\n"));
        test.ExpectedDiagnostics.Add(Verify.Diagnostic().WithLocation(0).WithSeverity(DiagnosticSeverity.Error));
        await test.RunAsync();
    }

    [Fact]
    public async Task EditorConfigSeverityNoneSilences()
    {
        var test = new Verify.Test { TestCode = "class C { " + Methods + " void M() { Bad(); } }" };
        test.TestState.AnalyzerConfigFiles.Add((".editorconfig", "root = true\n\n[*.cs]\ndotnet_diagnostic.TST001.severity = none\n"));
        await test.RunAsync();
    }

    [Fact]
    public async Task GlobalConfigSeverityApplies()
    {
        var test = new Verify.Test { TestCode = "class C { " + Methods + " void M() { {|#0:Bad|}(); } }" };
        test.TestState.AnalyzerConfigFiles.Add(("/.globalconfig", "is_global = true\ndotnet_diagnostic.TST001.severity = suggestion\n"));
        test.ExpectedDiagnostics.Add(Verify.Diagnostic().WithLocation(0).WithSeverity(DiagnosticSeverity.Info));
        await test.RunAsync();
    }

    [Fact]
    public async Task EditorConfigCustomKeyReachesTheAnalyzer()
    {
        var test = new Verify.Test { TestCode = "class C { " + Methods + " void M() { Bad(); } }" };
        test.TestState.AnalyzerConfigFiles.Add((".editorconfig", "root = true\n\n[*.cs]\ntst_enabled = false\n"));
        await test.RunAsync();
    }

    [Fact]
    public async Task DiagnosticsInAdditionalFilesUseMarkup()
    {
        var test = new CSharpAnalyzerVerifier<AdditionalFileAnalyzer>.Test { TestCode = "class C { }" };
        test.TestState.AdditionalFiles.Add(("list.bad.txt", "good\n  [|bad|]\n"));
        test.TestState.AdditionalFiles.Add(("other.txt", "bad\n"));
        await test.RunAsync();
    }

    [Fact]
    public async Task DiagnosticsInAdditionalFilesAreCompared()
    {
        var test = new CSharpAnalyzerVerifier<AdditionalFileAnalyzer>.Test { TestCode = "class C { }" };
        test.TestState.AdditionalFiles.Add(("list.bad.txt", "bad\n"));
        var failure = await Assert.ThrowsAsync<VerificationException>(() => test.RunAsync());
        Assert.Contains("Unexpected (reported, not expected): TST002 Warning /0/list.bad.txt (1,1)-(1,4)", failure.Message);
    }

    [Fact]
    public async Task DisabledDiagnosticsAreOff()
    {
        var test = new Verify.Test { TestCode = "class C { " + Methods + " void M() { Bad(); } }" };
        test.DisabledDiagnostics.Add("TST001");
        await test.RunAsync();
    }

    [Fact]
    public async Task FrameworkIsReferenced()
    {
        await Verify.VerifyAnalyzerAsync(
            "using System.Collections.Generic; using System.Threading; using System.Threading.Tasks;\n" +
            "class C { " + Methods + " async Task M() { var l = new List<int>(); Monitor.Enter(l); await Task.Delay(1); [|Bad|](); } }");
    }

    [Fact]
    public async Task KernelMmAndAnnotationsAreReferenced()
    {
        await Verify.VerifyAnalyzerAsync(
            "using Kernel.Mm; using static Kernel.Mm.Linux; using MmuNotifierAnalyzers.Annotations;\n" +
            "class C { " + Methods + " [MaySleep] void M(mm_struct mm) { ulong a = PAGE_SIZE; [|Bad|](); } }");
    }

    [Fact]
    public async Task KernelMmCanBeLeftOut()
    {
        var test = new Verify.Test
        {
            TestCode = "class C { void M() { {|CS0246:Kernel|}.Mm.mm_struct? mm = null; } }",
            ReferenceKernelMm = false,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task DiagnosticThatSurvivesThePragmaFailsTheSuppressionCheck()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            CSharpAnalyzerVerifier<PragmaDefyingAnalyzer>.VerifyAnalyzerAsync("class C { " + Methods + " void M() { [|Bad|](); } }"));
        Assert.Contains("#pragma warning disable TST001", failure.Message);
    }

    [Fact]
    public async Task SuppressionCheckCanBeSkipped()
    {
        var test = new CSharpAnalyzerVerifier<PragmaDefyingAnalyzer>.Test
        {
            TestCode = "class C { " + Methods + " void M() { [|Bad|](); } }",
            TestBehaviors = TestBehaviors.SkipSuppressionCheck,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task SingleIdMarkupNeedsASingleIdAnalyzer()
    {
        await Assert.ThrowsAsync<System.InvalidOperationException>(() =>
            CSharpAnalyzerVerifier<TwoIdAnalyzer>.VerifyAnalyzerAsync("class C { void M() { [|M|](); } }"));
        Assert.Throws<System.InvalidOperationException>(() => CSharpAnalyzerVerifier<TwoIdAnalyzer>.Diagnostic());
        Assert.Equal("TST002", CSharpAnalyzerVerifier<TwoIdAnalyzer>.Diagnostic("TST002").Id);
    }
}
