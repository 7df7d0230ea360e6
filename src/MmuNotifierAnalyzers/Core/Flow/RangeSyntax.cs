using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>
/// The syntax side of <see cref="RangeArithmetic"/>: the notifier calls whose start/end are a range,
/// and the rewrites MMU007 and MMU008 name in their messages and their fixes apply (one
/// implementation, so the message shows exactly what the fix writes). Names are qualified as the
/// term being rewritten qualifies its Kernel.Mm name (<c>compound_order(page)</c> gives
/// <c>PAGE_SIZE</c>, <c>Linux.compound_order(page)</c> gives <c>Linux.PAGE_SIZE</c>).
/// </summary>
internal static class RangeSyntax
{
    /// <summary>The start and end arguments of a notifier range call: the (mm, start, end) forms of
    /// <c>mmu_notifier_invalidate_range_start</c> / <c>_end</c>, <c>mmu_notifier_invalidate_range</c>,
    /// and <c>mmu_notifier_range_init</c>.</summary>
    public static bool TryGetRange(IInvocationOperation invocation, KnownSymbols symbols, out IOperation start, out IOperation end)
    {
        start = end = null!;
        var method = invocation.TargetMethod;
        if (!KnownSymbols.Is(method, symbols.RangeStart) && !KnownSymbols.Is(method, symbols.RangeEnd)
            && !KnownSymbols.Is(method, symbols.InvalidateRange) && !KnownSymbols.Is(method, symbols.RangeInit))
        {
            return false;
        }

        IOperation? s = null, e = null;
        foreach (var argument in invocation.Arguments)
        {
            if (argument.Parameter?.Name == "start" && argument.ArgumentKind == ArgumentKind.Explicit)
            {
                s = argument.Value;
            }
            else if (argument.Parameter?.Name == "end" && argument.ArgumentKind == ArgumentKind.Explicit)
            {
                e = argument.Value;
            }
        }

        if (s is null || e is null)
        {
            return false;
        }

        start = s;
        end = e;
        return true;
    }

    /// <summary>The byte form of a page-count term, or null when <paramref name="term"/> is not one of
    /// the shapes MMU007 rewrites: <c>1UL &lt;&lt; compound_order(p)</c> → <c>PAGE_SIZE &lt;&lt; compound_order(p)</c>,
    /// <c>compound_nr(p)</c> → <c>PAGE_SIZE &lt;&lt; compound_order(p)</c>, <c>HPAGE_PMD_NR</c> and
    /// <c>1 &lt;&lt; HPAGE_PMD_ORDER</c> → <c>HPAGE_PMD_SIZE</c>, <c>pages_per_huge_page(h)</c> and
    /// <c>1 &lt;&lt; huge_page_order(h)</c> → <c>huge_page_size(h)</c>. Parenthesised where the result is a
    /// shift and the term is not already in parentheses. Trivia of the term is kept.</summary>
    public static ExpressionSyntax? BytesForPageCount(ExpressionSyntax term)
    {
        var replacement = Rewrite(term);
        if (replacement is null)
        {
            return null;
        }

        if (replacement is BinaryExpressionSyntax && term.Parent is not ParenthesizedExpressionSyntax && term.Parent is ExpressionSyntax)
        {
            replacement = SyntaxFactory.ParenthesizedExpression(replacement.WithoutTrivia());
        }

        return replacement.WithTriviaFrom(term);
    }

    private static ExpressionSyntax? Rewrite(ExpressionSyntax term)
    {
        switch (term)
        {
            case ParenthesizedExpressionSyntax parenthesized:
                {
                    var inner = Rewrite(parenthesized.Expression);
                    return inner is null ? null : parenthesized.WithExpression(inner.WithTriviaFrom(parenthesized.Expression));
                }

            case BinaryExpressionSyntax { RawKind: (int)SyntaxKind.LeftShiftExpression } shift when IsOne(shift.Left):
                {
                    var right = Unparenthesize(shift.Right);
                    if (right is InvocationExpressionSyntax call && NameOf(call.Expression) == "compound_order")
                    {
                        return shift.WithLeft(Qualified(call.Expression, "PAGE_SIZE").WithTriviaFrom(shift.Left));
                    }

                    if (right is InvocationExpressionSyntax hcall && NameOf(hcall.Expression) == "huge_page_order")
                    {
                        return Renamed(hcall, "huge_page_size");
                    }

                    if (NameOf(right) == "HPAGE_PMD_ORDER")
                    {
                        return Qualified(right, "HPAGE_PMD_SIZE");
                    }

                    return null;
                }

            case InvocationExpressionSyntax call when NameOf(call.Expression) is "compound_nr" or "hpage_nr_pages" or "thp_nr_pages":
                return SyntaxFactory.BinaryExpression(
                    SyntaxKind.LeftShiftExpression,
                    Qualified(call.Expression, "PAGE_SIZE").WithoutTrivia(),
                    SyntaxFactory.Token(SyntaxFactory.TriviaList(SyntaxFactory.Space), SyntaxKind.LessThanLessThanToken, SyntaxFactory.TriviaList(SyntaxFactory.Space)),
                    Renamed(call, "compound_order").WithoutTrivia());

            case InvocationExpressionSyntax call when NameOf(call.Expression) == "pages_per_huge_page":
                return Renamed(call, "huge_page_size");

            case IdentifierNameSyntax or MemberAccessExpressionSyntax when NameOf(term) == "HPAGE_PMD_NR":
                return Qualified(term, "HPAGE_PMD_SIZE");

            default:
                return null;
        }
    }

