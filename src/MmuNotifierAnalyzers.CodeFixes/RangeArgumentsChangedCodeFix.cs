using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Simplification;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU003 fix: seed 004's convention. Declares <c>mmun_start</c> / <c>mmun_end</c> right before
/// the start, initialised with the start's own arguments (evaluated at the same point, so the
/// start sees the same values), and passes them, with the start's mm, to the start and to every
/// _end of that range in the function. Not offered when the function already declares one of
/// those names (it would be a second range: rename by hand), nor for the 4.20 range form.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RangeArgumentsChangedCodeFix))]
[Shared]
public sealed class RangeArgumentsChangedCodeFix : CodeFixProvider
{
    public const string EquivalenceKey = "MMU003.CaptureRange";
    private const string StartName = "mmun_start";
    private const string EndName = "mmun_end";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.RangeArgumentsChanged);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            if (diagnostic.AdditionalLocations.Count == 0
                || root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true)?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } end
                || root.FindNode(diagnostic.AdditionalLocations[0].SourceSpan, getInnermostNodeForTie: true)?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } start)
            {
                continue;
            }

            if (Capture(root, model, start, end, context.CancellationToken) is { } fixedRoot)
            {
                context.RegisterCodeFix(
                    CodeAction.Create("Capture the range in mmun_start/mmun_end and pass them to start and end", _ => Task.FromResult(context.Document.WithSyntaxRoot(fixedRoot)), EquivalenceKey),
                    diagnostic);
            }
        }
    }

    private static SyntaxNode? Capture(SyntaxNode root, SemanticModel model, InvocationExpressionSyntax start, InvocationExpressionSyntax end, CancellationToken cancellationToken)
    {
        if (start.ArgumentList.Arguments.Count != 3
            || end.ArgumentList.Arguments.Count != 3
            || start.Parent is not ExpressionStatementSyntax { Parent: BlockSyntax } startStatement
            || model.GetSymbolInfo(start, cancellationToken).Symbol is not IMethodSymbol opener
            || model.GetSymbolInfo(end, cancellationToken).Symbol is not IMethodSymbol closer
            || UnbalancedRangeFixHelpers.FunctionBody(start) is not { } body
            || opener.Parameters.Length != 3)
        {
            return null;
        }

        var declared = body.DescendantNodes().OfType<VariableDeclaratorSyntax>().Select(v => v.Identifier.ValueText)
            .Concat(body.DescendantNodes().OfType<SingleVariableDesignationSyntax>().Select(v => v.Identifier.ValueText));
        if (declared.Any(n => n is StartName or EndName) || model.LookupSymbols(start.SpanStart).Any(s => s.Name is StartName or EndName))
        {
            return null;
        }

        var startArgument = Argument(start, opener, 1);
        var endArgument = Argument(start, opener, 2);
        if (startArgument is null || endArgument is null)
        {
            return null;
        }

        // Every end of this range: same closer, same mm text, after the start (and before the next
        // start on that mm), in this function.
        var nextStart = body.DescendantNodes().OfType<InvocationExpressionSyntax>()
            .Where(i => i.SpanStart > start.SpanStart
                && UnbalancedRangeFixHelpers.InSameFunction(i, body)
                && SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(i, cancellationToken).Symbol?.OriginalDefinition, opener.OriginalDefinition)
                && i.ArgumentList.Arguments.Count > 0
                && i.ArgumentList.Arguments[0].Expression.IsEquivalentTo(start.ArgumentList.Arguments[0].Expression))
            .Select(i => i.SpanStart)
            .DefaultIfEmpty(int.MaxValue)
            .Min();
        var ends = body.DescendantNodes().OfType<InvocationExpressionSyntax>()
            .Where(i => i == end
                || (i.SpanStart > start.SpanStart
                    && i.SpanStart < nextStart
                    && UnbalancedRangeFixHelpers.InSameFunction(i, body)
                    && i.ArgumentList.Arguments.Count == 3
                    && SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(i, cancellationToken).Symbol?.OriginalDefinition, closer.OriginalDefinition)
                    && i.ArgumentList.Arguments[0].Expression.IsEquivalentTo(start.ArgumentList.Arguments[0].Expression)))
            .ToList();

        var mm = start.ArgumentList.Arguments[0].Expression.WithoutTrivia();
        var tracked = root.TrackNodes(ends.Cast<SyntaxNode>().Append(start).Append(startStatement));
        var rewritten = tracked.ReplaceNodes(
            ends.Select(e => tracked.GetCurrentNode(e)!).Append(tracked.GetCurrentNode(start)!),
            (original, current) => current.WithArgumentList(Arguments(mm)));

        var type = opener.Parameters[1].Type;
        var typeSyntax = SyntaxFactory.ParseTypeName(type.ToMinimalDisplayString(model, start.SpanStart)).WithAdditionalAnnotations(Simplifier.Annotation);
        var startStatementNow = rewritten.GetCurrentNode(startStatement)!;
        return UnbalancedRangeFixHelpers.InsertBefore(
            rewritten,
            startStatementNow,
            Declaration(typeSyntax, StartName, startArgument),
            Declaration(typeSyntax, EndName, endArgument));
    }

    private static ExpressionSyntax? Argument(InvocationExpressionSyntax call, IMethodSymbol method, int ordinal)
    {
        var arguments = call.ArgumentList.Arguments;
        for (var i = 0; i < arguments.Count; i++)
        {
            var name = arguments[i].NameColon?.Name.Identifier.ValueText;
            if ((name is null && i == ordinal) || (name is not null && name == method.Parameters[ordinal].Name))
            {
                return arguments[i].Expression.WithoutTrivia();
            }
        }

        return null;
    }

    private static ArgumentListSyntax Arguments(ExpressionSyntax mm) =>
        SyntaxFactory.ArgumentList(SyntaxFactory.SeparatedList(new[]
        {
            SyntaxFactory.Argument(mm),
            SyntaxFactory.Argument(SyntaxFactory.IdentifierName(StartName)),
            SyntaxFactory.Argument(SyntaxFactory.IdentifierName(EndName)),
        }));

    private static LocalDeclarationStatementSyntax Declaration(TypeSyntax type, string name, ExpressionSyntax value) =>
        SyntaxFactory.LocalDeclarationStatement(
            SyntaxFactory.VariableDeclaration(
                type,
                SyntaxFactory.SingletonSeparatedList(
                    SyntaxFactory.VariableDeclarator(SyntaxFactory.Identifier(name))
                        .WithInitializer(SyntaxFactory.EqualsValueClause(value)))))
            .WithAdditionalAnnotations(Formatter.Annotation);
}
