using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// What of a member declaration has an operation tree, and whose body each part is: the one
/// reading of member syntax for everything that binds a member only when a pre-check says so.
/// </summary>
internal static class MemberBodies
{
    /// <summary>A method's or accessor's body, a property's or indexer's arrow, a property's
    /// initializer, each field initializer, a top-level statement (or all of them, for the file).</summary>
    public static IEnumerable<SyntaxNode> Parts(SyntaxNode member)
    {
        switch (member)
        {
            case BaseMethodDeclarationSyntax method when method.Body is not null || method.ExpressionBody is not null:
                yield return member;
                break;
            case AccessorDeclarationSyntax accessor when accessor.Body is not null || accessor.ExpressionBody is not null:
                yield return member;
                break;
            case GlobalStatementSyntax:
                yield return member;
                break;
            case CompilationUnitSyntax unit when unit.Members.OfType<GlobalStatementSyntax>().Any():
                yield return member;
                break;
            case BaseFieldDeclarationSyntax field:
                foreach (var variable in field.Declaration.Variables)
                {
                    if (variable.Initializer is { } initializer)
                    {
                        yield return initializer;
                    }
                }

                break;
            case PropertyDeclarationSyntax property:
                if (property.ExpressionBody is { } arrow)
                {
                    yield return arrow;
                }

                if (property.Initializer is { } value)
                {
                    yield return value;
                }

                break;
            case IndexerDeclarationSyntax { ExpressionBody: { } indexerArrow }:
                yield return indexerArrow;
                break;
        }
    }

    /// <summary>Whose body <paramref name="part"/> is: the method or accessor, the getter for an
    /// arrow, the property or field for an initializer, the entry point for top-level statements.</summary>
    public static ISymbol? Owner(SemanticModel model, SyntaxNode part, CancellationToken cancellationToken) => part switch
    {
        ArrowExpressionClauseSyntax { Parent: BasePropertyDeclarationSyntax declaration } => (model.GetDeclaredSymbol(declaration, cancellationToken) as IPropertySymbol)?.GetMethod,
        EqualsValueClauseSyntax { Parent: { } declared } => model.GetDeclaredSymbol(declared, cancellationToken),
        _ => model.GetDeclaredSymbol(part, cancellationToken),
    };
}
