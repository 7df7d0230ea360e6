using System;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Tests.Harness;

// Tiny analyzers and fixes that exist only to test the harness. They match by name on
// purpose (the real rules match by symbol): the harness, not the rule, is under test.
// They are constructed by the tests, never loaded by a compiler, so the rules about shipping
// analyzers (extended analyzer rules, release tracking) do not apply to them.
#pragma warning disable RS1036, RS1038, RS1041, RS2008

/// <summary>TST001 on every call to a method named Bad or Worse; an .editorconfig key
/// <c>tst_enabled = false</c> turns it off for a file.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class BadCallAnalyzer : DiagnosticAnalyzer
{
    public static readonly DiagnosticDescriptor Rule = new(
        "TST001", "Bad call", "Call to '{0}' is bad", "Test", DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterSyntaxNodeAction(Analyze, SyntaxKind.InvocationExpression);
    }

    private static void Analyze(SyntaxNodeAnalysisContext context)
    {
        var options = context.Options.AnalyzerConfigOptionsProvider.GetOptions(context.Node.SyntaxTree);
        if (options.TryGetValue("tst_enabled", out var enabled) && enabled == "false")
        {
            return;
        }

        var invocation = (InvocationExpressionSyntax)context.Node;
        if (invocation.Expression is IdentifierNameSyntax { Identifier.ValueText: "Bad" or "Worse" } name)
        {
            context.ReportDiagnostic(Diagnostic.Create(Rule, name.GetLocation(), name.Identifier.ValueText));
        }
    }
}

/// <summary>Like <see cref="BadCallAnalyzer"/> but forgets to skip generated code.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AnalyzesGeneratedCodeAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(BadCallAnalyzer.Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.Analyze | GeneratedCodeAnalysisFlags.ReportDiagnostics);
        context.RegisterSyntaxNodeAction(
            c =>
            {
                if (c.Node is InvocationExpressionSyntax { Expression: IdentifierNameSyntax { Identifier.ValueText: "Bad" } name })
                {
                    c.ReportDiagnostic(Diagnostic.Create(BadCallAnalyzer.Rule, name.GetLocation(), "Bad"));
                }
            },
            SyntaxKind.InvocationExpression);
    }
}

/// <summary>Like <see cref="BadCallAnalyzer"/>, and also reports at the very start of a file
/// that begins with a directive: position 0 is before any <c>#pragma</c> takes effect, so
/// the diagnostic survives the suppression pass (which must then fail).</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PragmaDefyingAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(BadCallAnalyzer.Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterSyntaxNodeAction(
            c =>
            {
                if (c.Node is InvocationExpressionSyntax { Expression: IdentifierNameSyntax { Identifier.ValueText: "Bad" } name })
                {
                    c.ReportDiagnostic(Diagnostic.Create(BadCallAnalyzer.Rule, name.GetLocation(), "Bad"));
                }
            },
            SyntaxKind.InvocationExpression);
        context.RegisterSyntaxTreeAction(c =>
        {
            var text = c.Tree.GetText(c.CancellationToken);
            if (text.Length > 7 && text.ToString(new TextSpan(0, 7)) == "#pragma")
            {
                c.ReportDiagnostic(Diagnostic.Create(BadCallAnalyzer.Rule, Location.Create(c.Tree, new TextSpan(0, 7)), "#pragma"));
            }
        });
    }
}

/// <summary>Reports two ids: <c>[|..|]</c> and <c>Diagnostic()</c> are ambiguous for it.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class TwoIdAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(BadCallAnalyzer.Rule, AdditionalFileAnalyzer.Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
    }
}

/// <summary>Throws on every invocation, like a rule that forgot a null check.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ThrowingAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(BadCallAnalyzer.Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterSyntaxNodeAction(_ => throw new InvalidOperationException("boom from ThrowingAnalyzer"), SyntaxKind.InvocationExpression);
    }
}

