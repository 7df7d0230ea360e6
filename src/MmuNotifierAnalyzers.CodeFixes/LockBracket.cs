using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// Syntax facts the MMU005 fix needs about the lock around a statement: which acquisition holds
/// it, which statement releases it, and whether a stretch of statements may be jumped over (no
/// jumps, labels, or writes to what the moved call reads).
/// </summary>
internal static class LockBracket
{
    /// <summary>1: takes a lock, 2: releases one, 0: neither.</summary>
    public static int LockKind(IMethodSymbol? method)
    {
        if (method is null)
        {
            return 0;
        }

        if (Annotations.Has(method, Annotations.AcquiresLock) || Annotations.Has(method.OriginalDefinition, Annotations.AcquiresLock))
        {
            return 1;
        }

        return Annotations.Has(method, Annotations.ReleasesLock) || Annotations.Has(method.OriginalDefinition, Annotations.ReleasesLock) ? 2 : 0;
    }

    public static int LockKind(SemanticModel model, InvocationExpressionSyntax invocation, CancellationToken cancellationToken) =>
        LockKind(model.GetSymbolInfo(invocation, cancellationToken).Symbol as IMethodSymbol);

    /// <summary>True for <c>release(...);</c> as a statement of its own.</summary>
    public static bool IsReleaseStatement(SemanticModel model, StatementSyntax statement, CancellationToken cancellationToken) =>
        statement is ExpressionStatementSyntax { Expression: InvocationExpressionSyntax invocation }
        && LockKind(model, invocation, cancellationToken) == 2;

    /// <summary>
    /// The acquisition that still holds a lock at <paramref name="node"/>: the last lock taken
    /// textually before it, by a statement of a block that also holds the node, with no release
    /// statement on the straight line from there to the node. Null when no such lock is held.
    /// </summary>
    public static Held? HeldAt(SemanticModel model, BlockSyntax body, StatementSyntax node, CancellationToken cancellationToken)
    {
        var acquisitions = OwnNodes(body).OfType<InvocationExpressionSyntax>()
            .Where(i => i.Span.End <= node.SpanStart && LockKind(model, i, cancellationToken) == 1)
            .Reverse();
        foreach (var call in acquisitions)
        {
            var statement = call.Ancestors().OfType<StatementSyntax>()
                .FirstOrDefault(s => s.Parent is BlockSyntax block && block.Span.Contains(node.Span) && body.Span.Contains(block.Span));
            if (statement?.Parent is not BlockSyntax lockBlock || statement.Span.Contains(node.Span))
            {
                continue;
            }

            // A release on the straight line between the acquisition and the node ends the hold.
            foreach (var (block, index) in Chain(node, lockBlock))
            {
                var from = block == lockBlock ? lockBlock.Statements.IndexOf(statement) + 1 : 0;
                for (var i = from; i < index; i++)
                {
                    if (IsReleaseStatement(model, block.Statements[i], cancellationToken))
                    {
                        return null;
                    }
                }
            }

            return new Held(statement, call, lockBlock);
        }

        return null;
    }

    /// <summary>
    /// The blocks from <paramref name="statement"/>'s own up to <paramref name="outer"/>, each with
    /// the index of the statement on the way (innermost first).
    /// </summary>
    public static IEnumerable<(BlockSyntax Block, int Index)> Chain(StatementSyntax statement, BlockSyntax outer)
    {
        SyntaxNode current = statement;
        while (current.Parent is { } parent)
        {
            if (parent is BlockSyntax block && current is StatementSyntax inner)
            {
                yield return (block, block.Statements.IndexOf(inner));
                if (block == outer)
                {
                    yield break;
                }
            }

            current = parent;
        }
    }

