using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace MmuNotifierAnalyzers.Tests.Robustness;

/// <summary>
/// Edits a source the way code being written or half-broken looks: a token deleted, a statement
/// deleted or moved, an identifier broken, a closing brace dropped, a line duplicated or deleted.
/// Pure function of the text and the <see cref="Random"/>: the same seed gives the same mutant.
/// </summary>
internal static class Mutator
{
    private delegate (string Text, string Description)? Mutation(string text, SyntaxNode root, Random random);

    private static readonly Mutation[] Mutations =
    {
        DeleteToken,
        DeleteStatement,
        MoveStatement,
        BreakIdentifier,
        DropClosingBrace,
        DuplicateLine,
        DeleteLine,
    };

    /// <summary>One to three mutations of <paramref name="text"/>, each described with where it applied.</summary>
    public static (string Text, IReadOnlyList<string> Mutations) Mutate(string text, Random random)
    {
        var count = 1 + random.Next(3);
        var applied = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var root = CSharpSyntaxTree.ParseText(text).GetRoot();
            var mutation = Mutations[random.Next(Mutations.Length)];
            if (mutation(text, root, random) is { } result)
            {
                text = result.Text;
                applied.Add(result.Description);
            }
        }

        return (text, applied);
    }

    private static (string, string)? DeleteToken(string text, SyntaxNode root, Random random)
    {
        var tokens = Written(root).ToList();
        if (tokens.Count == 0)
        {
            return null;
        }

        var token = tokens[random.Next(tokens.Count)];
        return (text.Remove(token.SpanStart, token.Span.Length), "delete token '" + token.Text + "' " + At(token.GetLocation()));
    }

    /// <summary>A statement in a method body; calls (lock, unlock, notifier) twice as often as the rest.</summary>
    private static StatementSyntax? PickStatement(SyntaxNode root, Random random)
    {
        var statements = root.DescendantNodes().OfType<StatementSyntax>().Where(s => s is not BlockSyntax && s.Parent is BlockSyntax).ToList();
        if (statements.Count == 0)
        {
            return null;
        }

        var calls = statements.Where(s => s is ExpressionStatementSyntax { Expression: InvocationExpressionSyntax }).ToList();
        var pool = calls.Count > 0 && random.Next(3) < 2 ? calls : statements;
        return pool[random.Next(pool.Count)];
    }

    private static (string, string)? DeleteStatement(string text, SyntaxNode root, Random random) =>
        PickStatement(root, random) is { } statement
            ? (text.Remove(statement.FullSpan.Start, statement.FullSpan.Length), "delete statement '" + Short(statement) + "' " + At(statement.GetLocation()))
            : null;

    private static (string, string)? MoveStatement(string text, SyntaxNode root, Random random)
    {
        if (PickStatement(root, random) is not { Parent: BlockSyntax block } statement)
        {
            return null;
        }

        // Anywhere in the same function: before another statement of one of its blocks.
        var function = statement.Ancestors().FirstOrDefault(a => a is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax) ?? block;
        var targets = function.DescendantNodes().OfType<StatementSyntax>()
            .Where(s => s.Parent is BlockSyntax && !statement.FullSpan.Contains(s.FullSpan) && !s.FullSpan.Contains(statement.FullSpan))
            .ToList();
        if (targets.Count == 0)
        {
            return null;
        }

        var target = targets[random.Next(targets.Count)];
        var moved = text.Substring(statement.FullSpan.Start, statement.FullSpan.Length);
        var without = text.Remove(statement.FullSpan.Start, statement.FullSpan.Length);
        var at = target.FullSpan.Start > statement.FullSpan.Start ? target.FullSpan.Start - statement.FullSpan.Length : target.FullSpan.Start;
        return (without.Insert(at, moved), "move statement '" + Short(statement) + "' " + At(statement.GetLocation()) + " before '" + Short(target) + "' " + At(target.GetLocation()));
    }

    private static (string, string)? BreakIdentifier(string text, SyntaxNode root, Random random)
    {
        var identifiers = Written(root).Where(t => t.IsKind(SyntaxKind.IdentifierToken)).ToList();
        if (identifiers.Count == 0)
        {
            return null;
        }

        var token = identifiers[random.Next(identifiers.Count)];
        var broken = random.Next(2) == 0 ? token.Text + "_" : token.Text.Substring(0, Math.Max(1, token.Text.Length - 1));
        return (text.Remove(token.SpanStart, token.Span.Length).Insert(token.SpanStart, broken), "rename '" + token.Text + "' to '" + broken + "' " + At(token.GetLocation()));
    }

    private static (string, string)? DropClosingBrace(string text, SyntaxNode root, Random random)
    {
        var braces = Written(root).Where(t => t.IsKind(SyntaxKind.CloseBraceToken)).ToList();
        if (braces.Count == 0)
        {
            return null;
        }

        var brace = braces[random.Next(braces.Count)];
        return (text.Remove(brace.SpanStart, 1), "drop '}' " + At(brace.GetLocation()));
    }

    private static (string, string)? DuplicateLine(string text, SyntaxNode root, Random random)
    {
        var lines = root.SyntaxTree.GetText().Lines;
        var line = lines[random.Next(lines.Count)];
        return (text.Insert(line.Start, text.Substring(line.Start, line.EndIncludingLineBreak - line.Start)), "duplicate line " + (line.LineNumber + 1).ToString(CultureInfo.InvariantCulture));
    }

    private static (string, string)? DeleteLine(string text, SyntaxNode root, Random random)
    {
        var lines = root.SyntaxTree.GetText().Lines;
        var line = lines[random.Next(lines.Count)];
        return (text.Remove(line.Start, line.EndIncludingLineBreak - line.Start), "delete line " + (line.LineNumber + 1).ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The tokens the text has (not those the parser supplied for a mutant's missing ones).</summary>
    private static IEnumerable<SyntaxToken> Written(SyntaxNode root) => root.DescendantTokens().Where(t => !t.IsMissing && t.Span.Length > 0);

    private static string At(Location location) =>
        "at line " + (location.GetLineSpan().StartLinePosition.Line + 1).ToString(CultureInfo.InvariantCulture);

    private static string Short(SyntaxNode node)
    {
        var text = string.Join(" ", node.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return text.Length <= 60 ? text : text.Substring(0, 57) + "...";
    }
}
