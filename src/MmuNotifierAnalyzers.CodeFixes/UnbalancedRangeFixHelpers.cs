using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>Syntax helpers shared by the MMU002, MMU003 and MMU005 fixes.</summary>
internal static class UnbalancedRangeFixHelpers
{
    /// <summary>The closer that matches <paramref name="opener"/>: the runtime's _end for its _start,
    /// or the method next to a user opener annotated [ClosesInvalidationRange] with the same parameters.</summary>
    public static IMethodSymbol? Closer(IMethodSymbol opener)
    {
        var type = opener.ContainingType;
        if (type is null)
        {
            return null;
        }

        var candidates = type.GetMembers().OfType<IMethodSymbol>().Where(m =>
            m.Parameters.Length == opener.Parameters.Length
            && m.Parameters.Select(p => p.Type).SequenceEqual(opener.Parameters.Select(p => p.Type), SymbolEqualityComparer.Default)).ToList();

        if (opener.Name.EndsWith("_start", System.StringComparison.Ordinal))
        {
            var name = opener.Name.Substring(0, opener.Name.Length - "_start".Length) + "_end";
            if (candidates.FirstOrDefault(m => m.Name == name) is { } named)
            {
                return named;
            }
        }

        return candidates.FirstOrDefault(m => Annotations.Has(m, Annotations.ClosesInvalidationRange));
    }

    /// <summary>The closer's call with the opener's own arguments, as a statement.</summary>
    public static ExpressionStatementSyntax? EndStatement(InvocationExpressionSyntax start, IMethodSymbol closer)
    {
        ExpressionSyntax? callee = start.Expression switch
        {
            IdentifierNameSyntax => SyntaxFactory.IdentifierName(closer.Name),
            MemberAccessExpressionSyntax member => member.WithName(SyntaxFactory.IdentifierName(closer.Name)),
            _ => null,
        };
        if (callee is null)
        {
            return null;
        }

        var call = SyntaxFactory.InvocationExpression(callee.WithoutTrivia(), start.ArgumentList.WithoutTrivia());
        return SyntaxFactory.ExpressionStatement(call).WithAdditionalAnnotations(Formatter.Annotation);
    }

    /// <summary>The body block of the function (method, local function, lambda, accessor) that contains <paramref name="node"/>.</summary>
    public static BlockSyntax? FunctionBody(SyntaxNode node)
    {
        foreach (var ancestor in node.Ancestors())
        {
            switch (ancestor)
            {
                case BaseMethodDeclarationSyntax method:
                    return method.Body;
                case LocalFunctionStatementSyntax local:
                    return local.Body;
                case AnonymousFunctionExpressionSyntax lambda:
                    return lambda.Body as BlockSyntax;
                case AccessorDeclarationSyntax accessor:
                    return accessor.Body;
            }
        }

        return null;
    }

    /// <summary>True when <paramref name="node"/> is inside <paramref name="body"/> and not inside a nested function.</summary>
    public static bool InSameFunction(SyntaxNode node, BlockSyntax body) =>
        FunctionBody(node) == body;

    /// <summary>
    /// Inserts <paramref name="inserted"/> before <paramref name="statement"/> in its block: the
    /// inserted statements take the statement's leading trivia (comments stay above the group),
    /// the statement keeps only its indentation.
    /// </summary>
    public static SyntaxNode InsertBefore(SyntaxNode root, StatementSyntax statement, params StatementSyntax[] inserted)
    {
        var leading = statement.GetLeadingTrivia();
        var indentation = Indentation(leading);
        var nodes = inserted.Select((s, i) => s.WithLeadingTrivia(i == 0 ? leading : indentation)).ToArray();
        var tracked = root.TrackNodes(statement);
        var current = tracked.GetCurrentNode(statement)!;
        tracked = tracked.ReplaceNode(current, current.WithLeadingTrivia(indentation));
        return tracked.InsertNodesBefore(tracked.GetCurrentNode(statement)!, nodes);
    }

    /// <summary>The whitespace after the last end of line in <paramref name="leading"/>.</summary>
    public static SyntaxTriviaList Indentation(SyntaxTriviaList leading)
    {
        var result = SyntaxFactory.TriviaList();
        foreach (var trivia in leading)
        {
            if (trivia.IsKind(SyntaxKind.EndOfLineTrivia) || !trivia.IsKind(SyntaxKind.WhitespaceTrivia))
            {
                result = SyntaxFactory.TriviaList();
            }
            else
            {
                result = result.Add(trivia);
            }
        }

        return result;
    }

    /// <summary>True when the node's trivia holds a comment.</summary>
    public static bool HasComment(SyntaxNode node) =>
        node.GetLeadingTrivia().Concat(node.GetTrailingTrivia()).Any(t =>
            t.IsKind(SyntaxKind.SingleLineCommentTrivia) || t.IsKind(SyntaxKind.MultiLineCommentTrivia));

    /// <summary>Whether two invocations call the same method with the same argument text.</summary>
    public static bool SameArguments(InvocationExpressionSyntax a, InvocationExpressionSyntax b) =>
        a.ArgumentList.Arguments.Count == b.ArgumentList.Arguments.Count
        && a.ArgumentList.Arguments.Zip(b.ArgumentList.Arguments, (x, y) => x.Expression.IsEquivalentTo(y.Expression, topLevel: false)).All(s => s);
}
