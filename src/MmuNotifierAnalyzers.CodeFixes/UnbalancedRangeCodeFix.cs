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
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU002 fixes for a start left open on some path: (1) call the matching _end, with the
/// start's arguments, right before the <c>return</c>/<c>throw</c> (or at the end of the method)
/// that leaves it open; (2) wrap everything after the start in <c>try { } finally { end }</c>,
/// removing the _end calls that the finally now makes. Fix (1) is not offered for a labelled
/// return (other paths reach it with the range already ended: the fix belongs at the goto),
/// fix (2) not when a goto jumps into the region or an _end would remain outside it.
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
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(UnbalancedRangeAnalyzer.FindingProperty, out var finding) || finding != "Leak")
            {
                continue;
            }

            if (root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true) is not { } node
                || node.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } start
                || model.GetSymbolInfo(start, context.CancellationToken).Symbol is not IMethodSymbol opener
                || UnbalancedRangeFixHelpers.Closer(opener) is not { } closer
                || UnbalancedRangeFixHelpers.EndStatement(start, closer) is not { } end)
            {
                continue;
            }

            var exit = diagnostic.AdditionalLocations.Count > 0
                ? root.FindNode(diagnostic.AdditionalLocations[0].SourceSpan, getInnermostNodeForTie: true)
                : null;
            var exitKind = diagnostic.Properties.TryGetValue(UnbalancedRangeAnalyzer.ExitKindProperty, out var k) ? k : null;
            if (AddEnd(root, start, end, exit, exitKind) is { } added)
            {
                context.RegisterCodeFix(
                    Fix("Call " + closer.Name + " on the path that leaves the range open", context.Document, _ => Task.FromResult<Document?>(context.Document.WithSyntaxRoot(added)), AddEndKey),
                    diagnostic);
            }

            if (TryFinally(root, model, start, end, closer, context.CancellationToken) is { } wrapped)
            {
                context.RegisterCodeFix(
                    Fix("Wrap the range in try { } finally { " + closer.Name + " }", context.Document, _ => Task.FromResult<Document?>(context.Document.WithSyntaxRoot(wrapped)), TryFinallyKey),
                    diagnostic);
            }
        }
    }

    private static SyntaxNode? AddEnd(SyntaxNode root, InvocationExpressionSyntax start, ExpressionStatementSyntax end, SyntaxNode? exit, string? exitKind)
    {
        if (exit?.AncestorsAndSelf().FirstOrDefault(n => n is ReturnStatementSyntax or ThrowStatementSyntax) is StatementSyntax statement)
        {
            switch (statement.Parent)
            {
                case LabeledStatementSyntax:
                    return null;
                case BlockSyntax:
                    return UnbalancedRangeFixHelpers.InsertBefore(root, statement, end);
                default:
                    // An embedded statement (if (fail) return -1;): make it a block.
                    var block = SyntaxFactory.Block(end, statement.WithoutLeadingTrivia()).WithLeadingTrivia(statement.GetLeadingTrivia()).WithAdditionalAnnotations(Formatter.Annotation);
                    return root.ReplaceNode(statement, block);
            }
        }

        if (exitKind != "EndOfMethod" || UnbalancedRangeFixHelpers.FunctionBody(start) is not { } body)
        {
            return null;
        }

        if (body.Statements.LastOrDefault() is ReturnStatementSyntax or ThrowStatementSyntax)
        {
            return null;
        }

        return root.ReplaceNode(body, body.AddStatements(end));
    }

    private static SyntaxNode? TryFinally(SyntaxNode root, SemanticModel model, InvocationExpressionSyntax start, ExpressionStatementSyntax end, IMethodSymbol closer, CancellationToken cancellationToken)
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

        // Every end of this range in the function must be a statement in the region: the finally replaces them.
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

        // A goto from outside the region into it would not compile once the region is a try block.
        var labels = region.SelectMany(r => r.DescendantNodesAndSelf().OfType<LabeledStatementSyntax>()).Select(l => l.Identifier.ValueText).ToImmutableHashSet();
        if (!labels.IsEmpty && body.DescendantNodes().OfType<GotoStatementSyntax>().Any(g =>
            g.Expression is IdentifierNameSyntax target && labels.Contains(target.Identifier.ValueText) && !region.Any(r => r.Span.Contains(g.Span))))
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
