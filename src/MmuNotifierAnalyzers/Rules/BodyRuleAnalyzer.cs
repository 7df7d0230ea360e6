using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// The registration every rule over a member's body shares: concurrent, generated code skipped,
/// nothing registered in a compilation that references neither Kernel.Mm nor our annotations, and
/// no operation tree built for a body that names nothing the analyses model.
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
            if (IsEnabled(symbols))
            {
                var relevance = BodyRelevance.Get(start.Compilation, symbols);
                start.RegisterSyntaxNodeAction(node => AnalyzeDeclaration(node, symbols, relevance), DeclarationKinds);
            }
        });
    }

    /// <summary>Whether the compilation has what the rule looks for.</summary>
    private protected virtual bool IsEnabled(KnownSymbols symbols) => !symbols.IsEmpty;

    private protected abstract void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols);

    private void AnalyzeDeclaration(SyntaxNodeAnalysisContext context, KnownSymbols symbols, BodyRelevance relevance)
    {
        var node = context.Node;
        if (!relevance.IsRelevant(node, context.CancellationToken))
        {
            return;
        }

        var model = context.SemanticModel;
        var ct = context.CancellationToken;
        switch (node)
        {
            case BaseMethodDeclarationSyntax method when method.Body is not null || method.ExpressionBody is not null:
                Analyze(context, symbols, model.GetDeclaredSymbol(method, ct), model.GetOperation(method, ct));
                break;
            case AccessorDeclarationSyntax accessor when accessor.Body is not null || accessor.ExpressionBody is not null:
                Analyze(context, symbols, model.GetDeclaredSymbol(accessor, ct), model.GetOperation(accessor, ct));
                break;
            case PropertyDeclarationSyntax property:
                if (property.ExpressionBody is { } propertyArrow)
                {
                    Analyze(context, symbols, model.GetDeclaredSymbol(property, ct)?.GetMethod, model.GetOperation(propertyArrow, ct));
                }

                if (property.Initializer is { } initializer)
                {
                    Analyze(context, symbols, model.GetDeclaredSymbol(property, ct), model.GetOperation(initializer, ct));
                }

                break;
            case IndexerDeclarationSyntax { ExpressionBody: { } indexerArrow } indexer:
                Analyze(context, symbols, model.GetDeclaredSymbol(indexer, ct)?.GetMethod, model.GetOperation(indexerArrow, ct));
                break;
            case BaseFieldDeclarationSyntax field:
                foreach (var variable in field.Declaration.Variables)
                {
                    if (variable.Initializer is { } value)
                    {
                        Analyze(context, symbols, model.GetDeclaredSymbol(variable, ct), model.GetOperation(value, ct));
                    }
                }

                break;
            case CompilationUnitSyntax unit:
                // Top-level statements: one body, the synthesized entry point.
                if (model.GetDeclaredSymbol(unit, ct) is { } entryPoint)
                {
                    Analyze(context, symbols, entryPoint, model.GetOperation(unit, ct));
                }

                break;
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