/// <summary>TST002 on every line of an additional file named *.bad.txt that says "bad".</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AdditionalFileAnalyzer : DiagnosticAnalyzer
{
    public static readonly DiagnosticDescriptor Rule = new(
        "TST002", "Bad line", "Line '{0}' is bad", "Test", DiagnosticSeverity.Warning, isEnabledByDefault: true, customTags: WellKnownDiagnosticTags.CompilationEnd);

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationAction(c =>
        {
            foreach (var file in c.Options.AdditionalFiles.Where(f => f.Path.EndsWith(".bad.txt", StringComparison.Ordinal)))
            {
                var text = file.GetText(c.CancellationToken);
                if (text is null)
                {
                    continue;
                }

                foreach (var line in text.Lines)
                {
                    var content = line.ToString();
                    if (content.Trim() == "bad")
                    {
                        var span = TextSpan.FromBounds(line.Start + content.IndexOf('b', StringComparison.Ordinal), line.End);
                        c.ReportDiagnostic(Diagnostic.Create(Rule, Location.Create(file.Path, span, text.Lines.GetLinePositionSpan(span)), content.Trim()));
                    }
                }
            }
        });
    }
}

/// <summary>Renames Bad to Good (key "ToGood") or to Fine (key "ToFine"); Worse becomes Bad
/// first, so fixing Worse takes two iterations.</summary>
public sealed class RenameBadCallFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create("TST001");

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root?.FindNode(context.Span) is not IdentifierNameSyntax name)
        {
            return;
        }

        var target = name.Identifier.ValueText == "Worse" ? "Bad" : "Good";
        context.RegisterCodeFix(CodeAction.Create("Use " + target, ct => Rename(context.Document, root, name, target), "ToGood"), context.Diagnostics);
        context.RegisterCodeFix(CodeAction.Create("Use Fine", ct => Rename(context.Document, root, name, "Fine"), "ToFine"), context.Diagnostics);
    }

    internal static Task<Document> Rename(Document document, SyntaxNode root, IdentifierNameSyntax name, string target) =>
        Task.FromResult(document.WithSyntaxRoot(root.ReplaceNode(name, SyntaxFactory.IdentifierName(target).WithTriviaFrom(name))));
}

/// <summary>A fix whose result does not compile (renames to an unknown method).</summary>
public sealed class BreakingFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create("TST001");

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root?.FindNode(context.Span) is IdentifierNameSyntax name)
        {
            context.RegisterCodeFix(CodeAction.Create("Break", _ => RenameBadCallFix.Rename(context.Document, root, name, "Missing"), "Break"), context.Diagnostics);
        }
    }
}

/// <summary>Renames Bad to Good and breaks the line after it with CRLF, whatever the document
/// uses (SyntaxFactory's default end of line, the mistake the harness must catch).</summary>
public sealed class CrlfFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create("TST001");

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root?.FindNode(context.Span) is IdentifierNameSyntax name)
        {
            var good = SyntaxFactory.IdentifierName("Good").WithLeadingTrivia(name.GetLeadingTrivia()).WithTrailingTrivia(SyntaxFactory.CarriageReturnLineFeed);
            context.RegisterCodeFix(CodeAction.Create("Good", _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(name, good))), "Good"), context.Diagnostics);
        }
    }
}

/// <summary>Fixes one at a time correctly, but its Fix All only handles the first document,
/// the kind of batch bug the Fix All pass exists to catch.</summary>
public sealed class BrokenFixAllFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create("TST001");

    public override FixAllProvider GetFixAllProvider() => new FirstDocumentOnlyFixAll();

    public override Task RegisterCodeFixesAsync(CodeFixContext context) => new RenameBadCallFix().RegisterCodeFixesAsync(context);

    private sealed class FirstDocumentOnlyFixAll : FixAllProvider
    {
        public override async Task<CodeAction?> GetFixAsync(FixAllContext fixAllContext)
        {
            var document = fixAllContext.Document!;
            var root = await document.GetSyntaxRootAsync(fixAllContext.CancellationToken).ConfigureAwait(false);
            var names = root!.DescendantNodes().OfType<IdentifierNameSyntax>().Where(n => n.Identifier.ValueText is "Bad" or "Worse").ToList();
            if (names.Count == 0)
            {
                return null;
            }

            // Renames everything in the triggering document to "Oops": wrong on purpose.
            var fixedRoot = root.ReplaceNodes(names, (n, _) => SyntaxFactory.IdentifierName("Oops").WithTriviaFrom(n));
            return CodeAction.Create("Broken fix all", _ => Task.FromResult(document.WithSyntaxRoot(fixedRoot)), fixAllContext.CodeActionEquivalenceKey);
        }
    }
}

/// <summary>Offers an action that changes nothing: the harness must reject it.</summary>
public sealed class NoOpFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create("TST001");

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        context.RegisterCodeFix(CodeAction.Create("Nothing", _ => Task.FromResult(context.Document), "Nothing"), context.Diagnostics);
        return Task.CompletedTask;
    }
}
