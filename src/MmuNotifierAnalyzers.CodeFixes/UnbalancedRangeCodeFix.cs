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
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Text;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU002 fixes for a start left open on some path: (1) call the matching _end, with the
/// start's arguments, right before the <c>return</c>/<c>throw</c> (or at the end of the method)
/// that leaves it open; (2) wrap everything after the start in <c>try { } finally { end }</c>,
/// removing the _end calls that the finally now makes. Fix (1) is not offered for a labelled
/// return (other paths reach it with the range already ended: the fix belongs at the goto),
/// fix (2) not when a goto jumps into the region or an _end would remain outside it. Fix (1) is
/// not offered either when an _end of the same range under a condition comes before the exit (a
/// correlated condition the analysis does not follow: the end would run twice). Registration only
/// checks the tree's shape; the rewrite is computed when the action is applied.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(UnbalancedRangeCodeFix))]
[Shared]
public sealed class UnbalancedRangeCodeFix : GuardedCodeFixProvider
{
    public const string AddEndKey = "MMU002.AddEnd";
    public const string TryFinallyKey = "MMU002.TryFinally";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.UnbalancedRange);

    // AddEnd and TryFinally are two repairs of one finding: Fix All applies the one asked for.
    public override FixAllProvider GetFixAllProvider() => MergedFixAll(keysAreAlternatives: true);

    protected override async Task RegisterAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        // Only checks of the tree here (and, for try/finally, which calls end the range); the rewrite is the action's.
        SemanticModel? model = null;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(FixContract.UnbalancedRange.Finding, out var finding) || finding != FixContract.UnbalancedRange.Leak
                || !root.FullSpan.Contains(diagnostic.Location.SourceSpan)
                || root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true) is not { } node
                || node.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { Parent: ExpressionStatementSyntax } start)
            {
                continue;
            }

            var exit = diagnostic.AdditionalLocations.Count > FixContract.UnbalancedRange.ExitLocation && root.FullSpan.Contains(diagnostic.AdditionalLocations[FixContract.UnbalancedRange.ExitLocation].SourceSpan)
                ? root.FindNode(diagnostic.AdditionalLocations[FixContract.UnbalancedRange.ExitLocation].SourceSpan, getInnermostNodeForTie: true)
                : null;
            var exitKind = diagnostic.Properties.TryGetValue(FixContract.UnbalancedRange.ExitKind, out var k) ? k : null;
            var document = context.Document;
            var startSpan = start.Span;
            var exitSpan = exit?.Span;
            if (AddEndFits(start, exit, exitKind))
            {
                context.RegisterCodeFix(
                    Fix("Call the matching _end on the path that leaves the range open", document, ct => RewriteAsync(document, startSpan, exitSpan, exitKind, tryFinally: false, ct), AddEndKey),
                    diagnostic);
            }

            // The try/finally's refusals need the closer's symbol: bind only when the shape can fit.
            model ??= start.Parent.Parent is BlockSyntax block && block.Statements.Last() != start.Parent
                ? await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false)
                : null;
            if (model is not null
                && model.GetSymbolInfo(start, context.CancellationToken).Symbol is IMethodSymbol opener
                && UnbalancedRangeFixHelpers.Closer(opener) is { } closer
                && TryFinallyRegion(model, start, closer, context.CancellationToken) is not null)
            {
                context.RegisterCodeFix(
                    Fix("Wrap the range in try { } finally { _end }", document, ct => RewriteAsync(document, startSpan, exitSpan, exitKind, tryFinally: true, ct), TryFinallyKey),
                    diagnostic);
            }
        }
    }

    /// <summary>The rewrite of one finding on <paramref name="document"/>, found again by span; null when the tree no longer fits.</summary>
    private static async Task<Document?> RewriteAsync(Document document, TextSpan startSpan, TextSpan? exitSpan, string? exitKind, bool tryFinally, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || model is null
            || root.FindNode(startSpan, getInnermostNodeForTie: true).AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } start
            || model.GetSymbolInfo(start, cancellationToken).Symbol is not IMethodSymbol opener
            || UnbalancedRangeFixHelpers.Closer(opener) is not { } closer
            || UnbalancedRangeFixHelpers.EndStatement(start, closer) is not { } end)
        {
            return null;
        }

        var exit = exitSpan is { } span ? root.FindNode(span, getInnermostNodeForTie: true) : null;
        var rewritten = tryFinally
            ? TryFinally(root, model, start, end, closer, cancellationToken)
            : AddEndFits(start, exit, exitKind) ? AddEnd(root, start, end, exit) : null;
        return rewritten is null ? null : document.WithSyntaxRoot(rewritten);
    }

    /// <summary>
    /// Whether the tree has the shape <see cref="AddEnd"/> rewrites (syntax only, cheap enough for
    /// registration): a return or throw that is not labelled, or the end of a method that does not
    /// end in one; and no call with the start's very arguments under a condition the start is not
    /// under comes before the exit. Such a call is the range's own _end guarded by a condition the
    /// flow does not correlate with the start's (mprotect's <c>if (mni_start)</c>): the path the
    /// analysis reports is the one where it is false, and an unconditional end there would end the
    /// range twice on the other path.
    /// </summary>
    private static bool AddEndFits(InvocationExpressionSyntax start, SyntaxNode? exit, string? exitKind)
    {
        if (UnbalancedRangeFixHelpers.FunctionBody(start) is not { } body)
        {
            return false;
        }

        if (exit?.AncestorsAndSelf().FirstOrDefault(n => n is ReturnStatementSyntax or ThrowStatementSyntax) is StatementSyntax statement)
        {
            if (statement.Parent is LabeledStatementSyntax)
            {
                return false;
            }
        }
        else if (exitKind != nameof(Core.Flow.Engine.ExitKind.EndOfMethod) || body.Statements.LastOrDefault() is ReturnStatementSyntax or ThrowStatementSyntax)
        {
            return false;
        }

        var limit = exit?.SpanStart ?? body.Span.End;
        return !body.DescendantNodes().OfType<InvocationExpressionSyntax>().Any(invocation =>
            invocation.SpanStart > start.Span.End
            && invocation.SpanStart < limit
            && UnbalancedRangeFixHelpers.InSameFunction(invocation, body)
            && UnbalancedRangeFixHelpers.SameArguments(invocation, start)
            && invocation.Ancestors().TakeWhile(a => a != body).Any(a =>
                a is IfStatementSyntax or SwitchSectionSyntax or ConditionalExpressionSyntax && !a.Span.Contains(start.Span)));
    }

    /// <summary>The end inserted before the exit, or at the end of the method; the shape is <see cref="AddEndFits"/>'s.</summary>
    private static SyntaxNode? AddEnd(SyntaxNode root, InvocationExpressionSyntax start, ExpressionStatementSyntax end, SyntaxNode? exit)
    {
        if (exit?.AncestorsAndSelf().FirstOrDefault(n => n is ReturnStatementSyntax or ThrowStatementSyntax) is StatementSyntax statement)
        {
            if (statement.Parent is BlockSyntax)
            {
                return UnbalancedRangeFixHelpers.InsertBefore(root, statement, end);
            }

            // An embedded statement (if (fail) return -1;): make it a block.
            var block = SyntaxFactory.Block(end, statement.WithoutLeadingTrivia()).WithLeadingTrivia(statement.GetLeadingTrivia()).WithAdditionalAnnotations(Formatter.Annotation);
            return root.ReplaceNode(statement, block);
        }

        return UnbalancedRangeFixHelpers.FunctionBody(start) is { } body ? root.ReplaceNode(body, body.AddStatements(end)) : null;
    }

    /// <summary>
    /// What <see cref="TryFinally"/> wraps: the statements after the start in its block, and the ends of
    /// the range among them; null when the shape does not fit. Every end of the range in the function
    /// must be a statement of a block in that region (the finally replaces them), and no goto from
    /// outside the region may target a label in it (it would jump into the try).
    /// </summary>
    private static (BlockSyntax Block, int Index, List<StatementSyntax> Region, List<StatementSyntax> Ends)? TryFinallyRegion(
        SemanticModel model, InvocationExpressionSyntax start, IMethodSymbol closer, CancellationToken cancellationToken)
    {
        if (start.Parent is not ExpressionStatementSyntax startStatement
            || startStatement.Parent is not BlockSyntax block
            || UnbalancedRangeFixHelpers.FunctionBody(start) is not { } body)
        {
            return null;
        }

        var index = block.Statements.IndexOf(startStatement);
        var region = block.Statements.Skip(index + 1).ToList();
        if (region.Count == 0)
        {
            return null;
        }

        var ends = new List<StatementSyntax>();
        foreach (var invocation in body.DescendantNodes().OfType<InvocationExpressionSyntax>())
        {
            if (!UnbalancedRangeFixHelpers.InSameFunction(invocation, body)
                || !SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(invocation, cancellationToken).Symbol?.OriginalDefinition, closer.OriginalDefinition)
                || invocation.SpanStart < start.SpanStart)
            {
                continue;
            }

            if (invocation.Parent is not ExpressionStatementSyntax { Parent: BlockSyntax } statement
                || !region.Any(r => r.Span.Contains(statement.Span))
                || !UnbalancedRangeFixHelpers.SameArguments(invocation, start))
            {
                return null;
            }

            ends.Add(statement);
        }

        var labels = region.SelectMany(r => r.DescendantNodesAndSelf().OfType<LabeledStatementSyntax>()).Select(l => l.Identifier.ValueText).ToImmutableHashSet();
        if (!labels.IsEmpty && body.DescendantNodes().OfType<GotoStatementSyntax>().Any(g =>
            g.Expression is IdentifierNameSyntax target && labels.Contains(target.Identifier.ValueText) && !region.Any(r => r.Span.Contains(g.Span))))
        {
            return null;
        }

        return (block, index, region, ends);
    }

    private static SyntaxNode? TryFinally(SyntaxNode root, SemanticModel model, InvocationExpressionSyntax start, ExpressionStatementSyntax end, IMethodSymbol closer, CancellationToken cancellationToken)
    {
        if (TryFinallyRegion(model, start, closer, cancellationToken) is not var (block, index, region, ends))
        {
            return null;
        }

        var tracked = block.TrackNodes(region.Concat(ends));
        var trimmed = tracked;
        foreach (var e in ends)
        {
            // Keep a comment the removed end carried; drop its blank line otherwise.
            var options = UnbalancedRangeFixHelpers.HasComment(e) ? SyntaxRemoveOptions.KeepExteriorTrivia : SyntaxRemoveOptions.KeepNoTrivia;
            trimmed = trimmed.RemoveNode(trimmed.GetCurrentNode(e)!, options)!;
        }

        var inner = region.Select(r => trimmed.GetCurrentNode(r)).Where(r => r is not null).Select(r => r!).ToList();
        var tryStatement = SyntaxFactory.TryStatement(
            SyntaxFactory.Block(inner),
            default,
            SyntaxFactory.FinallyClause(SyntaxFactory.Block(end)))
            .WithAdditionalAnnotations(Formatter.Annotation);
        var kept = trimmed.Statements.Take(index + 1).ToList();
        kept.Add(tryStatement);
        var newBlock = trimmed.WithStatements(SyntaxFactory.List(kept));
        return root.ReplaceNode(block, newBlock);
    }
}