    /// <summary>
    /// True when everything between <paramref name="statement"/> and <paramref name="outer"/> is a
    /// block, an <c>if</c> or an <c>else</c> (no loop, switch, try, lambda: the statement runs at
    /// most once per pass through the outer block's statement that holds it).
    /// </summary>
    public static bool OnlyConditionals(StatementSyntax statement, BlockSyntax outer)
    {
        for (var node = statement.Parent; node is not null && node != outer; node = node.Parent)
        {
            if (node is not (BlockSyntax or IfStatementSyntax or ElseClauseSyntax))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The statement of <paramref name="block"/> that holds <paramref name="node"/>.</summary>
    public static StatementSyntax Top(BlockSyntax block, SyntaxNode node) => block.Statements.First(s => s.Span.Contains(node.Span));

    /// <summary>
    /// True when one of <paramref name="nodes"/> may change what <paramref name="reads"/> names
    /// (assignment, ++/--, ref/out argument, declaration) or jumps (goto, return, break, continue,
    /// throw, yield, a label someone may jump to).
    /// </summary>
    public static bool WritesOrJumps(IEnumerable<SyntaxNode> nodes, ISet<string> reads) => WritesOrJumps(nodes, reads, jumps: true);

    /// <summary>As <see cref="WritesOrJumps(IEnumerable{SyntaxNode}, ISet{string})"/>, jumps and labels counted only when <paramref name="jumps"/>.</summary>
    public static bool WritesOrJumps(IEnumerable<SyntaxNode> nodes, ISet<string> reads, bool jumps)
    {
        foreach (var s in nodes)
        {
            foreach (var node in s.DescendantNodesAndSelf(n => n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax)))
            {
                if (!jumps && IsJump(node))
                {
                    continue;
                }

                switch (node)
                {
                    case AssignmentExpressionSyntax { Left: var left } when reads.Contains(RootName(left)):
                    case PostfixUnaryExpressionSyntax { Operand: var post } when reads.Contains(RootName(post)):
                    case PrefixUnaryExpressionSyntax pre when (pre.IsKind(SyntaxKind.PreIncrementExpression) || pre.IsKind(SyntaxKind.PreDecrementExpression)) && reads.Contains(RootName(pre.Operand)):
                    case VariableDeclaratorSyntax declarator when reads.Contains(declarator.Identifier.ValueText):
                    case SingleVariableDesignationSyntax designation when reads.Contains(designation.Identifier.ValueText):
                    case ArgumentSyntax { RefKindKeyword.RawKind: not 0, Expression: var byRef } when reads.Contains(RootName(byRef)):
                    case LabeledStatementSyntax:
                    case GotoStatementSyntax:
                    case ReturnStatementSyntax:
                    case BreakStatementSyntax:
                    case ContinueStatementSyntax:
                    case ThrowStatementSyntax:
                    case ThrowExpressionSyntax:
                    case YieldStatementSyntax:
                        return true;
                }
            }
        }

        return false;
    }

    /// <summary>A goto, return, break, continue, throw, yield or label.</summary>
    public static bool IsJump(SyntaxNode node) =>
        node is LabeledStatementSyntax or GotoStatementSyntax or ReturnStatementSyntax or BreakStatementSyntax or ContinueStatementSyntax
            or ThrowStatementSyntax or ThrowExpressionSyntax or YieldStatementSyntax;

    /// <summary>True when a jump (or a label) is among <paramref name="nodes"/>.</summary>
    public static bool Jumps(IEnumerable<SyntaxNode> nodes) => WritesOrJumps(nodes, new HashSet<string>());

    /// <summary>The names a node reads (identifiers, not member names after a dot).</summary>
    public static HashSet<string> Reads(IEnumerable<SyntaxNode> nodes) =>
        new(nodes.SelectMany(n => n.DescendantNodesAndSelf()).OfType<IdentifierNameSyntax>()
            .Where(i => i.Parent is not MemberAccessExpressionSyntax access || access.Expression == i)
            .Select(i => i.Identifier.ValueText));

    /// <summary><c>a</c> for <c>a</c>, <c>a.b.c</c>, <c>a[i]</c>: the variable a write changes.</summary>
    private static string RootName(ExpressionSyntax expression)
    {
        while (true)
        {
            switch (expression)
            {
                case IdentifierNameSyntax name:
                    return name.Identifier.ValueText;
                case MemberAccessExpressionSyntax access:
                    expression = access.Expression;
                    break;
                case ElementAccessExpressionSyntax element:
                    expression = element.Expression;
                    break;
                case ParenthesizedExpressionSyntax parenthesized:
                    expression = parenthesized.Expression;
                    break;
                case PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.SuppressNullableWarningExpression } bang:
                    expression = bang.Operand;
                    break;
                default:
                    return string.Empty;
            }
        }
    }

    /// <summary>Nodes of the function itself, not of lambdas or local functions inside it.</summary>
    public static IEnumerable<SyntaxNode> OwnNodes(BlockSyntax body) =>
        body.DescendantNodes(n => n == body || n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax));

    /// <summary>A lock held at a statement: the statement that took it, the call, the block it is in.</summary>
    internal sealed class Held
    {
        public Held(StatementSyntax statement, InvocationExpressionSyntax call, BlockSyntax block)
        {
            Statement = statement;
            Call = call;
            Block = block;
        }

        public StatementSyntax Statement { get; }

        public InvocationExpressionSyntax Call { get; }

        public BlockSyntax Block { get; }
    }
}
