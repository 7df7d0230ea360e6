using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Editing;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Simplification;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// The ops-table half of the MMU001 fix, as the 4.13 driver conversions did it. A table that also
/// sets a range callback (<c>invalidate_range_start</c>, <c>_end</c> or <c>invalidate_range</c>)
/// loses its <c>invalidate_page</c> member: since 4.13 every invalidation reaches those (KVM, GRU,
/// SCIF, IB umem, amdgpu, gntdev dropped theirs; amd_iommu_v2 and intel-svm kept
/// <c>invalidate_range</c>). Otherwise the callback runs for each page of [start, end): in an
/// <c>invalidate_range</c> callback when the analysis did not prove that it may sleep, else
/// (<c>invalidate_range</c> is atomic: MMU004) in both <c>invalidate_range_start</c> and
/// <c>_end</c>: start drops the secondary mappings before the primary ones change, end drops what
/// was mapped again in between, which invalidate_page, called after the change, used to cover.
/// </summary>
internal static class InvalidatePageOpsRewriter
{
    /// <summary>What the fix does with one diagnostic's member.</summary>
    public enum Repair
    {
        None,
        Remove,
        ToInvalidateRange,
        ToStartAndEnd,
    }

    /// <summary>The repair the analysis allows, re-checked against the tree (None when they disagree).</summary>
    public static Repair Choose(AssignmentExpressionSyntax assignment, Diagnostic diagnostic)
    {
        if (assignment.Parent is not InitializerExpressionSyntax initializer
            || assignment.Left is not IdentifierNameSyntax { Identifier.ValueText: "invalidate_page" })
        {
            return Repair.None;
        }

        var setsStart = Sets(initializer, "invalidate_range_start");
        var setsEnd = Sets(initializer, "invalidate_range_end");
        if (FixContract.Proves(diagnostic, FixContract.InvalidatePage.TableHasRangeCallback))
        {
            return setsStart || setsEnd || Sets(initializer, "invalidate_range") ? Repair.Remove : Repair.None;
        }

        if (FixContract.Proves(diagnostic, FixContract.InvalidatePage.CallbackMaySleep))
        {
            return setsStart || setsEnd ? Repair.None : Repair.ToStartAndEnd;
        }

        return Sets(initializer, "invalidate_range") ? Repair.None : Repair.ToInvalidateRange;
    }

    public static string Title(Repair repair) => repair switch
    {
        Repair.Remove => "Remove invalidate_page (the table's range callbacks already cover the page)",
        Repair.ToStartAndEnd => "Run invalidate_page for each page from invalidate_range_start and _end (it may sleep)",
        _ => "Convert invalidate_page to an invalidate_range callback",
    };

