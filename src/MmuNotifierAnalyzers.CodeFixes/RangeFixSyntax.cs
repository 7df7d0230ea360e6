using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>What the MMU007 and MMU008 fixes share: finding the expression an analyzer pointed at,
/// and qualifying a Kernel.Mm name as the document can bind it.</summary>
internal static class RangeFixSyntax
{
    /// <summary>The expression whose span is exactly <paramref name="location"/>'s, in <paramref name="root"/>; null when the tree changed.</summary>
    public static ExpressionSyntax? ExpressionAt(SyntaxNode root, Location location)
    {
        if (!location.IsInSource || location.SourceTree != root.SyntaxTree || location.SourceSpan.End > root.FullSpan.End)
        {
            return null;
        }

        var span = location.SourceSpan;
        var node = root.FindNode(span, getInnermostNodeForTie: false);
        return node.DescendantNodesAndSelf().OfType<ExpressionSyntax>().FirstOrDefault(e => e.Span == span);
    }

    /// <summary>The prefix under which <c>Kernel.Mm.Linux.PAGE_SIZE</c> binds at <paramref name="position"/>:
    /// nothing with <c>using static Kernel.Mm.Linux</c>, <c>Linux.</c> with <c>using Kernel.Mm</c>, else the full name.</summary>
    public static string LinuxQualifier(SemanticModel model, int position, CancellationToken cancellationToken)
    {
        var pageSize = KnownSymbols.Get(model.Compilation).PageSizeField;
        foreach (var candidate in new[] { string.Empty, "Linux.", "Kernel.Mm.Linux." })
        {
            cancellationToken.ThrowIfCancellationRequested();
            var info = model.GetSpeculativeSymbolInfo(position, SyntaxFactory.ParseExpression(candidate + "PAGE_SIZE"), SpeculativeBindingOption.BindAsExpression);
            if (pageSize is not null && SymbolEqualityComparer.Default.Equals(info.Symbol?.OriginalDefinition, pageSize))
            {
                return candidate;
            }
        }

        return "global::Kernel.Mm.Linux.";
    }

    /// <summary><paramref name="expression"/> as an operand of <c>&amp;</c>: parenthesised unless it binds tighter.</summary>
    public static string AsAndOperand(ExpressionSyntax expression)
    {
        var text = expression.WithoutTrivia().ToString();
        return expression is IdentifierNameSyntax or MemberAccessExpressionSyntax or InvocationExpressionSyntax or ElementAccessExpressionSyntax
            or ParenthesizedExpressionSyntax or LiteralExpressionSyntax or ThisExpressionSyntax
            ? text
            : "(" + text + ")";
    }
}
