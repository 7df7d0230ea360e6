using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU014 fix, for a callback that may sleep where its range is not proven blockable: refuse the
/// range first, as the 4.19 conversion (93065ac753e4) did in the drivers that could not avoid
/// sleeping — <c>if (!mmu_notifier_range_blockable(range)) return -EAGAIN;</c> (<c>return false;</c>
/// in an interval notifier's <c>invalidate</c>). The guard goes right before the top-level statement
/// of the callback's body that holds its first unguarded sleeping call (the analyzer's additional
/// location): the top of the body when that is the first statement. Every finding of one callback
/// asks for the same guard, so Fix All adds it once. Not offered for <c>invalidate_range_end_range</c>
/// (it cannot refuse), for an expression-bodied callback, or when the tree no longer matches.
/// Part (a), an end after a refused start: when the start is tested in the <c>if</c> right before
/// the end (<c>if (start_nonblock(range) == 0) ... else ...; end(range);</c>, the -mm form of
/// <c>__oom_reap_task_mm</c>), the end moves to the end of the branch where the start returned 0,
/// as v5.12's code has it. Other part (a) shapes, and a page-table change after a refused start,
/// have no fix: what the refused path must skip is the caller's design.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(NonBlockableMisuseCodeFix)), Shared]
public sealed class NonBlockableMisuseCodeFix : GuardedCodeFixProvider
{
    public const string EquivalenceKey = "MMU014.RefuseNonBlockable";