    public static async Task<Document> FixAsync(Document document, AssignmentExpressionSyntax assignment, Repair repair, CancellationToken cancellationToken)
    {
        if (assignment.Parent is not InitializerExpressionSyntax initializer || repair == Repair.None)
        {
            return document;
        }

        var editor = await DocumentEditor.CreateAsync(document, cancellationToken).ConfigureAwait(false);
        if (repair == Repair.Remove)
        {
            // `{ a = f, invalidate_page = g }`: the space before the brace is the member's own trivia.
            var keepSpace = assignment.GetTrailingTrivia().All(t => t.IsKind(SyntaxKind.WhitespaceTrivia)) && assignment.GetTrailingTrivia().Count > 0;
            editor.RemoveNode(assignment, SyntaxRemoveOptions.KeepUnbalancedDirectives | (keepSpace ? SyntaxRemoveOptions.KeepTrailingTrivia : 0));
            return editor.GetChangedDocument();
        }

        var model = editor.SemanticModel;
        var old = assignment.Right.WithoutTrivia();
        var taken = new HashSet<string>(model.LookupSymbols(assignment.SpanStart)
            .Where(s => s is ILocalSymbol or IParameterSymbol or IRangeVariableSymbol)
            .Select(s => s.Name));
        foreach (var token in old.DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)))
        {
            taken.Add(token.ValueText);
        }

        var mn = LocalNames.Fresh("mn", taken);
        var mm = LocalNames.Fresh("mm", taken);
        var start = LocalNames.Fresh("start", taken);
        var end = LocalNames.Fresh("end", taken);
        var address = LocalNames.Fresh("address", taken);

        var symbol = model.GetSymbolInfo(assignment.Right, cancellationToken);
        var isMethodGroup = symbol.Symbol is IMethodSymbol || symbol.CandidateSymbols.OfType<IMethodSymbol>().Any();
        var prefix = string.Empty;
        string call;
        if (old is AnonymousFunctionExpressionSyntax)
        {
            // A lambda cannot be invoked in place: keep it in a local of its delegate type.
            var local = LocalNames.Fresh("invalidate_page", taken);
            prefix = "global::Kernel.Mm.invalidate_page_fn " + local + " = " + old.ToFullString() + ";\n";
            call = local + "(" + mn + ", " + mm + ", " + address + ");";
        }
        else if (isMethodGroup)
        {
            call = old + "(" + mn + ", " + mm + ", " + address + ");";
        }
        else
        {
            call = old + "?.Invoke(" + mn + ", " + mm + ", " + address + ");";
        }

        string Member(string name) => name + " = (" + mn + ", " + mm + ", " + start + ", " + end + ") =>\n{\n" + prefix
            + "for (ulong " + address + " = " + start + "; " + address + " < " + end + "; " + address + " += global::Kernel.Mm.Linux.PAGE_SIZE)\n{\n"
            + call + "\n}\n}";
        var newLine = LineEndings.Of(assignment);
        if (repair == Repair.ToStartAndEnd)
        {
            // Two members where there was one, the separators (a trailing comma) as they were.
            var index = initializer.Expressions.IndexOf(assignment);
            var startMember = Laid(Member("invalidate_range_start"), newLine, assignment);
            var indentation = assignment.GetLeadingTrivia().Where(t => t.IsKind(SyntaxKind.WhitespaceTrivia)).LastOrDefault();
            var endMember = Laid(Member("invalidate_range_end"), newLine, null).WithLeadingTrivia(indentation);
            editor.ReplaceNode(initializer, (current, _) =>
            {
                var init = (InitializerExpressionSyntax)current;
                var items = new List<SyntaxNodeOrToken>();
                var element = 0;
                foreach (var item in init.Expressions.GetWithSeparators())
                {
                    if (item.IsNode && element++ == index)
                    {
                        items.Add(startMember);
                        items.Add(SyntaxFactory.Token(SyntaxKind.CommaToken).WithTrailingTrivia(newLine));
                        items.Add(endMember);
                    }
                    else
                    {
                        items.Add(item);
                    }
                }

                return init.WithExpressions(SyntaxFactory.SeparatedList<ExpressionSyntax>(items));
            });
        }
        else
        {
            editor.ReplaceNode(assignment, Laid(Member("invalidate_range"), newLine, assignment));
        }

        // A one-line initializer ({ invalidate_page = f }) cannot hold the multi-line callback:
        // give its braces elastic line breaks so the formatter lays it out on lines of its own.
        var text0 = initializer.SyntaxTree.GetText(cancellationToken);
        if (initializer.Parent is ExpressionSyntax creation
            && text0.Lines.GetLineFromPosition(initializer.OpenBraceToken.SpanStart).LineNumber == text0.Lines.GetLineFromPosition(initializer.CloseBraceToken.SpanStart).LineNumber)
        {
            editor.ReplaceNode(creation, (current, _) =>
            {
                var init = current.ChildNodes().OfType<InitializerExpressionSyntax>().LastOrDefault();
                if (init is null)
                {
                    return current;
                }

                var laidOut = init
                    .WithOpenBraceToken(init.OpenBraceToken.WithLeadingTrivia(newLine).WithTrailingTrivia(newLine))
                    .WithCloseBraceToken(init.CloseBraceToken.WithLeadingTrivia(newLine))
                    .WithAdditionalAnnotations(Formatter.Annotation);
                var withInit = current.ReplaceNode(init, laidOut);

                // The token before the brace (`new()`'s `)`, the type name), found in the new node:
                // positions of the old tree do not hold in it.
                var previous = withInit.ChildNodes().OfType<InitializerExpressionSyntax>().Last().OpenBraceToken.GetPreviousToken();
                return withInit.ReplaceToken(previous, previous.WithTrailingTrivia(SyntaxFactory.ElasticMarker)).WithAdditionalAnnotations(Formatter.Annotation);
            });
        }

        return editor.GetChangedDocument();
    }

    // Elastic whitespace everywhere: the formatter lays the lambda out at the member's indentation.
    private static ExpressionSyntax Laid(string text, SyntaxTrivia newLine, SyntaxNode? triviaFrom)
    {
        var parsed = SyntaxFactory.ParseExpression(text);
        var replacement = parsed.ReplaceTrivia(
                parsed.DescendantTrivia(descendIntoTrivia: false).Where(t => t.IsKind(SyntaxKind.WhitespaceTrivia) || t.IsKind(SyntaxKind.EndOfLineTrivia)),
                (t, _) => t.IsKind(SyntaxKind.EndOfLineTrivia) ? newLine : SyntaxFactory.ElasticSpace);
        replacement = (triviaFrom is null ? replacement : replacement.WithTriviaFrom(triviaFrom)).WithAdditionalAnnotations(Formatter.Annotation);
        return replacement.ReplaceNodes(
            replacement.DescendantNodes().OfType<QualifiedNameSyntax>().Where(q => q.Parent is not QualifiedNameSyntax)
                .Concat<SyntaxNode>(replacement.DescendantNodes().OfType<MemberAccessExpressionSyntax>().Where(m => m.ToString().StartsWith("global::", System.StringComparison.Ordinal) && m.Parent is not MemberAccessExpressionSyntax)),
            (_, rewritten) => rewritten.WithAdditionalAnnotations(Simplifier.Annotation));
    }

    private static bool Sets(InitializerExpressionSyntax initializer, string member) =>
        initializer.Expressions.OfType<AssignmentExpressionSyntax>().Any(a => a.Left is IdentifierNameSyntax name && name.Identifier.ValueText == member);
}
