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
/// MMU008 fix: the start is masked where it is written, and the end is kept at start + size:
/// <list type="bullet">
/// <item>the end is built on the start's own local (<c>mmun_end = mmun_start + size</c>): only the
/// start's write is masked (<c>mmun_start = address &amp; mask</c>);</item>
/// <item>start and end's base are the same plain value written as arguments of one call statement
/// (seed 003's <c>invalidate_range(mm, address, address + size)</c>): an aligned local <c>haddr</c>
/// (<c>haddr2</c>, ... when taken) is declared before the statement (the statement is wrapped in a
/// block when it is the body of an <c>if</c> / loop) and passed as the start and as the end's base;</item>
/// <item>otherwise, the same plain value not written between them: both are masked in place.</item>
/// </list>
/// Anything else (the start written several times, a start with side effects, the end built on
/// another value) gets no fix.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(HugeRangeNotAlignedCodeFix)), Shared]
public sealed class HugeRangeNotAlignedCodeFix : GuardedCodeFixProvider
{
    public const string EquivalenceKey = "MMU008.AlignStart";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.HugeRangeNotAligned);

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
            var plan = Plan.Create(root, model, diagnostic, context.CancellationToken);
            if (plan is null)
            {
                continue;
            }

            var document = context.Document;
            context.RegisterCodeFix(
                Fix(
                    "Align the range start to the huge page",
                    document,
                    _ => Task.FromResult<Document?>(document.WithSyntaxRoot(Apply(root, new[] { plan }))),
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

        var plans = new List<Plan>();
        foreach (var diagnostic in InSourceOrder(diagnostics))
        {
            var plan = Plan.Create(root, model, diagnostic, context.CancellationToken);
            if (plan is not null && !plans.Any(p => p.Overlaps(plan)))
            {
                plans.Add(plan);
            }
        }

        return plans.Count == 0 ? null : document.WithSyntaxRoot(Apply(root, plans));
    }

    /// <summary>Applies the plans one after another in source order, as fixing one diagnostic at a time
    /// does (so a second aligned local is named after the first).</summary>
    private static SyntaxNode Apply(SyntaxNode root, IReadOnlyList<Plan> plans)
    {
        var marks = new Dictionary<SyntaxNode, SyntaxAnnotation>();
        foreach (var plan in plans)
        {
            marks[plan.Start] = plan.StartMark;
            marks[plan.Base] = plan.BaseMark;
        }

        root = root.ReplaceNodes(marks.Keys, (original, rewritten) => rewritten.WithAdditionalAnnotations(marks[original]));
        foreach (var plan in plans)
        {
            root = plan.Apply(root);
        }

        return root;
    }

    private enum Shape
    {
        MaskStartOnly,
        IntroduceLocal,
        MaskBoth,
    }

    private sealed class Plan
    {
        private Plan(ExpressionSyntax start, ExpressionSyntax @base, string mask, Shape shape)
        {
            Start = start;
            Base = @base;
            Mask = mask;
            Kind = shape;
        }

        public ExpressionSyntax Start { get; }

        public ExpressionSyntax Base { get; }

        public SyntaxAnnotation StartMark { get; } = new();

        public SyntaxAnnotation BaseMark { get; } = new();

        private string Mask { get; }

        private Shape Kind { get; }

        public bool Overlaps(Plan other) =>
            Start.Span.OverlapsWith(other.Start.Span) || Base.Span.OverlapsWith(other.Base.Span)
            || Start.Span.OverlapsWith(other.Base.Span) || Base.Span.OverlapsWith(other.Start.Span);

        public static Plan? Create(SyntaxNode root, SemanticModel model, Diagnostic diagnostic, CancellationToken cancellationToken)
        {
            if (!diagnostic.Properties.TryGetValue(FixContract.HugeSize.Size, out var size)
                || size is not (FixContract.HugeSize.Compound or FixContract.HugeSize.Pmd or FixContract.HugeSize.HugeTlb)
                || diagnostic.AdditionalLocations.Count <= FixContract.HugeRangeNotAligned.LengthLocation)
            {
                return null;
            }

            var start = RangeFixSyntax.ExpressionAt(root, diagnostic.AdditionalLocations[FixContract.HugeRangeNotAligned.StartLocation]);
            var @base = RangeFixSyntax.ExpressionAt(root, diagnostic.AdditionalLocations[FixContract.HugeRangeNotAligned.BaseLocation]);
            var length = RangeFixSyntax.ExpressionAt(root, diagnostic.AdditionalLocations[FixContract.HugeRangeNotAligned.LengthLocation]);
            var subject = diagnostic.AdditionalLocations.Count > FixContract.HugeRangeNotAligned.SubjectLocation ? RangeFixSyntax.ExpressionAt(root, diagnostic.AdditionalLocations[FixContract.HugeRangeNotAligned.SubjectLocation]) : null;
            if (start is null || @base is null || length is null || (size != FixContract.HugeSize.Pmd && subject is null)
                || start.Span.OverlapsWith(@base.Span))
            {
                return null;
            }

            // Re-check what the analyzer proved: a huge-page length, a start not masked to it.
            var symbols = KnownSymbols.Get(model.Compilation);
            var lengthOperation = model.GetOperation(length, cancellationToken);
            var startOperation = model.GetOperation(start, cancellationToken);
            if (lengthOperation is null || startOperation is null)
            {
                return null;
            }

            var term = RangeArithmetic.ClassifyTerm(lengthOperation, symbols);
            if (RangeSyntax.SizeName(term.Size) != size || term.Size == HugeSize.None || term.Dimension is not (Dimension.Bytes or Dimension.Pages)
                || RangeArithmetic.ClassifyAddress(startOperation, symbols).Shape == AddressShape.Masked
                || model.GetTypeInfo(start, cancellationToken).ConvertedType?.SpecialType != SpecialType.System_UInt64)
            {
                return null;
            }

            var qualifier = RangeSyntax.QualifierIn(length) ?? RangeFixSyntax.LinuxQualifier(model, start.SpanStart, cancellationToken);
            var mask = RangeSyntax.MaskText(size, subject?.WithoutTrivia().ToString(), qualifier);

            if (@base is IdentifierNameSyntax baseName && IsWriteOf(start, baseName, model, cancellationToken))
            {
                return new Plan(start, @base, mask, Shape.MaskStartOnly);
            }

            if (!SyntaxFactory.AreEquivalent(start, @base) || !IsPlain(start) || (subject is not null && !IsPlain(subject)))
            {
                return null;
            }

            if (start.Parent is ArgumentSyntax { Parent: ArgumentListSyntax { Parent: InvocationExpressionSyntax { Parent: ExpressionStatementSyntax statement } } arguments }
                && @base.Ancestors().Contains(arguments)
                && statement.Parent is BlockSyntax or IfStatementSyntax or ElseClauseSyntax or WhileStatementSyntax or ForStatementSyntax or ForEachStatementSyntax or DoStatementSyntax)
            {
                return new Plan(start, @base, mask, Shape.IntroduceLocal);
            }

            return WrittenBetween(start, @base, model, cancellationToken) ? null : new Plan(start, @base, mask, Shape.MaskBoth);
        }

        public SyntaxNode Apply(SyntaxNode root)
        {
            var start = root.GetAnnotatedNodes(StartMark).OfType<ExpressionSyntax>().FirstOrDefault();
            var @base = root.GetAnnotatedNodes(BaseMark).OfType<ExpressionSyntax>().FirstOrDefault();
            if (start is null || @base is null)
            {
                return root;
            }

            var masked = RangeFixSyntax.AsAndOperand(start) + " & " + Mask;
            switch (Kind)
            {
                case Shape.MaskStartOnly:
                    return root.ReplaceNode(start, SyntaxFactory.ParseExpression(masked).WithTriviaFrom(start));

                case Shape.MaskBoth:
                    return root.ReplaceNodes(
                        new[] { start, @base },
                        (original, _) => original == start
                            ? SyntaxFactory.ParseExpression(masked).WithTriviaFrom(start)
                            : SyntaxFactory.ParseExpression("(" + masked + ")").WithTriviaFrom(original));

                default:
                    return IntroduceLocal(root, start, @base, masked);
            }
        }

        private static SyntaxNode IntroduceLocal(SyntaxNode root, ExpressionSyntax start, ExpressionSyntax @base, string masked)
        {
            var statement = start.FirstAncestorOrSelf<ExpressionStatementSyntax>();
            var member = statement?.FirstAncestorOrSelf<MemberDeclarationSyntax>();
            if (statement is null || member is null)
            {
                return root;
            }

            var name = FreeName(member);
            var eol = LineEndings.Of(statement);
            var rewritten = statement.ReplaceNodes(
                new[] { start, @base },
                (original, _) => SyntaxFactory.IdentifierName(name).WithTriviaFrom(original));
            var indentation = Indentation(statement.GetLeadingTrivia());
            var declaration = SyntaxFactory.ParseStatement("ulong " + name + " = " + masked + ";")
                .WithLeadingTrivia(statement.GetLeadingTrivia())
                .WithTrailingTrivia(eol);
            if (statement.Parent is BlockSyntax block)
            {
                var index = block.Statements.IndexOf(statement);
                var statements = block.Statements
                    .RemoveAt(index)
                    .InsertRange(index, new StatementSyntax[] { declaration, rewritten.WithLeadingTrivia(indentation) });
                return root.ReplaceNode(block, block.WithStatements(statements));
            }

            // The body of an if / else / loop: wrap it in a block at the parent's indentation.
            var outer = Indentation(statement.Parent!.GetLeadingTrivia());
            if (statement.Parent is ElseClauseSyntax elseClause)
            {
                outer = Indentation(elseClause.ElseKeyword.LeadingTrivia);
            }

            var wrapped = SyntaxFactory.Block(
                    SyntaxFactory.Token(outer, SyntaxKind.OpenBraceToken, SyntaxFactory.TriviaList(eol)),
                    SyntaxFactory.List(new StatementSyntax[] { declaration, rewritten.WithLeadingTrivia(indentation).WithTrailingTrivia(eol) }),
                    SyntaxFactory.Token(outer, SyntaxKind.CloseBraceToken, statement.GetTrailingTrivia()));
            return root.ReplaceNode(statement, wrapped);
        }

        private static SyntaxTriviaList Indentation(SyntaxTriviaList leading)
        {
            var last = leading.LastOrDefault();
            return last.IsKind(SyntaxKind.WhitespaceTrivia) ? SyntaxFactory.TriviaList(last) : SyntaxFactory.TriviaList();
        }

        private static string FreeName(SyntaxNode member)
        {
            var used = new HashSet<string>(
                member.DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText),
                System.StringComparer.Ordinal);
            if (!used.Contains("haddr"))
            {
                return "haddr";
            }

            for (var i = 2; ; i++)
            {
                if (!used.Contains("haddr" + i))
                {
                    return "haddr" + i;
                }
            }
        }

        // start is the value written to the local base names (its initializer or an assignment to it).
        private static bool IsWriteOf(ExpressionSyntax start, IdentifierNameSyntax @base, SemanticModel model, CancellationToken cancellationToken)
        {
            var local = model.GetSymbolInfo(@base, cancellationToken).Symbol as ILocalSymbol;
            if (local is null)
            {
                return false;
            }

            switch (start.Parent)
            {
                case EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax declarator } when declarator.Identifier.ValueText == local.Name:
                    return SymbolEqualityComparer.Default.Equals(model.GetDeclaredSymbol(declarator, cancellationToken), local);
                case AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression } assignment when assignment.Right == start:
                    return SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(assignment.Left, cancellationToken).Symbol, local);
                default:
                    return false;
            }
        }

        // A value read twice gives the same result: names, this, member accesses of those.
        private static bool IsPlain(ExpressionSyntax expression) => expression switch
        {
            IdentifierNameSyntax or ThisExpressionSyntax => true,
            MemberAccessExpressionSyntax access => IsPlain(access.Expression),
            ParenthesizedExpressionSyntax parenthesized => IsPlain(parenthesized.Expression),
            _ => false,
        };

        // Is a variable the start reads assigned between the start and the end's base?
        private static bool WrittenBetween(ExpressionSyntax start, ExpressionSyntax @base, SemanticModel model, CancellationToken cancellationToken)
        {
            var member = start.FirstAncestorOrSelf<MemberDeclarationSyntax>();
            if (member is null || !member.Span.Contains(@base.Span))
            {
                return true;
            }

            var read = start.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>()
                .Select(n => model.GetSymbolInfo(n, cancellationToken).Symbol)
                .OfType<ISymbol>()
                .ToImmutableHashSet(SymbolEqualityComparer.Default);
            var from = System.Math.Min(start.SpanStart, @base.SpanStart);
            var to = System.Math.Max(start.Span.End, @base.Span.End);
            foreach (var node in member.DescendantNodes(n => n.Span.IntersectsWith(Microsoft.CodeAnalysis.Text.TextSpan.FromBounds(from, to))))
            {
                ExpressionSyntax? target = node switch
                {
                    AssignmentExpressionSyntax assignment => assignment.Left,
                    PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PreIncrementExpression or (int)SyntaxKind.PreDecrementExpression } prefix => prefix.Operand,
                    PostfixUnaryExpressionSyntax postfix => postfix.Operand,
                    ArgumentSyntax { RefKindKeyword.RawKind: not (int)SyntaxKind.None } argument => argument.Expression,
                    _ => null,
                };
                if (target is not null && node.SpanStart >= from && node.SpanStart <= to
                    && model.GetSymbolInfo(target, cancellationToken).Symbol is { } written && read.Contains(written))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