    public const string EndOnSuccessKey = "MMU014.EndOnlyWhenStarted";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.NonBlockableMisuse);

    public override FixAllProvider GetFixAllProvider() => MergedFixAll(keysAreAlternatives: false);

    protected override async Task RegisterAsync(CodeFixContext context)
    {
        foreach (var diagnostic in context.Diagnostics)
        {
            if (diagnostic.Properties.TryGetValue(FixContract.NonBlockable.Finding, out var finding)
                && finding == FixContract.NonBlockable.EndAfterRefusal)
            {
                await RegisterEndOnSuccessAsync(context, diagnostic).ConfigureAwait(false);
                continue;
            }

            if (!diagnostic.Properties.TryGetValue(FixContract.NonBlockable.Refuse, out var refuse) || refuse is null
                || !diagnostic.Properties.TryGetValue(FixContract.NonBlockable.RangeParameter, out var range) || range is null
                || diagnostic.AdditionalLocations.Count == 0)
            {
                continue;
            }

            var document = context.Document;
            var anchor = diagnostic.AdditionalLocations[FixContract.NonBlockable.GuardLocation].SourceSpan;
            context.RegisterCodeFix(
                Fix("Return " + refuse + " when the range is not blockable", document, ct => GuardAsync(document, anchor, range, refuse, ct), EquivalenceKey),
                diagnostic);
        }
    }

    private static async Task<Document?> GuardAsync(Document document, TextSpan anchorSpan, string range, string refuse, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var text = await document.GetTextAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || model is null
            || root.FindNode(anchorSpan, getInnermostNodeForTie: true).AncestorsAndSelf().OfType<StatementSyntax>().FirstOrDefault(s => s.Span == anchorSpan) is not { Parent: BlockSyntax body } anchor
            || !DeclaresParameter(body.Parent, range)
            || IsGuard(body.Statements.IndexOf(anchor) is > 0 and var i ? body.Statements[i - 1] : null, range))
        {
            return null;
        }

        // Qualified only where the Linux statics are not in scope.
        var linux = model.LookupSymbols(anchor.SpanStart, name: "mmu_notifier_range_blockable").Any(s => s is IMethodSymbol) ? string.Empty : "global::Kernel.Mm.Linux.";
        var value = refuse == FixContract.NonBlockable.RefuseWithEagain ? "-" + linux + "EAGAIN" : "false";

        // Before the statement's leading comments, at its indentation, in the document's line endings.
        var first = anchor.GetLeadingTrivia().FirstOrDefault(t => !t.IsKind(SyntaxKind.WhitespaceTrivia) && !t.IsKind(SyntaxKind.EndOfLineTrivia));
        var line = text.Lines.GetLineFromPosition(first.IsKind(SyntaxKind.None) ? anchor.SpanStart : first.SpanStart);
        var lineText = line.ToString();
        var indent = lineText.Substring(0, lineText.Length - lineText.TrimStart().Length);
        var eol = LineEndings.Of(root).ToString();
        var guard = indent + "if (!" + linux + "mmu_notifier_range_blockable(" + range + "))" + eol
            + indent + "    return " + value + ";" + eol;
        return document.WithText(text.WithChanges(new TextChange(new TextSpan(line.Start, 0), guard)));
    }

    // Only the syntax is checked here (the shape, the lines); the edits are the action's.
    private static async Task RegisterEndOnSuccessAsync(CodeFixContext context, Diagnostic diagnostic)
    {
        if (diagnostic.AdditionalLocations.Count == 0)
        {
            return;
        }

        var document = context.Document;
        var endSpan = diagnostic.Location.SourceSpan;
        var startSpan = diagnostic.AdditionalLocations[FixContract.NonBlockable.StartLocation].SourceSpan;
        var root = await document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var text = await document.GetTextAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is not null && EndMove.Find(root, text, endSpan, startSpan) is not null)
        {
            context.RegisterCodeFix(
                Fix("Call the end only when the start returned 0", document, ct => EndOnSuccessAsync(document, endSpan, startSpan, ct), EndOnSuccessKey),
                diagnostic);
        }
    }

    /// <summary>
    /// Moves the end statement into the branch of the <c>if</c> right before it where the start
    /// returned 0 (a new <c>else</c> when there is none), as text edits at the branch's
    /// indentation, keeping the end's comments; null when the tree is no longer that shape.
    /// </summary>
    private static async Task<Document?> EndOnSuccessAsync(Document document, TextSpan endSpan, TextSpan startSpan, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        var text = await document.GetTextAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || EndMove.Find(root, text, endSpan, startSpan) is not { } move)
        {
            return null;
        }

        var eol = LineEndings.Of(root).ToString();
        var ifIndent = IndentOf(text, move.Test.SpanStart);
        var endIndent = IndentOf(text, move.End.SpanStart);
        var changes = new List<TextChange>();
        switch (move.Success)
        {
            case null:
                // if (start(range) != 0) { ... } with no else: the end becomes the else, where it was.
                var after = text.Lines.GetLineFromPosition(move.Test.Span.End).EndIncludingLineBreak;
                var asElse = ifIndent + "else" + eol + Reindent(text, move.EndLines, endIndent, ifIndent + Unit(text, move.Test, null), eol);
                return document.WithText(text.WithChanges(new TextChange(TextSpan.FromBounds(after, move.EndLines.End), asElse)));

            case BlockSyntax branch:
                var close = text.Lines.GetLineFromPosition(branch.CloseBraceToken.SpanStart);
                var inner = branch.Statements.Count > 0 ? IndentOf(text, branch.Statements.Last().SpanStart) : IndentOf(text, branch.CloseBraceToken.SpanStart) + "    ";
                changes.Add(new TextChange(new TextSpan(close.Start, 0), Reindent(text, move.EndLines, endIndent, inner, eol)));
                break;

            default:
                // An embedded statement on lines of its own becomes a block holding it and the end.
                var moved = Reindent(text, move.EndLines, endIndent, ifIndent + Unit(text, move.Test, move.Success), eol);
                changes.Add(new TextChange(move.BranchLines, ifIndent + "{" + eol + text.ToString(move.BranchLines) + moved + ifIndent + "}" + eol));
                break;
        }

        changes.Add(new TextChange(move.EndLines, string.Empty));
        return document.WithText(text.WithChanges(changes));
    }

    /// <summary>The shape the part (a) fix rewrites: the end, a statement of its own lines, right
    /// after an <c>if</c> that tests the start against 0; the branch where the start returned 0
    /// (null: none) either a block whose <c>}</c> begins its line or a statement on lines of its own.</summary>
    private sealed class EndMove
    {
        private EndMove(IfStatementSyntax test, ExpressionStatementSyntax end, StatementSyntax? success, TextSpan endLines, TextSpan branchLines)
        {
            Test = test;
            End = end;
            Success = success;
            EndLines = endLines;
            BranchLines = branchLines;
        }

        public IfStatementSyntax Test { get; }

        public ExpressionStatementSyntax End { get; }

        public StatementSyntax? Success { get; }

        public TextSpan EndLines { get; }

        public TextSpan BranchLines { get; }

        public static EndMove? Find(SyntaxNode root, SourceText text, TextSpan endSpan, TextSpan startSpan)
        {
            if (!root.FullSpan.Contains(endSpan) || !root.FullSpan.Contains(startSpan)
                || root.FindNode(endSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<InvocationExpressionSyntax>() is not { Parent: ExpressionStatementSyntax { Parent: BlockSyntax block } end }
                || root.FindNode(startSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<InvocationExpressionSyntax>() is not { } start
                || block.Statements.IndexOf(end) is not (> 0 and var index)
                || block.Statements[index - 1] is not IfStatementSyntax test
                || SuccessBranch(test, start) is not (true, var success)
                || !OwnLines(text, end, out var endLines))
            {
                return null;
            }

            var branchLines = default(TextSpan);
            var fits = success switch
            {
                null => true,
                BlockSyntax branch => IndentOf(text, branch.CloseBraceToken.SpanStart).Length == branch.CloseBraceToken.SpanStart - text.Lines.GetLineFromPosition(branch.CloseBraceToken.SpanStart).Start,
                _ => OwnLines(text, success, out branchLines),
            };
            return fits ? new EndMove(test, end, success, endLines, branchLines) : null;
        }
    }

    /// <summary>Whether <paramref name="test"/>'s condition is <c>start == 0</c> (the then branch
    /// runs when the range started) or <c>start != 0</c> (the else branch, null when there is none).</summary>
    private static (bool Found, StatementSyntax? Success) SuccessBranch(IfStatementSyntax test, InvocationExpressionSyntax start)
    {
        if (RangeSyntax.Unparenthesize(test.Condition) is not BinaryExpressionSyntax comparison
            || !(IsZero(comparison.Right) && RangeSyntax.Unparenthesize(comparison.Left) == start || IsZero(comparison.Left) && RangeSyntax.Unparenthesize(comparison.Right) == start))
        {
            return (false, null);
        }

        return comparison.Kind() switch
        {
            SyntaxKind.EqualsExpression => (true, test.Statement),
            SyntaxKind.NotEqualsExpression => (true, test.Else?.Statement),
            _ => (false, null),
        };
    }

    private static bool IsZero(ExpressionSyntax expression) =>
        RangeSyntax.Unparenthesize(expression) is LiteralExpressionSyntax { Token.ValueText: "0" };

    /// <summary>The whole lines of <paramref name="statement"/> with its leading comments and line
    /// break; false when it shares a line with other code.</summary>
    private static bool OwnLines(SourceText text, StatementSyntax statement, out TextSpan lines)
    {
        var first = statement.GetLeadingTrivia().FirstOrDefault(t => !t.IsKind(SyntaxKind.WhitespaceTrivia) && !t.IsKind(SyntaxKind.EndOfLineTrivia));
        var startLine = text.Lines.GetLineFromPosition(first.IsKind(SyntaxKind.None) ? statement.SpanStart : first.SpanStart);
        var endLine = text.Lines.GetLineFromPosition(statement.Span.End);
        var before = text.ToString(TextSpan.FromBounds(startLine.Start, first.IsKind(SyntaxKind.None) ? statement.SpanStart : first.SpanStart));
        var rest = statement.GetTrailingTrivia().Where(t => !t.IsKind(SyntaxKind.EndOfLineTrivia)).Sum(t => t.FullSpan.Length);
        lines = TextSpan.FromBounds(startLine.Start, endLine.EndIncludingLineBreak);
        return before.Trim().Length == 0 && statement.Span.End + rest >= endLine.End;
    }

    private static string IndentOf(SourceText text, int position)
    {
        var line = text.Lines.GetLineFromPosition(position).ToString();
        return line.Substring(0, line.Length - line.TrimStart().Length);
    }

    /// <summary>One level of indentation: the branch's under the <c>if</c>, or four spaces.</summary>
    private static string Unit(SourceText text, IfStatementSyntax test, StatementSyntax? branch)
    {
        var outer = IndentOf(text, test.SpanStart);
        var inner = branch is null ? string.Empty : IndentOf(text, branch.SpanStart);
        return inner.Length > outer.Length && inner.StartsWith(outer, System.StringComparison.Ordinal) ? inner.Substring(outer.Length) : "    ";
    }

    /// <summary>The lines of <paramref name="lines"/>, <paramref name="from"/> replaced by <paramref name="to"/> at their start.</summary>
    private static string Reindent(SourceText text, TextSpan lines, string from, string to, string eol)
    {
        var result = new System.Text.StringBuilder();
        foreach (var line in text.Lines.Where(l => l.Start >= lines.Start && l.Start < lines.End))
        {
            var content = line.ToString();
            result.Append(content.StartsWith(from, System.StringComparison.Ordinal) ? to + content.Substring(from.Length) : content).Append(eol);
        }

        return result.ToString();
    }

    private static bool DeclaresParameter(SyntaxNode? function, string name)
    {
        var parameters = function switch
        {
            BaseMethodDeclarationSyntax method => method.ParameterList.Parameters,
            LocalFunctionStatementSyntax local => local.ParameterList.Parameters,
            ParenthesizedLambdaExpressionSyntax lambda => lambda.ParameterList.Parameters,
            AnonymousMethodExpressionSyntax { ParameterList: { } list } => list.Parameters,
            SimpleLambdaExpressionSyntax simple => SyntaxFactory.SingletonSeparatedList(simple.Parameter),
            _ => default,
        };
        return parameters.Any(p => p.Identifier.ValueText == name);
    }

    // The guard this fix writes, already there (the analyzer then reports nothing; a stale diagnostic gets no second guard).
    private static bool IsGuard(StatementSyntax? statement, string range) =>
        statement is IfStatementSyntax { Condition: PrefixUnaryExpressionSyntax { Operand: InvocationExpressionSyntax call }, Statement: ReturnStatementSyntax }
        && call.ArgumentList.Arguments.Count == 1
        && call.ArgumentList.Arguments[0].Expression is IdentifierNameSyntax argument
        && argument.Identifier.ValueText == range;
}