    /// <summary>The text of the byte size of a huge page: <c>PAGE_SIZE &lt;&lt; compound_order(subject)</c>,
    /// <c>HPAGE_PMD_SIZE</c>, <c>huge_page_size(subject)</c>, with <paramref name="qualifier"/> before each name.</summary>
    public static string SizeText(string size, string? subject, string qualifier) => size switch
    {
        Rules.FixContract.HugeSize.Compound => qualifier + "PAGE_SIZE << " + qualifier + "compound_order(" + subject + ")",
        Rules.FixContract.HugeSize.HugeTlb => qualifier + "huge_page_size(" + subject + ")",
        _ => qualifier + "HPAGE_PMD_SIZE",
    };

    /// <summary>The text of the mask aligning an address to that huge page.</summary>
    public static string MaskText(string size, string? subject, string qualifier) => size switch
    {
        Rules.FixContract.HugeSize.Compound => "~((" + SizeText(size, subject, qualifier) + ") - 1)",
        Rules.FixContract.HugeSize.HugeTlb => qualifier + "huge_page_mask(" + subject + ")",
        _ => qualifier + "HPAGE_PMD_MASK",
    };

    /// <summary>The property value naming <paramref name="size"/>.</summary>
    public static string SizeName(HugeSize size) => size switch
    {
        HugeSize.Compound => Rules.FixContract.HugeSize.Compound,
        HugeSize.HugeTlb => Rules.FixContract.HugeSize.HugeTlb,
        _ => Rules.FixContract.HugeSize.Pmd,
    };

    /// <summary>How the Kernel.Mm names in <paramref name="expression"/> are qualified: the prefix of the
    /// first Kernel.Mm-looking name (<c>compound_order</c>, <c>HPAGE_PMD_*</c>, <c>huge_page_*</c>,
    /// <c>PAGE_SIZE</c>, ...) it contains, or null when it names none.</summary>
    public static string? QualifierIn(SyntaxNode expression)
    {
        foreach (var name in expression.DescendantNodesAndSelf().OfType<SimpleNameSyntax>())
        {
            var text = name.Identifier.ValueText;
            if (text.StartsWith("HPAGE_", System.StringComparison.Ordinal) || text.StartsWith("PAGE_", System.StringComparison.Ordinal)
                || text is "compound_order" or "compound_nr" or "hpage_nr_pages" or "thp_nr_pages" or "huge_page_size" or "huge_page_order" or "huge_page_mask" or "pages_per_huge_page")
            {
                return name.Parent is MemberAccessExpressionSyntax access && access.Name == name
                    ? access.Expression.ToString() + "."
                    : string.Empty;
            }
        }

        return null;
    }

    /// <summary>One line, single spaces: a message names an expression, not its layout.</summary>
    public static string OneLine(string text)
    {
        var builder = new System.Text.StringBuilder(text.Length);
        var space = false;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                space = true;
                continue;
            }

            if (space && builder.Length > 0)
            {
                builder.Append(' ');
            }

            space = false;
            builder.Append(c);
        }

        var result = builder.ToString();
        result = result.Replace("( ", "(").Replace(" )", ")");
        return result.Length <= 100 ? result : result.Substring(0, 97) + "...";
    }

    /// <summary>The expression inside any parentheses around it.</summary>
    public static ExpressionSyntax Unparenthesize(ExpressionSyntax expression)
    {
        while (expression is ParenthesizedExpressionSyntax parenthesized)
        {
            expression = parenthesized.Expression;
        }

        return expression;
    }

    private static bool IsOne(ExpressionSyntax expression) =>
        Unparenthesize(expression) is LiteralExpressionSyntax { RawKind: (int)SyntaxKind.NumericLiteralExpression } literal
        && literal.Token.Value is int and 1 or uint and 1 or long and 1 or ulong and 1;

    private static string? NameOf(ExpressionSyntax expression) => expression switch
    {
        IdentifierNameSyntax identifier => identifier.Identifier.ValueText,
        MemberAccessExpressionSyntax access => access.Name.Identifier.ValueText,
        _ => null,
    };

    /// <summary><paramref name="name"/> with the qualification of <paramref name="like"/> (a name or a member access).</summary>
    private static ExpressionSyntax Qualified(ExpressionSyntax like, string name) => like switch
    {
        MemberAccessExpressionSyntax access => access.WithName(SyntaxFactory.IdentifierName(name).WithTriviaFrom(access.Name)),
        _ => SyntaxFactory.IdentifierName(name).WithTriviaFrom(like),
    };

    private static InvocationExpressionSyntax Renamed(InvocationExpressionSyntax call, string name) =>
        call.WithExpression(Qualified(call.Expression, name));
}
