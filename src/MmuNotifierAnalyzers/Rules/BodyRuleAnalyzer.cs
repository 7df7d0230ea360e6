using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// The registration every rule over a member's body shares: concurrent, generated code skipped,
/// nothing registered in a compilation that references neither Kernel.Mm nor our annotations or
/// whose files name nothing any rule looks for (<see cref="MentionIndex.AnyMention"/>), and no
/// operation tree built for a body that names nothing the analyses model.
/// </summary>
/// <remarks>
/// Rules register a syntax-node action on member declarations, not an operation-block action:
/// an operation action of any analyzer makes the driver build the operation tree of every body
/// in the compilation, while our rules need it for the few that call the API. <see cref="BodyRelevance"/>
/// decides that from tokens; only then is the body bound and its operation tree requested.
/// </remarks>
public abstract class BodyRuleAnalyzer : DiagnosticAnalyzer
{
    private static readonly SyntaxKind[] DeclarationKinds =
    {
        SyntaxKind.MethodDeclaration,
        SyntaxKind.ConstructorDeclaration,
        SyntaxKind.DestructorDeclaration,
        SyntaxKind.OperatorDeclaration,
        SyntaxKind.ConversionOperatorDeclaration,
        SyntaxKind.GetAccessorDeclaration,
        SyntaxKind.SetAccessorDeclaration,
        SyntaxKind.InitAccessorDeclaration,
        SyntaxKind.AddAccessorDeclaration,
        SyntaxKind.RemoveAccessorDeclaration,
        SyntaxKind.PropertyDeclaration,
        SyntaxKind.IndexerDeclaration,
        SyntaxKind.FieldDeclaration,
        SyntaxKind.CompilationUnit,
    };

    /// <inheritdoc/>
    public sealed override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var symbols = KnownSymbols.Get(start.Compilation);
            if (IsEnabled(symbols) && MentionIndex.Get(start.Compilation, symbols).AnyMention(start.CancellationToken))
            {
                var relevance = BodyRelevance.Get(start.Compilation, symbols);
                start.RegisterSyntaxNodeAction(node => AnalyzeDeclaration(node, symbols, relevance), DeclarationKinds);
            }
        });
    }

    /// <summary>Whether the compilation has what the rule looks for.</summary>
    private protected virtual bool IsEnabled(KnownSymbols symbols) => !symbols.IsEmpty;

    private protected abstract void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols);

    /// <summary>Whether the declaration's body is worth binding for this rule (by default: it names a
    /// modelled method; MMU013 asks its own duty index, MMU014 also its callbacks).</summary>
    private protected virtual bool IsRelevant(SyntaxNodeAnalysisContext context, KnownSymbols symbols, BodyRelevance relevance) =>
        relevance.IsRelevant(context.Node, context.CancellationToken);

    private void AnalyzeDeclaration(SyntaxNodeAnalysisContext context, KnownSymbols symbols, BodyRelevance relevance)
    {
        var node = context.Node;
        if (!IsRelevant(context, symbols, relevance))
        {
            return;
        }

        var model = context.SemanticModel;
        foreach (var part in MemberBodies.Parts(node))
        {
            Analyze(context, symbols, MemberBodies.Owner(model, part, context.CancellationToken), model.GetOperation(part, context.CancellationToken));
        }
    }

    private void Analyze(SyntaxNodeAnalysisContext context, KnownSymbols symbols, ISymbol? owner, IOperation? body)
    {
        if (owner is not null && body is not null)
        {
            AnalyzeBlock(new BodyAnalysisContext(context, owner, ImmutableArray.Create(body)), symbols);
        }
    }
}
