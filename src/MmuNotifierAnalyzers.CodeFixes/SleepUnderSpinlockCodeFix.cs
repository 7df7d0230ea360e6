using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU005 fix: move the notifier calls out of the spinlock the way seed 004 did, under ONE
/// equivalence key whatever the shape (dotnet format fixes only the first diagnostic's key):
/// <list type="bullet">
/// <item>the notifier's own start/end under the lock: the range moves as a unit, start before the
/// acquisition, end after the release (<see cref="SleepUnderSpinlockRangeMove"/>);</item>
/// <item>a call to a source wrapper of a page-table update with notifier calls (the 2012
/// <c>ptep_clear_flush_notify</c> / <c>pmdp_clear_flush_notify</c> macros): the call becomes the
/// update and the locked region is bracketed (<see cref="SleepUnderSpinlockWrapper"/>).</item>
/// </list>
/// Other sleeping calls have no mechanical fix. Fix All applies the fixes one after another on the
/// evolving document (a start and its end are two diagnostics but one move).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(SleepUnderSpinlockCodeFix))]
[Shared]
public sealed class SleepUnderSpinlockCodeFix : GuardedCodeFixProvider
{
    public const string MoveKey = "MMU005.MoveOutOfLock";

    private const string FixAllAnnotationKind = "MMU005.FixAll";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.SleepUnderSpinlock);

    public override FixAllProvider GetFixAllProvider() => FixAll(FixDocumentAsync);

    protected override async Task RegisterAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            if (Call(root, diagnostic) is not { } call
                || await FixAsync(context.Document, call, context.CancellationToken).ConfigureAwait(false) is not { } fix)
            {
                continue;
            }

            var apply = fix.Apply;
            context.RegisterCodeFix(Fix(fix.Title, context.Document, _ => Task.FromResult<Document?>(apply()), MoveKey), diagnostic);
        }
    }

    /// <summary>
    /// The fix for one flagged call on the current document (its rewrite and title), or null when
    /// none is safe. A range move's tree is built when applied; an inlined wrapper's rewrite is what
    /// decides whether it is safe, so it is already built.
    /// </summary>
    internal static async Task<(Func<Document> Apply, string Title)?> FixAsync(Document document, InvocationExpressionSyntax call, CancellationToken cancellationToken)
    {
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        if (model is null)
        {
            return null;
        }

        if (SleepUnderSpinlockRangeMove.IsRangeCall(model, call, cancellationToken))
        {
            return await SleepUnderSpinlockRangeMove.TryMoveAsync(document, call, cancellationToken).ConfigureAwait(false);
        }

        return await SleepUnderSpinlockWrapper.TryInlineAsync(document, call, cancellationToken).ConfigureAwait(false) is { } inlined
            ? (() => inlined.Document, inlined.Title)
            : null;
    }

    private static InvocationExpressionSyntax? Call(SyntaxNode root, Diagnostic diagnostic) =>
        diagnostic.Location.IsInSource && root.FullSpan.Contains(diagnostic.Location.SourceSpan)
            ? root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true)?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault()
            : null;

    /// <summary>
    /// Fix All in one document: the flagged calls are marked on the original tree, then fixed in
    /// source order on the evolving document, each found again by its mark (a call already moved
    /// with its partner, or inlined, simply offers nothing any more) — the same as one by one.
    /// </summary>
    private static async Task<Document?> FixDocumentAsync(FixAllContext context, Document document, ImmutableArray<Diagnostic> diagnostics)
    {
        var root = await document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return document;
        }

        var marks = new Dictionary<InvocationExpressionSyntax, SyntaxAnnotation>();
        foreach (var diagnostic in InSourceOrder(diagnostics))
        {
            if (Call(root, diagnostic) is { } call && !marks.ContainsKey(call))
            {
                marks.Add(call, new SyntaxAnnotation(FixAllAnnotationKind, marks.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
        }

        var ordered = marks.Values.ToList();
        var current = document.WithSyntaxRoot(root.ReplaceNodes(marks.Keys, (original, rewritten) => rewritten.WithAdditionalAnnotations(marks[original])));
        foreach (var mark in ordered)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var currentRoot = await current.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
            if (currentRoot?.GetAnnotatedNodes(mark).OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } call)
            {
                continue;
            }

            if (await FixAsync(current, call, context.CancellationToken).ConfigureAwait(false) is { } fix)
            {
                current = fix.Apply();
            }
        }

        return current;
    }
}
