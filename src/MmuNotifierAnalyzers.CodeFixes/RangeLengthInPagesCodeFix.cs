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
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU007 fix: each page-count term the analyzer pointed at (its additional locations) becomes the
/// byte size where it is written — <c>1UL &lt;&lt; compound_order(p)</c> → <c>PAGE_SIZE &lt;&lt; compound_order(p)</c>,
/// <c>compound_nr(p)</c> → <c>PAGE_SIZE &lt;&lt; compound_order(p)</c>, <c>HPAGE_PMD_NR</c> /
/// <c>1 &lt;&lt; HPAGE_PMD_ORDER</c> → <c>HPAGE_PMD_SIZE</c>, <c>pages_per_huge_page(h)</c> →
/// <c>huge_page_size(h)</c>; a local holding a page count (<c>address + nr</c>) becomes
/// <c>nr * PAGE_SIZE</c>. The rest of the expression and its trivia stay. Offers nothing when a
/// term no longer classifies as that page count.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RangeLengthInPagesCodeFix)), Shared]
public sealed class RangeLengthInPagesCodeFix : GuardedCodeFixProvider
{
    public const string EquivalenceKey = "MMU007.CountBytes";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.RangeLengthInPages);

    public override FixAllProvider GetFixAllProvider() => FixAll(FixDocumentAsync);

    protected override async Task RegisterAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            var edits = Edits(root, model, diagnostic, context.CancellationToken);
            if (edits.Count == 0)
            {
                continue;
            }

            var document = context.Document;
            context.RegisterCodeFix(
                Fix(
                    "Count the range length in bytes",
                    document,
                    _ => Task.FromResult<Document?>(document.WithSyntaxRoot(root.ReplaceNodes(edits.Keys, (original, _) => edits[original]))),
                    EquivalenceKey),
                diagnostic);
        }
    }

    private static async Task<Document?> FixDocumentAsync(FixAllContext context, Document document, ImmutableArray<Diagnostic> diagnostics)
    {
        var root = await document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var model = await document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return null;
        }

        var edits = new Dictionary<SyntaxNode, SyntaxNode>();
        foreach (var diagnostic in InSourceOrder(diagnostics))
        {
            foreach (var edit in Edits(root, model, diagnostic, context.CancellationToken))
            {
                // Terms never nest: a term is a page count, never inside another one.
                if (!edits.Keys.Any(k => k.Span.OverlapsWith(edit.Key.Span)))
                {
                    edits[edit.Key] = edit.Value;
                }
            }
        }

        return edits.Count == 0 ? null : document.WithSyntaxRoot(root.ReplaceNodes(edits.Keys, (original, _) => edits[original]));
    }

    /// <summary>Each term of <paramref name="diagnostic"/> and what it becomes; empty when any term no longer matches.</summary>
    private static Dictionary<SyntaxNode, SyntaxNode> Edits(SyntaxNode root, SemanticModel model, Diagnostic diagnostic, CancellationToken cancellationToken)
    {
        var edits = new Dictionary<SyntaxNode, SyntaxNode>();
        if (!diagnostic.Properties.TryGetValue(FixContract.HugeSize.Size, out var size) || size is null || diagnostic.AdditionalLocations.Count == 0)
        {
            return edits;
        }

        var symbols = KnownSymbols.Get(model.Compilation);
        foreach (var location in diagnostic.AdditionalLocations)
        {
            var term = RangeFixSyntax.ExpressionAt(root, location);
            var operation = term is null ? null : model.GetOperation(term, cancellationToken);
            if (term is null || operation is null)
            {
                return new Dictionary<SyntaxNode, SyntaxNode>();
            }

            var classified = RangeArithmetic.ClassifyTerm(operation, symbols);
            if (classified.Dimension != Dimension.Pages || RangeSyntax.SizeName(classified.Size) != size || classified.Size == HugeSize.None)
            {
                return new Dictionary<SyntaxNode, SyntaxNode>();
            }

            var replacement = RangeSyntax.BytesForPageCount(term) ?? Multiplied(term, model, cancellationToken);
            if (replacement is null)
            {
                return new Dictionary<SyntaxNode, SyntaxNode>();
            }

            edits[term] = replacement;
        }

        return edits;
    }

    // A page count held in a local (or any other ulong): nr → nr * PAGE_SIZE.
    private static ExpressionSyntax? Multiplied(ExpressionSyntax term, SemanticModel model, CancellationToken cancellationToken)
    {
        if (model.GetTypeInfo(term, cancellationToken).ConvertedType?.SpecialType != SpecialType.System_UInt64)
        {
            return null;
        }

        var operand = term is IdentifierNameSyntax or MemberAccessExpressionSyntax or InvocationExpressionSyntax or ParenthesizedExpressionSyntax
            ? term.WithoutTrivia().ToString()
            : "(" + term.WithoutTrivia() + ")";
        var product = SyntaxFactory.ParseExpression(operand + " * " + RangeFixSyntax.LinuxQualifier(model, term.SpanStart, cancellationToken) + "PAGE_SIZE");
        return product.WithTriviaFrom(term);
    }
}
