using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>The bracket around a lock whose acquisition may fail.</summary>
internal static partial class InvalidatePageCallRewriter
{
    /// <summary>
    /// The kernel's repair of ksm's <c>write_protect_page</c> (6bdb913f0a70, v3.6): start before an
    /// acquisition that may fail; its failure check jumps to a label past every release, and the
    /// end goes at a new label right before that one (<c>out_mn:</c>), where the failure exit and the
    /// unlocked path join. Jumps from before the acquisition keep the old label and skip the end
    /// as they skip the start. False unless every path that starts reaches the new label exactly
    /// once, with the lock released, and no other path does.
    /// </summary>
    private static bool TryJoinAtFailureExit(
        SemanticModel model,
        BlockSyntax body,
        BlockSyntax lockBlock,
        StatementSyntax acquire,
        InvocationExpressionSyntax acquireCall,
        LockCondition condition,
        Plan plan,
        StatementEdits edits,
        CancellationToken cancellationToken)
    {
        var failure = FailureJump(model, lockBlock, acquire, acquireCall, condition, cancellationToken);
        if (failure is null || JumpTarget(failure) is not LabeledStatementSyntax exit || exit.Parent != lockBlock
            || lockBlock.Statements.IndexOf(exit) <= lockBlock.Statements.IndexOf(acquire))
        {
            return false;
        }

        // Every path through [acquisition, exit label) has started the range.
        var started = TextSpan.FromBounds(acquire.SpanStart, exit.SpanStart);
        var own = OwnNodes(body).OfType<StatementSyntax>().ToList();
        var releases = own.OfType<ExpressionStatementSyntax>()
            .Where(r => r.SpanStart > acquire.Span.End && IsReleaseOf(model, r, acquireCall, cancellationToken))
            .ToList();
        if (releases.Count == 0 || releases.Any(r => !started.Contains(r.Span)))
        {
            return false;
        }

        // What falls into the new label has just released the lock (or nothing falls in).
        var above = lockBlock.Statements[lockBlock.Statements.IndexOf(exit) - 1];
        var fallsIn = model.AnalyzeControlFlow(above);
        if (fallsIn is null || !fallsIn.Succeeded || (fallsIn.EndPointIsReachable && !releases.Contains(Unlabeled(above))))
        {
            return false;
        }

        var retarget = new List<GotoStatementSyntax>();
        foreach (var statement in own)
        {
            var inside = started.Contains(statement.Span);
            if (statement is not GotoStatementSyntax jump)
            {
                if (inside && LeavesRegion(statement, started))
                {
                    return false;
                }

                continue;
            }

            var target = JumpTarget(jump);
            if (target is null)
            {
                return false;
            }

            if (target == exit)
            {
                // A jump out of the started stretch gets the end; it must not hold the lock there
                // (the failure check's acquisition did not take it).
                if (inside && jump != failure && LockBracket.HeldAt(model, body, jump, cancellationToken) is not null)
                {
                    return false;
                }

                if (inside)
                {
                    retarget.Add(jump);
                }

                continue;
            }

            // In from outside (no start, or a second one) or out past the exit (no end).
            var lands = started.Contains(target.Span);
            if (inside != lands || (!inside && jump.SpanStart >= exit.SpanStart && target.SpanStart < acquire.SpanStart))
            {
                return false;
            }
        }

        var taken = new HashSet<string>(FunctionNode(body)!.DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText));
        var label = LocalNames.Fresh("out_mn", taken);
        edits.Before(acquire, plan.AssignStart(), plan.AssignEnd(), plan.Call("mmu_notifier_invalidate_range_start"));
        foreach (var jump in retarget)
        {
            edits.Replace(jump, SyntaxFactory.ParseStatement("goto " + label + ";").WithTriviaFrom(jump));
        }

        edits.Before(exit, plan.Labeled(label, plan.Call("mmu_notifier_invalidate_range_end")));
        return true;
    }

    /// <summary>
    /// The jump taken when the acquisition fails: <c>if (!spin_trylock(l)) goto out;</c> around the
    /// call itself, or <c>if (ptep == null) goto out;</c> right after storing a lock-or-null result.
    /// </summary>
    private static GotoStatementSyntax? FailureJump(SemanticModel model, BlockSyntax lockBlock, StatementSyntax acquire, InvocationExpressionSyntax acquireCall, LockCondition condition, CancellationToken cancellationToken)
    {
        if (condition == LockCondition.WhenTrue)
        {
            return acquire is IfStatementSyntax { Else: null } check
                && RangeSyntax.Unparenthesize(check.Condition) is PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.LogicalNotExpression } not
                && RangeSyntax.Unparenthesize(not.Operand) == acquireCall
                    ? OnlyJump(check.Statement)
                    : null;
        }

        var stored = acquireCall.Parent switch
        {
            AssignmentExpressionSyntax { Left: var left } assignment when assignment.Right == acquireCall && assignment.Parent is ExpressionStatementSyntax => model.GetSymbolInfo(left, cancellationToken).Symbol,
            EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax declarator } => model.GetDeclaredSymbol(declarator, cancellationToken),
            _ => null,
        };
        var index = lockBlock.Statements.IndexOf(acquire);
        if (condition != LockCondition.WhenNotNull || stored is not (ILocalSymbol or IParameterSymbol) || index + 1 >= lockBlock.Statements.Count
            || lockBlock.Statements[index + 1] is not IfStatementSyntax { Else: null } nullCheck)
        {
            return null;
        }

        bool IsStored(ExpressionSyntax e) => SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(RangeSyntax.Unparenthesize(e), cancellationToken).Symbol, stored);
        static bool IsNull(ExpressionSyntax e) => RangeSyntax.Unparenthesize(e).IsKind(SyntaxKind.NullLiteralExpression);
        var isNull = RangeSyntax.Unparenthesize(nullCheck.Condition) switch
        {
            BinaryExpressionSyntax { RawKind: (int)SyntaxKind.EqualsExpression } equals =>
                (IsStored(equals.Left) && IsNull(equals.Right)) || (IsNull(equals.Left) && IsStored(equals.Right)),
            IsPatternExpressionSyntax { Pattern: ConstantPatternSyntax { Expression: var constant } } pattern => IsStored(pattern.Expression) && IsNull(constant),
            _ => false,
        };
        return isNull ? OnlyJump(nullCheck.Statement) : null;
    }

    private static GotoStatementSyntax? OnlyJump(StatementSyntax statement) => statement switch
    {
        GotoStatementSyntax { RawKind: (int)SyntaxKind.GotoStatement } jump => jump,
        BlockSyntax { Statements.Count: 1 } block when block.Statements[0] is GotoStatementSyntax { RawKind: (int)SyntaxKind.GotoStatement } jump => jump,
        _ => null,
    };

    private static StatementSyntax Unlabeled(StatementSyntax statement)
    {
        while (statement is LabeledStatementSyntax labeled)
        {
            statement = labeled.Statement;
        }

        return statement;
    }
}
