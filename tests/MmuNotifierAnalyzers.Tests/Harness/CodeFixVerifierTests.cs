using System.Threading.Tasks;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Tests.Harness.BadCallAnalyzer, MmuNotifierAnalyzers.Tests.Harness.RenameBadCallFix>;

namespace MmuNotifierAnalyzers.Tests.Harness;

public sealed class CodeFixVerifierTests
{
    private const string Methods = "void Bad() { } void Good() { } void Worse() { } void Fine() { }";

    private static string Code(string body) => "class C\n{\n    " + Methods + "\n    void M()\n    {\n" + body + "    }\n}\n";

    [Fact]
    public async Task FirstActionFixesEveryDiagnostic()
    {
        await Verify.VerifyCodeFixAsync(
            Code("        [|Bad|](); // keep me\n        [|Bad|]();\n"),
            Code("        Good(); // keep me\n        Good();\n"));
    }

    [Fact]
    public async Task ExplicitExpectedDiagnostics()
    {
        await Verify.VerifyCodeFixAsync(
            Code("        {|#0:Bad|}();\n"),
            Verify.Diagnostic().WithLocation(0).WithArguments("Bad"),
            Code("        Good();\n"));
    }

    [Fact]
    public async Task NothingToFixLeavesTheSource()
    {
        await Verify.VerifyCodeFixAsync(Code("        Good();\n"), Code("        Good();\n"));
    }

