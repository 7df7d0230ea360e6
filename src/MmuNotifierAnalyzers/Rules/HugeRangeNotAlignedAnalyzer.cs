using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU008: a notifier range whose length is a huge page (<c>PAGE_SIZE &lt;&lt; compound_order(page)</c>,
/// <c>HPAGE_PMD_SIZE</c>, <c>huge_page_size(h)</c>, or MMU007's page-count forms of them) starts at an
/// address not masked to that size (seed 003, Andrea's bug 3: "it needs also an address &amp;=
/// (PAGE_SIZE &lt;&lt; compound_order(page)) - 1 to be safe"). Aligned: a masked value
/// (<see cref="RangeArithmetic"/>, through locals such as <c>haddr</c>), or a parameter that
/// <see cref="AlignmentProof"/> proves aligned. Reported once per start, at the first call it reaches.
/// Additional locations, when the start and the end are each written once: [0] the start as written,
/// [1] the <c>x</c> of the end's <c>x + length</c> as written, [2] the length term, [3] the page or
/// hstate (compound and hugetlb sizes only); <see cref="FixContract.HugeSize.Size"/> says which mask.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class HugeRangeNotAlignedAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.HugeRangeNotAligned,
        title: "Huge-page range start not aligned to the huge page",
        messageFormat: "'{0}' covers a huge page of '{1}' bytes but starts at '{2}', which is not masked to that size{3}: start at '{2} & {4}'",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Info,
        isEnabledByDefault: true,
        description: "A range meant to cover a whole compound or huge page must start at the page's first byte. An address inside the page "
            + "(a pte of a PTE-mapped THP, an rmap walk's address) plus the page's size covers the end of this page and the start of the next, "
            + "and misses the head. Mask the start with ~((PAGE_SIZE << compound_order(page)) - 1), HPAGE_PMD_MASK or huge_page_mask(h).",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.HugeRangeNotAligned));

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    private protected override bool IsEnabled(KnownSymbols symbols) =>
        symbols.Linux is not null
        && !(symbols.RangeStart.IsEmpty && symbols.RangeEnd.IsEmpty && symbols.InvalidateRange.IsEmpty && symbols.RangeInit.IsEmpty);

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        var reported = new HashSet<SyntaxNode>();
        foreach (var invocation in RangeLengthInPagesAnalyzer.RangeCalls(context, symbols))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            if (!RangeSyntax.TryGetRange(invocation, symbols, out var start, out var end))
            {
                continue;
            }

            var endForm = RangeArithmetic.ClassifyAddress(end, symbols);
            if (!endForm.CoversHugePage)
            {
                continue;
            }

            var startForm = RangeArithmetic.ClassifyAddress(start, symbols);
            if (startForm.Shape == AddressShape.Masked && RangeArithmetic.MaskFits(startForm.Term, endForm.Term))
            {
                continue;
            }

            var isParameter = startForm.Shape == AddressShape.Parameter && startForm.Parameter is not null;
            if (isParameter && AlignmentProof.Get(symbols).IsAligned(startForm.Parameter!, RangeArithmetic.Root(start), endForm.Term, context.CancellationToken))
            {
                continue;
            }

            var startWrites = startForm.Writes.IsEmpty ? ImmutableArray.Create(new AddressWrite(start, null, null)) : startForm.Writes;
            var fresh = startWrites.Where(w => reported.Add(w.Value.Syntax)).ToList();
            if (fresh.Count == 0)
            {
                continue;
            }

            var size = RangeSyntax.SizeName(endForm.Term.Size);
            var subject = endForm.Term.Subject?.Syntax.ToString();
            var firstEnd = endForm.Writes[0];
            var qualifier = RangeSyntax.QualifierIn(RangeArithmetic.Strip(firstEnd.Term!).Syntax) ?? string.Empty;
            var locations = new List<Location>();
            if (startWrites.Length == 1 && endForm.Writes.Length == 1 && firstEnd.Base is not null && firstEnd.Term is not null)
            {
                locations.Add(startWrites[0].Value.Syntax.GetLocation());
                locations.Add(firstEnd.Base.Syntax.GetLocation());
                locations.Add(RangeArithmetic.Strip(firstEnd.Term).Syntax.GetLocation());
                if (endForm.Term.Subject is not null)
                {
                    locations.Add(endForm.Term.Subject.Syntax.GetLocation());
                }
            }

            var startText = RangeSyntax.OneLine(fresh[0].Value.Syntax.ToString());
            context.ReportDiagnostic(Diagnostic.Create(
                Rule,
                invocation.Syntax.GetLocation(),
                locations,
                ImmutableDictionary<string, string?>.Empty.Add(FixContract.HugeSize.Size, size),
                invocation.TargetMethod.Name,
                RangeSyntax.OneLine(RangeSyntax.SizeText(size, subject, qualifier)),
                startText,
                isParameter ? " (no call of '" + startForm.Parameter!.ContainingSymbol.Name + "' in this compilation proves '" + startForm.Parameter.Name + "' aligned)" : string.Empty,
                RangeSyntax.OneLine(RangeSyntax.MaskText(size, subject, qualifier))));
        }
    }
}
