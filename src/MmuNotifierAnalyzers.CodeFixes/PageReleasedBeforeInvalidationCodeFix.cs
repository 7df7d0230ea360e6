using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU010: make the page's invalidation come before its release. Where the clear runs inside a
/// range open on every path (the analyzer says so), the clear becomes its notifying form, which
/// invalidates at once (34ee645e83b6 did this to try_to_unmap_cluster and the THP paths);
/// otherwise, when the release and the invalidation are statements of one block with nothing
/// between that jumps or changes the release's arguments, the release moves after the invalidation.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(PageReleasedBeforeInvalidationCodeFix)), Shared]
public sealed class PageReleasedBeforeInvalidationCodeFix : GuardedCodeFixProvider
{
    public const string NotifyingClearKey = "MMU010.NotifyingClear";
    public const string MoveReleaseKey = "MMU010.MoveRelease";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.PageReleasedBeforeInvalidation);

    // A finding gets one of the two fixes (whichever its shape allows): Fix All applies each one's.
    public override FixAllProvider GetFixAllProvider() => MergedFixAll(keysAreAlternatives: false);

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
            if (diagnostic.AdditionalLocations.Count <= FixContract.PageReleased.ClearLocation)
            {
                continue;
            }

            var release = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<InvocationExpressionSyntax>();
            var invalidation = root.FindNode(diagnostic.AdditionalLocations[FixContract.PageReleased.InvalidationLocation].SourceSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<InvocationExpressionSyntax>();
            var clear = root.FindNode(diagnostic.AdditionalLocations[FixContract.PageReleased.ClearLocation].SourceSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<InvocationExpressionSyntax>();
            if (release is null || invalidation is null || clear is null)
            {
                continue;
            }

            var document = context.Document;
            if (diagnostic.Properties.TryGetValue(FixContract.PageReleased.NotifyingClear, out var notifying)
                && notifying is not null && Rename(clear, notifying) is { } renamed)
            {
                context.RegisterCodeFix(
                    Fix(
                        "Clear with '" + notifying + "' (invalidates before the release)",
                        document,
                        _ => Task.FromResult<Document?>(document.WithSyntaxRoot(root.ReplaceNode(clear, renamed))),
                        NotifyingClearKey),
                    diagnostic);
                continue;
            }

            if (diagnostic.Properties.TryGetValue(FixContract.PageReleased.BracketThenNotifyingClear, out var afterBracket)
                && afterBracket is not null && invalidation.Parent is ExpressionStatementSyntax invalidationStatement
                && Rename(clear, afterBracket) is not null
                && InvalidatePageCallRewriter.PlanBracketNotification(model, document, invalidationStatement, invalidation, onePage: false, hugePage: false, mmOfVma: false, provenAcquisition: null, context.CancellationToken) is not null)
            {
                // The bracket's checks ran here on this document; the action writes it on a copy
                // that marks the clear (an annotation changes nothing the checks read), to find it after.
                context.RegisterCodeFix(
                    Fix(
                        "Bracket with start/end and clear with '" + afterBracket + "'",
                        document,
                        ct => BracketThenNotifyAsync(document, invalidationStatement, clear, afterBracket, ct),
                        NotifyingClearKey),
                    diagnostic);
                continue;
            }

            if (MovePlan(model, release, invalidation, context.CancellationToken) is { } plan)
            {
                context.RegisterCodeFix(
                    Fix(
                        "Release the page after the invalidation",
                        document,
                        _ => Task.FromResult<Document?>(document.WithSyntaxRoot(Move(root, plan.Release, plan.Invalidation))),
                        MoveReleaseKey),
                    diagnostic);
            }
        }
    }

    /// <summary>MMU006's bracket around the invalidation (which takes the clear into the range),
    /// then the clear's notifying form; null when the bracket cannot be written.</summary>
    private static async Task<Document?> BracketThenNotifyAsync(Document document, ExpressionStatementSyntax invalidation, InvocationExpressionSyntax clear, string notifying, CancellationToken cancellationToken)
    {
        var marker = new SyntaxAnnotation();
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return null;
        }

        var marked = document.WithSyntaxRoot(root.ReplaceNode(clear, clear.WithAdditionalAnnotations(marker)));
        var markedRoot = await marked.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (markedRoot?.FindNode(invalidation.Span) is not { } node || node.FirstAncestorOrSelf<ExpressionStatementSyntax>() is not { } statement
            || statement.Expression is not InvocationExpressionSyntax call
            || await InvalidatePageCallRewriter.BracketNotificationAsync(marked, statement, call, onePage: false, hugePage: false, mmOfVma: false, provenAcquisition: null, cancellationToken).ConfigureAwait(false) is not { } bracketed
            || await bracketed.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false) is not { } bracketedRoot
            || bracketedRoot.GetAnnotatedNodes(marker).OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } movedClear
            || Rename(movedClear, notifying) is not { } renamed)
        {
            return null;
        }

        return bracketed.WithSyntaxRoot(bracketedRoot.ReplaceNode(movedClear, renamed));
    }

    /// <summary>The clearing call with the notifying method's name, or null when the call is not a plain name.</summary>
    private static InvocationExpressionSyntax? Rename(InvocationExpressionSyntax clear, string notifying) => clear.Expression switch
    {
        IdentifierNameSyntax name => clear.WithExpression(name.WithIdentifier(SyntaxFactory.Identifier(notifying).WithTriviaFrom(name.Identifier))),
        MemberAccessExpressionSyntax member => clear.WithExpression(member.WithName(SyntaxFactory.IdentifierName(notifying).WithTriviaFrom(member.Name))),
        _ => null,
    };

    /// <summary>Both statements of one block, the release first, with nothing between that jumps, is a
    /// label, or writes what the release reads.</summary>
    private static (ExpressionStatementSyntax Release, ExpressionStatementSyntax Invalidation)? MovePlan(
        SemanticModel model, InvocationExpressionSyntax release, InvocationExpressionSyntax invalidation, CancellationToken cancellationToken)
    {
        if (release.Parent is not ExpressionStatementSyntax releaseStatement || invalidation.Parent is not ExpressionStatementSyntax invalidationStatement
            || releaseStatement.Parent is not BlockSyntax block || invalidationStatement.Parent != block)
        {
            return null;
        }

        var from = block.Statements.IndexOf(releaseStatement);
        var to = block.Statements.IndexOf(invalidationStatement);
        if (from < 0 || to <= from)
        {
            return null;
        }

        var between = block.Statements.Skip(from + 1).Take(to - from - 1).ToList();
        if (between.Any(s => s.DescendantNodesAndSelf().Any(n => n is ReturnStatementSyntax or GotoStatementSyntax or BreakStatementSyntax
            or ContinueStatementSyntax or ThrowStatementSyntax or LabeledStatementSyntax or YieldStatementSyntax)))
        {
            return null;
        }

        if (between.Count > 0)
        {
            var flow = model.AnalyzeDataFlow(between[0], between[between.Count - 1]);
            if (flow is null || !flow.Succeeded)
            {
                return null;
            }

            var read = release.ArgumentList.Arguments
                .SelectMany(a => a.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>())
                .Select(n => model.GetSymbolInfo(n, cancellationToken).Symbol)
                .Where(s => s is not null);
            if (read.Any(s => flow.WrittenInside.Contains(s!, SymbolEqualityComparer.Default)))
            {
                return null;
            }
        }

        return (releaseStatement, invalidationStatement);
    }

    private static SyntaxNode Move(SyntaxNode root, ExpressionStatementSyntax release, ExpressionStatementSyntax invalidation)
    {
        var block = (BlockSyntax)release.Parent!;
        var statements = block.Statements;
        var after = statements.IndexOf(invalidation);

        // Removing the release shifts the invalidation down by one: inserting at its old index
        // puts the release right after it, with its own comments and indentation.
        var moved = statements.RemoveAt(statements.IndexOf(release)).Insert(after, release);
        return root.ReplaceNode(block, block.WithStatements(moved));
    }
}
