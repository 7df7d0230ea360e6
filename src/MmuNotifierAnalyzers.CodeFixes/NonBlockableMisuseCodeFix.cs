using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU014 fix, for a callback that may sleep where its range is not proven blockable: refuse the
/// range first, as the 4.19 conversion (93065ac753e4) did in the drivers that could not avoid
/// sleeping — <c>if (!mmu_notifier_range_blockable(range)) return -EAGAIN;</c> (<c>return false;</c>
/// in an interval notifier's <c>invalidate</c>). The guard goes right before the top-level statement
/// of the callback's body that holds its first unguarded sleeping call (the analyzer's additional
/// location): the top of the body when that is the first statement. Every finding of one callback
/// asks for the same guard, so Fix All adds it once. Not offered for <c>invalidate_range_end_range</c>
/// (it cannot refuse), for an expression-bodied callback, or when the tree no longer matches.
/// Part (a) findings (an end or a page-table change after a refused start) have no fix: what the
/// refused path must skip is the caller's design.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(NonBlockableMisuseCodeFix)), Shared]
public sealed class NonBlockableMisuseCodeFix : GuardedCodeFixProvider
{
    public const string EquivalenceKey = "MMU014.RefuseNonBlockable";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.NonBlockableMisuse);

    public override FixAllProvider GetFixAllProvider() => MergedFixAll(keysAreAlternatives: false);

    protected override Task RegisterAsync(CodeFixContext context)
    {
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(RangeFixProperties.RefuseProperty, out var refuse) || refuse is null
                || !diagnostic.Properties.TryGetValue(RangeFixProperties.RangeParameterProperty, out var range) || range is null
                || diagnostic.AdditionalLocations.Count == 0)
            {
                continue;
            }

            var document = context.Document;
            var anchor = diagnostic.AdditionalLocations[0].SourceSpan;
            context.RegisterCodeFix(
                Fix("Return " + refuse + " when the range is not blockable", document, ct => GuardAsync(document, anchor, range, refuse, ct), EquivalenceKey),
                diagnostic);
        }

        return Task.CompletedTask;
    }

    private static async Task<Document?> GuardAsync(Document document, TextSpan anchorSpan, string range, string refuse, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var text = await document.GetTextAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || model is null
            || root.FindNode(anchorSpan, getInnermostNodeForTie: true).AncestorsAndSelf().OfType<StatementSyntax>().FirstOrDefault(s => s.Span == anchorSpan) is not { Parent: BlockSyntax body } anchor
            || !DeclaresParameter(body.Parent, range)
            || IsGuard(body.Statements.IndexOf(anchor) is > 0 and var i ? body.Statements[i - 1] : null, range))
        {
            return null;
        }

        // Qualified only where the Linux statics are not in scope.
        var linux = model.LookupSymbols(anchor.SpanStart, name: "mmu_notifier_range_blockable").Any(s => s is IMethodSymbol) ? string.Empty : "global::Kernel.Mm.Linux.";
        var value = refuse == RangeFixProperties.RefuseWithEagain ? "-" + linux + "EAGAIN" : "false";

        // Before the statement's leading comments, at its indentation, in the document's line endings.
        var first = anchor.GetLeadingTrivia().FirstOrDefault(t => !t.IsKind(SyntaxKind.WhitespaceTrivia) && !t.IsKind(SyntaxKind.EndOfLineTrivia));
        var line = text.Lines.GetLineFromPosition(first.IsKind(SyntaxKind.None) ? anchor.SpanStart : first.SpanStart);
        var lineText = line.ToString();
        var indent = lineText.Substring(0, lineText.Length - lineText.TrimStart().Length);
        var eol = LineEndings.Of(root).ToString();
        var guard = indent + "if (!" + linux + "mmu_notifier_range_blockable(" + range + "))" + eol
            + indent + "    return " + value + ";" + eol;
        return document.WithText(text.WithChanges(new TextChange(new TextSpan(line.Start, 0), guard)));
    }

    private static bool DeclaresParameter(SyntaxNode? function, string name)
    {
        var parameters = function switch
        {
            BaseMethodDeclarationSyntax method => method.ParameterList.Parameters,
            LocalFunctionStatementSyntax local => local.ParameterList.Parameters,
            ParenthesizedLambdaExpressionSyntax lambda => lambda.ParameterList.Parameters,
            AnonymousMethodExpressionSyntax { ParameterList: { } list } => list.Parameters,
            SimpleLambdaExpressionSyntax simple => SyntaxFactory.SingletonSeparatedList(simple.Parameter),
            _ => default,
        };
        return parameters.Any(p => p.Identifier.ValueText == name);
    }

    // The guard this fix writes, already there (the analyzer then reports nothing; a stale diagnostic gets no second guard).
    private static bool IsGuard(StatementSyntax? statement, string range) =>
        statement is IfStatementSyntax { Condition: PrefixUnaryExpressionSyntax { Operand: InvocationExpressionSyntax call }, Statement: ReturnStatementSyntax }
        && call.ArgumentList.Arguments.Count == 1
        && call.ArgumentList.Arguments[0].Expression is IdentifierNameSyntax argument
        && argument.Identifier.ValueText == range;
}
