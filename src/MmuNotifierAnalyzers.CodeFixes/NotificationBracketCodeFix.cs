using System.Collections.Immutable;
using System.Composition;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU006 and MMU009: bracket the notification call with <c>mmu_notifier_invalidate_range_start</c>
/// before the page-table lock and <c>_end</c> after its release on every exit (the bracketing
/// MMU001's fix does, shared). What to bracket comes from the analyzer's properties; the tree is
/// re-checked, and a shape the rewrite cannot prove offers nothing.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(NotificationBracketCodeFix)), Shared]
public sealed class NotificationBracketCodeFix : GuardedCodeFixProvider
{
    public const string BracketKey = "MMU006.BracketWithRange";

    public override ImmutableArray<string> FixableDiagnosticIds =>
        ImmutableArray.Create(RuleIdentifiers.InvalidateRangeOutsideRange, RuleIdentifiers.ChangePteOutsideRange);

    // Each fix edits one function; two calls in one function are bracketed one after the other
    // (the next Fix All pass sees the first bracket and the analyzer no longer reports a call it covers).
    public override FixAllProvider GetFixAllProvider() => MergedFixAll(keysAreAlternatives: false);

    protected override async Task RegisterAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        SemanticModel? model = null;
        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            var invocation = node.FirstAncestorOrSelf<InvocationExpressionSyntax>();
            var statement = invocation?.Parent switch
            {
                ExpressionStatementSyntax expression => expression,
                AssignmentExpressionSyntax { Parent: ExpressionStatementSyntax assigned } => assigned,
                _ => null,
            };
            if (invocation is null || statement is null || !InvalidatePageCallRewriter.IsStatementContext(statement))
            {
                continue;
            }

            // Only a call with no range at all gets a new bracket, and only around a lock every path holds.
            if (!FixContract.Proves(diagnostic, FixContract.Notification.NoRange)
                || FixContract.Proves(diagnostic, FixContract.Notification.LockOnSomePaths))
            {
                continue;
            }

            var onePage = FixContract.Proves(diagnostic, FixContract.Notification.OnePage);
            var hugePage = FixContract.Proves(diagnostic, FixContract.Notification.HugePage);
            var mmOfVma = FixContract.Proves(diagnostic, FixContract.Notification.MmOfVma);

            // The lock the analysis found held at the call on every path: the bracket goes around that one.
            InvocationExpressionSyntax? acquisition = null;
            if (FixContract.Proves(diagnostic, FixContract.Notification.LockHeld))
            {
                acquisition = diagnostic.AdditionalLocations.Count > 0
                    ? root.FindNode(diagnostic.AdditionalLocations[FixContract.Notification.AcquisitionLocation].SourceSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<InvocationExpressionSyntax>()
                    : null;
                if (acquisition is null)
                {
                    continue;
                }
            }

            // Every check runs here; the bracket is written when the action is applied.
            var document = context.Document;
            model ??= await document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
            if (model is null
                || InvalidatePageCallRewriter.PlanBracketNotification(model, document, statement, invocation, onePage, hugePage, mmOfVma, acquisition, context.CancellationToken) is not { } apply)
            {
                continue;
            }

            context.RegisterCodeFix(
                Fix(
                    "Bracket with mmu_notifier_invalidate_range_start/_end",
                    document,
                    async ct => await apply(ct).ConfigureAwait(false),
                    BracketKey),
                diagnostic);
        }
    }
}