    [Fact]
    public async Task ActionChosenByEquivalenceKey()
    {
        var test = new Verify.Test
        {
            TestCode = Code("        [|Bad|]();\n"),
            FixedCode = Code("        Fine();\n"),
            CodeActionEquivalenceKey = "ToFine",
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task ActionChosenByIndex()
    {
        var test = new Verify.Test
        {
            TestCode = Code("        [|Bad|]();\n"),
            FixedCode = Code("        Fine();\n"),
            CodeActionIndex = 1,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task FixIteratesUntilNothingIsLeft()
    {
        // Worse -> Bad -> Good: the second iteration fixes what the first produced.
        var test = new Verify.Test
        {
            TestCode = Code("        [|Worse|]();\n        [|Bad|]();\n"),
            FixedCode = Code("        Good();\n        Good();\n"),
            NumberOfIncrementalIterations = 3,
            NumberOfFixAllIterations = 2,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task WrongIterationCountFails()
    {
        var test = new Verify.Test
        {
            TestCode = Code("        [|Worse|]();\n"),
            FixedCode = Code("        Good();\n"),
            NumberOfIncrementalIterations = 1,
        };
        var failure = await Assert.ThrowsAsync<VerificationException>(() => test.RunAsync());
        Assert.Contains("took 2 iterations, expected 1", failure.Message);
    }

    [Fact]
    public async Task FixOneAppliesASingleAction()
    {
        var test = new Verify.Test
        {
            TestCode = Code("        [|Worse|]();\n"),
            FixedCode = Code("        [|Bad|]();\n"),
            CodeFixTestBehaviors = CodeFixTestBehaviors.FixOne,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task WrongFixedTextFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            Verify.VerifyCodeFixAsync(Code("        [|Bad|]();\n"), Code("        Fine();\n")));
        Assert.Contains("differs from the expected one", failure.Message);
        Assert.Contains("expected: \"        Fine();\"", failure.Message);
        Assert.Contains("actual:   \"        Good();\"", failure.Message);
    }

    [Fact]
    public async Task LineEndingsAreNormalised()
    {
        await Verify.VerifyCodeFixAsync(
            Code("        [|Bad|]();\n").Replace("\n", "\r\n"),
            Code("        Good();\n"));
    }

    [Fact]
    public async Task MixedLineEndingsFail()
    {
        // The comparison ignores line endings, so this check is what catches a fix that writes
        // CRLF into an LF file (or LF into a CRLF one).
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            CSharpCodeFixVerifier<BadCallAnalyzer, CrlfFix>.VerifyCodeFixAsync(Code("        [|Bad|]();\n"), Code("        Good\n();\n")));
        Assert.Contains("mixes line endings", failure.Message);
    }

    [Fact]
    public async Task RemainingDiagnosticsMustBeListedInTheFixedState()
    {
        // With FixOne the second call stays: unlisted, it fails; marked in FixedCode, it passes.
        var unlisted = new Verify.Test
        {
            TestCode = Code("        [|Bad|]();\n        [|Bad|]();\n"),
            FixedCode = Code("        Good();\n        Bad();\n"),
            CodeFixTestBehaviors = CodeFixTestBehaviors.FixOne,
        };
        var failure = await Assert.ThrowsAsync<VerificationException>(() => unlisted.RunAsync());
        Assert.Contains("diagnostics of the fixed code", failure.Message);

        var listed = new Verify.Test
        {
            TestCode = Code("        [|Bad|]();\n        [|Bad|]();\n"),
            FixedCode = Code("        Good();\n        [|Bad|]();\n"),
            CodeFixTestBehaviors = CodeFixTestBehaviors.FixOne,
        };
        await listed.RunAsync();
    }

    [Fact]
    public async Task FixThatBreaksCompilationFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            CSharpCodeFixVerifier<BadCallAnalyzer, BreakingFix>.VerifyCodeFixAsync(Code("        [|Bad|]();\n"), Code("        Missing();\n")));
        Assert.Contains("does not compile", failure.Message);
        Assert.Contains("CS0103", failure.Message);
    }

    [Fact]
    public async Task FixThatChangesNothingFails()
    {
        var failure = await Assert.ThrowsAsync<VerificationException>(() =>
            CSharpCodeFixVerifier<BadCallAnalyzer, NoOpFix>.VerifyCodeFixAsync(Code("        [|Bad|]();\n"), Code("        Bad();\n")));
        Assert.Contains("changed nothing", failure.Message);
    }

    [Fact]
    public async Task FixAllAcrossDocumentsInEveryScope()
    {
        var test = new Verify.Test();
        test.TestState.Sources.Add(Code("        [|Bad|]();\n        [|Worse|]();\n"));
        test.TestState.Sources.Add("class D { void Bad() { } void Good() { } void M() { [|Bad|](); } }\n");
        test.FixedState.Sources.Add(Code("        Good();\n        Good();\n"));
        test.FixedState.Sources.Add("class D { void Bad() { } void Good() { } void M() { Good(); } }\n");
        await test.RunAsync();
    }

    [Fact]
    public async Task BrokenFixAllIsCaught()
    {
        var test = new CSharpCodeFixVerifier<BadCallAnalyzer, BrokenFixAllFix>.Test();
        test.TestState.Sources.Add(Code("        [|Bad|]();\n"));
        test.FixedState.Sources.Add(Code("        Good();\n"));
        var failure = await Assert.ThrowsAsync<VerificationException>(() => test.RunAsync());
        Assert.Contains("Fix All in Document", failure.Message);
    }

    [Fact]
    public async Task BrokenFixAllPassesOnlyWhenSkipped()
    {
        var test = new CSharpCodeFixVerifier<BadCallAnalyzer, BrokenFixAllFix>.Test
        {
            TestCode = Code("        [|Bad|]();\n"),
            FixedCode = Code("        Good();\n"),
            CodeFixTestBehaviors = CodeFixTestBehaviors.SkipFixAllCheck,
        };
        await test.RunAsync();
    }

    [Fact]
    public async Task BatchFixedStateWhenFixAllDiffers()
    {
        // The broken Fix All renames to Oops: a test can state that through BatchFixedCode.
        var proper = new CSharpCodeFixVerifier<BadCallAnalyzer, BrokenFixAllFix>.Test
        {
            TestCode = "class C { void Bad() { } void Good() { } void Oops() { } void M() { [|Bad|](); } }\n",
            FixedCode = "class C { void Bad() { } void Good() { } void Oops() { } void M() { Good(); } }\n",
            BatchFixedCode = "class C { void Bad() { } void Good() { } void Oops() { } void M() { Oops(); } }\n",
        };
        await proper.RunAsync();
    }
}
