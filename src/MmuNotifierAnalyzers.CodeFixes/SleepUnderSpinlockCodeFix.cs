using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU005 fix for the notifier's own start/end under a spinlock (seed 004): a start is hoisted
/// to just before the statement that took the lock; an end is sunk to just after the next
/// statement, in the same block, that releases a lock. Offered only when both statements are
/// in the same block and the statements jumped over do not write a variable the call reads
/// (the call must see the same values). Other sleeping calls have no mechanical fix.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(SleepUnderSpinlockCodeFix))]
[Shared]
public sealed class SleepUnderSpinlockCodeFix : CodeFixProvider
{
    public const string HoistKey = "MMU005.HoistStart";
    public const string SinkKey = "MMU005.SinkEnd";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.SleepUnderSpinlock);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(SleepUnderSpinlockAnalyzer.RangeCallProperty, out var role)
                || root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true)?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } call
                || call.Parent is not ExpressionStatementSyntax { Parent: BlockSyntax block } statement)
            {
                continue;
            }

            if (role == "Start" && diagnostic.AdditionalLocations.Count > 0
                && root.FindNode(diagnostic.AdditionalLocations[0].SourceSpan, getInnermostNodeForTie: true) is { } acquisition
                && Hoist(root, block, statement, acquisition) is { } hoisted)
            {
                context.RegisterCodeFix(
                    CodeAction.Create("Call " + Name(call) + " before the lock is taken", _ => Task.FromResult(context.Document.WithSyntaxRoot(hoisted)), HoistKey),
                    diagnostic);
            }
            else if (role == "End" && Sink(root, model, block, statement, context.CancellationToken) is { } sunk)
            {
                context.RegisterCodeFix(
                    CodeAction.Create("Call " + Name(call) + " after the lock is released", _ => Task.FromResult(context.Document.WithSyntaxRoot(sunk)), SinkKey),
                    diagnostic);
            }
        }
    }

    private static string Name(InvocationExpressionSyntax call) => UnbalancedRangeAnalyzer.CallName(call);

    private static SyntaxNode? Hoist(SyntaxNode root, BlockSyntax block, ExpressionStatementSyntax statement, SyntaxNode acquisition)
    {
        var target = block.Statements.FirstOrDefault(s => s.Span.Contains(acquisition.Span));
        if (target is null)
        {
            return null;
        }

        var from = block.Statements.IndexOf(target);
        var to = block.Statements.IndexOf(statement);
        if (from < 0 || to <= from || WritesAny(block.Statements.Skip(from).Take(to - from), statement))
        {
            return null;
        }

        var moved = statement.WithAdditionalAnnotations(Formatter.Annotation);
        var statements = block.Statements.RemoveAt(to).Insert(from, moved);
        return root.ReplaceNode(block, block.WithStatements(statements));
    }

    private static SyntaxNode? Sink(SyntaxNode root, SemanticModel model, BlockSyntax block, ExpressionStatementSyntax statement, CancellationToken cancellationToken)
    {
        var at = block.Statements.IndexOf(statement);
        for (var i = at + 1; i < block.Statements.Count; i++)
        {
            var candidate = block.Statements[i];
            if (candidate is not ExpressionStatementSyntax { Expression: InvocationExpressionSyntax release }
                || model.GetSymbolInfo(release, cancellationToken).Symbol is not IMethodSymbol method
                || !Annotations.Has(method, Annotations.ReleasesLock))
            {
                continue;
            }

            if (WritesAny(block.Statements.Skip(at + 1).Take(i - at), statement))
            {
                return null;
            }

            var moved = statement.WithAdditionalAnnotations(Formatter.Annotation);
            var statements = block.Statements.Insert(i + 1, moved).RemoveAt(at);
            return root.ReplaceNode(block, block.WithStatements(statements));
        }

        return null;
    }

    /// <summary>True when one of <paramref name="statements"/> assigns a name <paramref name="call"/> reads (or jumps).</summary>
    private static bool WritesAny(IEnumerable<StatementSyntax> statements, StatementSyntax call)
    {
        var read = new HashSet<string>(call.DescendantNodes().OfType<IdentifierNameSyntax>().Select(n => n.Identifier.ValueText));
        foreach (var s in statements)
        {
            foreach (var node in s.DescendantNodesAndSelf())
            {
                switch (node)
                {
                    case AssignmentExpressionSyntax { Left: IdentifierNameSyntax left } when read.Contains(left.Identifier.ValueText):
                    case PostfixUnaryExpressionSyntax { Operand: IdentifierNameSyntax post } when read.Contains(post.Identifier.ValueText):
                    case PrefixUnaryExpressionSyntax { Operand: IdentifierNameSyntax pre } when read.Contains(pre.Identifier.ValueText):
                    case VariableDeclaratorSyntax declarator when read.Contains(declarator.Identifier.ValueText):
                    case ArgumentSyntax { RefKindKeyword.RawKind: not 0, Expression: IdentifierNameSyntax byRef } when read.Contains(byRef.Identifier.ValueText):
                    case LabeledStatementSyntax:
                    case GotoStatementSyntax:
                    case ReturnStatementSyntax:
                        return true;
                }
            }
        }

        return false;
    }
}
