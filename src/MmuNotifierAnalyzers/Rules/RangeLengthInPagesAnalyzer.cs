using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU007: a notifier range ends at an address plus a number of pages (seed 003, Andrea's bug 2:
/// <c>address + (1UL &lt;&lt; compound_order(page))</c> is 1..512 bytes, not 4K..2M). The end
/// argument of start/end, <c>invalidate_range</c> or <c>mmu_notifier_range_init</c> is classified by
/// <see cref="RangeArithmetic"/>, directly or through the locals it comes from (<c>mmun_end</c>).
/// Reported once per page-count term, at the first call its value reaches; the additional
/// locations are the terms to rewrite, <see cref="FixContract.HugeSize.Size"/> says which
/// huge page.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RangeLengthInPagesAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.RangeLengthInPages,
        title: "Range length counted in pages, not bytes",
        messageFormat: "'{0}' ends its range at {1}, which adds a number of pages to a byte address: the range is {2}; write '{3}'",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Notifier ranges are byte addresses: [start, end). compound_nr(page), 1 << compound_order(page), HPAGE_PMD_NR "
            + "and pages_per_huge_page(h) count pages, so the range covers a few hundred bytes of the huge page instead of all of it "
            + "and secondary MMUs keep the rest mapped. Add PAGE_SIZE << compound_order(page), HPAGE_PMD_SIZE or huge_page_size(h).",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.RangeLengthInPages));

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    private protected override bool IsEnabled(KnownSymbols symbols) =>
        symbols.Linux is not null
        && !(symbols.RangeStart.IsEmpty && symbols.RangeEnd.IsEmpty && symbols.InvalidateRange.IsEmpty && symbols.RangeInit.IsEmpty);

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        var reported = new HashSet<SyntaxNode>();
        foreach (var invocation in RangeCalls(context, symbols))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            if (!RangeSyntax.TryGetRange(invocation, symbols, out _, out var end))
            {
                continue;
            }

            var form = RangeArithmetic.ClassifyAddress(end, symbols);
            if (!form.AddsPages)
            {
                continue;
            }

            var writes = form.Writes.Where(w => w.Term is not null && reported.Add(RangeArithmetic.Strip(w.Term).Syntax)).ToList();
            if (writes.Count == 0)
            {
                continue;
            }

            var first = writes[0];
            var term = RangeArithmetic.Strip(first.Term!).Syntax;
            var endText = RangeSyntax.OneLine(end.Syntax.ToString());
            var writeText = RangeSyntax.OneLine(first.Value.Syntax.ToString());
            var at = first.Value.Syntax == end.Syntax ? "'" + endText + "'" : "'" + endText + "' = '" + writeText + "'";
            context.ReportDiagnostic(Diagnostic.Create(
                Rule,
                invocation.Syntax.GetLocation(),
                writes.Select(w => RangeArithmetic.Strip(w.Term!).Syntax.GetLocation()),
                ImmutableDictionary<string, string?>.Empty.Add(FixContract.HugeSize.Size, RangeSyntax.SizeName(form.Term.Size)),
                invocation.TargetMethod.Name,
                at,
                Extent(form.Term.Size),
                Fixed(first.Value.Syntax, term)));
        }
    }

    /// <summary>The notifier range calls of the blocks, in source order.</summary>
    internal static IEnumerable<IInvocationOperation> RangeCalls(BodyAnalysisContext context, KnownSymbols symbols) =>
        context.OperationBlocks.Length == 1
            ? FlowCache.RangeCalls(context.Compilation, symbols, context.OperationBlocks[0])
            : context.OperationBlocks.SelectMany(b => FlowCache.RangeCalls(context.Compilation, symbols, b))
                .Distinct()
                .OrderBy(i => i.Syntax.SpanStart);

    private static string Extent(HugeSize size) => size switch
    {
        HugeSize.Compound => "1..512 bytes, not 4K..2M",
        HugeSize.Pmd => "512 bytes, not 2M",
        _ => "huge_page_size(h) / 4096 bytes, not huge_page_size(h)",
    };

    // The written end with the term in bytes: what the fix will write.
    private static string Fixed(SyntaxNode written, SyntaxNode term)
    {
        var replacement = term is ExpressionSyntax expression ? RangeSyntax.BytesForPageCount(expression) : null;
        var text = replacement is not null ? replacement.ToString() : term is IdentifierNameSyntax ? term + " * PAGE_SIZE" : "(" + term + ") * PAGE_SIZE";
        var whole = written.ToString();
        var offset = term.SpanStart - written.SpanStart;
        if (offset < 0 || offset + term.Span.Length > whole.Length)
        {
            return RangeSyntax.OneLine(text);
        }

        return RangeSyntax.OneLine(whole.Substring(0, offset) + text + whole.Substring(offset + term.Span.Length));
    }
}
