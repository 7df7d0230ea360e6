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
using Microsoft.CodeAnalysis.Editing;
using Microsoft.CodeAnalysis.Formatting;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU001 fixes: a call site becomes a start/end bracket around the page-table lock (with
/// <c>mmu_notifier_invalidate_range</c> under it), an ops member is removed or becomes an
/// <c>invalidate_range</c> callback. Which shape gets which rewrite: docs/rules/MMU001.md.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(InvalidatePageCodeFix)), Shared]
public sealed class InvalidatePageCodeFix : GuardedCodeFixProvider
{
    public const string BracketKey = "MMU001.BracketWithRange";
    public const string OpsKey = "MMU001.ConvertOpsToRange";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.InvalidatePageRemoved);

    // Each fix edits one function (call site) or one initializer member. Two call sites in one
    // function both declare their locals at its top: Fix All applies the fixes one after another,
    // as one-by-one does, not merged from the unchanged document. The two keys are the fixes of
    // two kinds of diagnostic, never alternatives: Fix All applies both whichever it is asked for.
    public override FixAllProvider GetFixAllProvider() => FixAll((context, document, diagnostics) => SequentialFixAll.ApplyAsync(this, context, document, InSourceOrder(diagnostics).ToList()));

    protected override async Task RegisterAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            if (diagnostic.Properties.TryGetValue(FixContract.InvalidatePage.Kind, out var kind) && kind == FixContract.InvalidatePage.OpsMember)
            {
                var assignment = node.FirstAncestorOrSelf<AssignmentExpressionSyntax>();
                var repair = assignment is null ? InvalidatePageOpsRewriter.Repair.None : InvalidatePageOpsRewriter.Choose(assignment, diagnostic);
                if (assignment is not null && repair != InvalidatePageOpsRewriter.Repair.None)
                {
                    context.RegisterCodeFix(
                        Fix(
                            InvalidatePageOpsRewriter.Title(repair),
                            context.Document,
                            async ct => await InvalidatePageOpsRewriter.FixAsync(context.Document, assignment, repair, ct).ConfigureAwait(false),
                            OpsKey),
                        diagnostic);
                }

                continue;
            }

            var invocation = node.FirstAncestorOrSelf<InvocationExpressionSyntax>();
            if (invocation?.Parent is ExpressionStatementSyntax statement && InvalidatePageCallRewriter.IsStatementContext(statement))
            {
                context.RegisterCodeFix(
                    Fix(
                        "Bracket with mmu_notifier_invalidate_range_start/_end",
                        context.Document,
                        async ct => await InvalidatePageCallRewriter.FixAsync(context.Document, statement, ct).ConfigureAwait(false),
                        BracketKey),
                    diagnostic);
            }
        }
    }
}
