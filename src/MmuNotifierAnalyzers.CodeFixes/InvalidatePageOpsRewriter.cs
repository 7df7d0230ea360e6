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

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// The ops-table half of the MMU001 fix. An initializer that already sets
/// <c>invalidate_range_start</c> and <c>_end</c> loses its <c>invalidate_page</c> member (KVM's
/// conversion in seed 001: start/end already covered every page); otherwise the member becomes
/// an <c>invalidate_range</c> callback that runs the old callback for each page of [start, end).
/// </summary>
internal static class InvalidatePageOpsRewriter
{
    public static bool CanFix(AssignmentExpressionSyntax assignment) =>
        assignment.Parent is InitializerExpressionSyntax initializer
        && (SetsStartAndEnd(initializer) || !Sets(initializer, "invalidate_range"));

    public static string Title(AssignmentExpressionSyntax assignment) =>
        assignment.Parent is InitializerExpressionSyntax initializer && SetsStartAndEnd(initializer)
            ? "Remove invalidate_page (invalidate_range_start/_end already cover the page)"
            : "Convert invalidate_page to an invalidate_range callback";

    public static async Task<Document> FixAsync(Document document, AssignmentExpressionSyntax assignment, CancellationToken cancellationToken)
    {
        if (assignment.Parent is not InitializerExpressionSyntax initializer)
        {
            return document;
        }

        var editor = await DocumentEditor.CreateAsync(document, cancellationToken).ConfigureAwait(false);
        if (SetsStartAndEnd(initializer))
        {
            editor.RemoveNode(assignment, SyntaxRemoveOptions.KeepUnbalancedDirectives);
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

        var mn = Fresh("mn", taken);
        var mm = Fresh("mm", taken);
        var start = Fresh("start", taken);
        var end = Fresh("end", taken);
        var address = Fresh("address", taken);

        var symbol = model.GetSymbolInfo(assignment.Right, cancellationToken);
        var isMethodGroup = symbol.Symbol is IMethodSymbol || symbol.CandidateSymbols.OfType<IMethodSymbol>().Any();
        var prefix = string.Empty;
        string call;
        if (old is AnonymousFunctionExpressionSyntax)
        {
            // A lambda cannot be invoked in place: keep it in a local of its delegate type.
            var local = Fresh("invalidate_page", taken);
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

        var text = "invalidate_range = (" + mn + ", " + mm + ", " + start + ", " + end + ") =>\n{\n" + prefix
            + "for (ulong " + address + " = " + start + "; " + address + " < " + end + "; " + address + " += global::Kernel.Mm.Linux.PAGE_SIZE)\n{\n"
            + call + "\n}\n}";
        // Elastic whitespace everywhere: the formatter lays the lambda out at the member's indentation.
        var parsed = SyntaxFactory.ParseExpression(text);
        var newLine = LineEndings.Of(assignment);
        var replacement = parsed.ReplaceTrivia(
                parsed.DescendantTrivia(descendIntoTrivia: false).Where(t => t.IsKind(SyntaxKind.WhitespaceTrivia) || t.IsKind(SyntaxKind.EndOfLineTrivia)),
                (t, _) => t.IsKind(SyntaxKind.EndOfLineTrivia) ? newLine : SyntaxFactory.ElasticSpace)
            .WithTriviaFrom(assignment)
            .WithAdditionalAnnotations(Formatter.Annotation);
        replacement = replacement.ReplaceNodes(
            replacement.DescendantNodes().OfType<QualifiedNameSyntax>().Where(q => q.Parent is not QualifiedNameSyntax)
                .Concat<SyntaxNode>(replacement.DescendantNodes().OfType<MemberAccessExpressionSyntax>().Where(m => m.ToString().StartsWith("global::", System.StringComparison.Ordinal) && m.Parent is not MemberAccessExpressionSyntax)),
            (_, rewritten) => rewritten.WithAdditionalAnnotations(Simplifier.Annotation));
        editor.ReplaceNode(assignment, replacement);

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

                var before = init.OpenBraceToken.GetPreviousToken();
                var laidOut = init
                    .WithOpenBraceToken(init.OpenBraceToken.WithLeadingTrivia(newLine).WithTrailingTrivia(newLine))
                    .WithCloseBraceToken(init.CloseBraceToken.WithLeadingTrivia(newLine))
                    .WithAdditionalAnnotations(Formatter.Annotation);
                var withInit = current.ReplaceNode(init, laidOut);
                var previous = withInit.FindToken(before.SpanStart);
                return withInit.ReplaceToken(previous, previous.WithTrailingTrivia(SyntaxFactory.ElasticMarker)).WithAdditionalAnnotations(Formatter.Annotation);
            });
        }

        return editor.GetChangedDocument();
    }

    private static bool SetsStartAndEnd(InitializerExpressionSyntax initializer) =>
        Sets(initializer, "invalidate_range_start") && Sets(initializer, "invalidate_range_end");

    private static bool Sets(InitializerExpressionSyntax initializer, string member) =>
        initializer.Expressions.OfType<AssignmentExpressionSyntax>().Any(a => a.Left is IdentifierNameSyntax name && name.Identifier.ValueText == member);

    private static string Fresh(string name, HashSet<string> taken)
    {
        var candidate = name;
        for (var i = 2; taken.Contains(candidate); i++)
        {
            candidate = name + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        taken.Add(candidate);
        return candidate;
    }
}
