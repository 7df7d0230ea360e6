using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Simplification;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// The MMU003 transformation (seed 004's convention): declare <c>mmun_start</c> / <c>mmun_end</c>
/// (or the first free <c>mmun_startN</c> / <c>mmun_endN</c> pair) initialised with the start's
/// own arguments, and pass them, with the start's mm, to the start and to every _end of that range.
/// </summary>
internal static class RangeArgumentsCapture
{
    /// <summary>Put on every start and end whose arguments a capture rewrote.</summary>
    public static readonly SyntaxAnnotation Captured = new("MMU003.Captured");

    private const string StartName = "mmun_start";
    private const string EndName = "mmun_end";

    /// <summary>
    /// What a capture will write: decided by every check but the last (the rewrite itself and the
    /// check that it compiles run in <see cref="Apply"/>, in the code action).
    /// </summary>
    public sealed class Plan
    {
        public Plan(InvocationExpressionSyntax start, List<InvocationExpressionSyntax> ends, StatementSyntax anchor, BlockSyntax body, ExpressionSyntax mm, ExpressionSyntax startArgument, ExpressionSyntax endArgument, ITypeSymbol type, string startName, string endName)
        {
            Start = start;
            Ends = ends;
            Anchor = anchor;
            Body = body;
            Mm = mm;
            StartArgument = startArgument;
            EndArgument = endArgument;
            Type = type;
            StartName = startName;
            EndName = endName;
        }

        public InvocationExpressionSyntax Start { get; }

        public List<InvocationExpressionSyntax> Ends { get; }

        public StatementSyntax Anchor { get; }

        public BlockSyntax Body { get; }

        public ExpressionSyntax Mm { get; }

        public ExpressionSyntax StartArgument { get; }

        public ExpressionSyntax EndArgument { get; }

        public ITypeSymbol Type { get; }

        public string StartName { get; }

        public string EndName { get; }
    }

    /// <summary>The capture of <paramref name="start"/>'s range for <paramref name="end"/>, or null when the fix is not safe here.</summary>
    public static Plan? Check(SemanticModel model, InvocationExpressionSyntax start, InvocationExpressionSyntax end, CancellationToken cancellationToken)
    {
        if (start.ArgumentList.Arguments.Count != 3
            || end.ArgumentList.Arguments.Count != 3
            || start.Parent is not ExpressionStatementSyntax startStatement
            || model.GetSymbolInfo(start, cancellationToken).Symbol is not IMethodSymbol opener
            || model.GetSymbolInfo(end, cancellationToken).Symbol is not IMethodSymbol closer
            || UnbalancedRangeFixHelpers.FunctionBody(start) is not { } body
            || opener.Parameters.Length != 3
            || Argument(start, opener, 1) is not { } startArgument
            || Argument(start, opener, 2) is not { } endArgument)
        {
            return null;
        }

        // Every end of this range: same closer, same mm text, after the start (and before the next
        // start on that mm), in this function.
        var mmText = start.ArgumentList.Arguments[0].Expression;
        var nextStart = body.DescendantNodes().OfType<InvocationExpressionSyntax>()
            .Where(i => i.SpanStart > start.SpanStart
                && UnbalancedRangeFixHelpers.InSameFunction(i, body)
                && i.ArgumentList.Arguments.Count > 0
                && i.ArgumentList.Arguments[0].Expression.IsEquivalentTo(mmText)
                && SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(i, cancellationToken).Symbol?.OriginalDefinition, opener.OriginalDefinition))
            .Select(i => i.SpanStart)
            .DefaultIfEmpty(int.MaxValue)
            .Min();
        var ends = body.DescendantNodes().OfType<InvocationExpressionSyntax>()
            .Where(i => i == end
                || (i.SpanStart > start.SpanStart
                    && i.SpanStart < nextStart
                    && UnbalancedRangeFixHelpers.InSameFunction(i, body)
                    && i.ArgumentList.Arguments.Count == 3
                    && i.ArgumentList.Arguments[0].Expression.IsEquivalentTo(mmText)
                    && SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(i, cancellationToken).Symbol?.OriginalDefinition, closer.OriginalDefinition)))
            .ToList();

        // The locals go right before the statement of the innermost block that holds the start and
        // all its ends (the locals must be in scope at every end): the start's own statement when
        // it sits in that block, else the if / loop / block statement that contains it.
        var anchor = Anchor(startStatement, ends);
        if (anchor is null)
        {
            return null;
        }

        if (anchor != startStatement && !CanHoist(model, startStatement, anchor, new[] { startArgument, endArgument }, cancellationToken))
        {
            return null;
        }

        var (startName, endName) = FreshNames(body, model, anchor.SpanStart);
        return new Plan(start, ends, anchor, body, mmText, startArgument, endArgument, opener.Parameters[1].Type, startName, endName);
    }

    /// <summary>
    /// <paramref name="root"/> with <paramref name="plan"/> written (<paramref name="model"/> is the
    /// model the plan was checked on), or null when the result would not compile where the original did.
    /// </summary>
    public static SyntaxNode? Apply(SyntaxNode root, SemanticModel model, Plan plan, CancellationToken cancellationToken)
    {
        var mm = plan.Mm.WithoutTrivia();
        var tracked = root.TrackNodes(plan.Ends.Cast<SyntaxNode>().Append(plan.Start).Append(plan.Anchor).Append(plan.Body));
        var rewritten = tracked.ReplaceNodes(
            plan.Ends.Select(e => tracked.GetCurrentNode(e)!).Append(tracked.GetCurrentNode(plan.Start)!),
            (original, current) => current.WithArgumentList(Arguments(mm, plan.StartName, plan.EndName)).WithAdditionalAnnotations(Captured));

        var typeSyntax = SyntaxFactory.ParseTypeName(plan.Type.ToMinimalDisplayString(model, plan.Start.SpanStart)).WithAdditionalAnnotations(Simplifier.Annotation);
        var result = UnbalancedRangeFixHelpers.InsertBefore(
            rewritten,
            rewritten.GetCurrentNode(plan.Anchor)!,
            Declaration(typeSyntax, plan.StartName, plan.StartArgument.WithoutTrivia()),
            Declaration(typeSyntax, plan.EndName, plan.EndArgument.WithoutTrivia()));

        // Safety net for what the checks above do not model (a goto that jumps over the new
        // declarations, a name the lookup missed): never write a fix that breaks the build.
        return AddsErrors(model, plan.Body, result, cancellationToken) ? null : result;
    }

    /// <summary>The statement, in the innermost block holding the start and every end, that contains the start.</summary>
    private static StatementSyntax? Anchor(StatementSyntax startStatement, List<InvocationExpressionSyntax> ends)
    {
        StatementSyntax current = startStatement;
        while (true)
        {
            var parent = current.Parent;
            if (parent is BlockSyntax block && ends.All(e => block.Span.Contains(e.Span)))
            {
                return current;
            }

            // Climb only through statements whose evaluation order Between knows; a catch or
            // finally block, a switch section or a label stops the fix.
            current = parent switch
            {
                BlockSyntax { Parent: BlockSyntax } nested => nested,
                BlockSyntax { Parent: ElseClauseSyntax { Parent: IfStatementSyntax owner } } => owner,
                BlockSyntax { Parent: TryStatementSyntax owner } when owner.Block == parent => owner,
                BlockSyntax { Parent: IfStatementSyntax or WhileStatementSyntax or DoStatementSyntax or ForStatementSyntax or CommonForEachStatementSyntax or LockStatementSyntax or UsingStatementSyntax or CheckedStatementSyntax } => (StatementSyntax)parent.Parent!,
                ElseClauseSyntax { Parent: IfStatementSyntax owner } => owner,
                IfStatementSyntax or WhileStatementSyntax or DoStatementSyntax or ForStatementSyntax or CommonForEachStatementSyntax or LockStatementSyntax or UsingStatementSyntax or CheckedStatementSyntax => (StatementSyntax)parent,
                _ => null!,
            };
            if (current is null)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Whether the start's arguments may be evaluated at <paramref name="anchor"/> instead of at the
    /// start: nothing evaluated on the way from the anchor to the start writes what they read, they
    /// read no variable declared on that way, and evaluating them where the start might not run
    /// cannot throw or have effects.
    /// </summary>
    private static bool CanHoist(SemanticModel model, StatementSyntax startStatement, StatementSyntax anchor, ExpressionSyntax[] arguments, CancellationToken cancellationToken)
    {
        // The start now runs only on some paths (if, else, loop body): its arguments will be
        // evaluated on all of them, so they must be plain values (no call, no division, no
        // dereference of something that may be null).
        if (!arguments.All(a => IsPlainValue(model, a, cancellationToken)))
        {
            return false;
        }

        var read = new HashSet<ISymbol>(SymbolEqualityComparer.Default);
        var readsMemory = false;
        foreach (var argument in arguments)
        {
            var flow = DataFlow(model, argument);
            if (flow is null)
            {
                return false;
            }

            read.UnionWith(flow.ReadInside);
            readsMemory |= argument.DescendantNodesAndSelf().Any(n => n is IdentifierNameSyntax && model.GetSymbolInfo(n, cancellationToken).Symbol is IFieldSymbol { IsConst: false });
        }

        foreach (var node in Between(startStatement, anchor))
        {
            var flow = DataFlow(model, node);
            if (flow is null)
            {
                return false;
            }

            // E.g. `if ((addr = next) != 0) start(mm, addr, end)`: the locals would capture addr
            // before the condition changes it, so the start would announce another range.
            if (flow.WrittenInside.Any(read.Contains) || flow.VariablesDeclared.Any(read.Contains))
            {
                return false;
            }

            // A field the arguments read may be written here directly or by a call; the analysis
            // trusts bool predicates (is_cow_mapping) as it does when comparing ranges.
            if (readsMemory && MayWriteMemory(model, node, cancellationToken))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The data flow of a statement or expression; null when the model cannot tell (half-typed code).</summary>
    private static DataFlowAnalysis? DataFlow(SemanticModel model, SyntaxNode node)
    {
        try
        {
            var flow = node switch
            {
                StatementSyntax statement => model.AnalyzeDataFlow(statement),
                ExpressionSyntax expression => model.AnalyzeDataFlow(expression),
                _ => null,
            };
            return flow is { Succeeded: true } ? flow : null;
        }
        catch (System.ArgumentException)
        {
            // Thrown for a node the model does not analyse (not in a member body): no fix.
            return null;
        }
    }

    /// <summary>What runs, on the way from <paramref name="anchor"/> into <paramref name="startStatement"/>, before the start.</summary>
    private static IEnumerable<SyntaxNode> Between(StatementSyntax startStatement, StatementSyntax anchor)
    {
        for (SyntaxNode child = startStatement; child != anchor && child.Parent is { } parent; child = parent)
        {
            switch (parent)
            {
                case BlockSyntax block:
                    foreach (var earlier in block.Statements.TakeWhile(s => s != child))
                    {
                        yield return earlier;
                    }

                    break;
                case IfStatementSyntax ifStatement when child != ifStatement.Condition:
                    yield return ifStatement.Condition;
                    break;
                case WhileStatementSyntax or DoStatementSyntax or ForStatementSyntax or CommonForEachStatementSyntax:
                    // Later iterations run the whole loop before the start again.
                    yield return parent;
                    break;
                case LockStatementSyntax lockStatement:
                    yield return lockStatement.Expression;
                    break;
                case UsingStatementSyntax { Declaration: { } declaration }:
                    foreach (var value in declaration.Variables.Select(v => v.Initializer?.Value).OfType<ExpressionSyntax>())
                    {
                        yield return value;
                    }

                    break;
                case UsingStatementSyntax { Expression: { } expression }:
                    yield return expression;
                    break;
            }
        }
    }

    private static bool MayWriteMemory(SemanticModel model, SyntaxNode node, CancellationToken cancellationToken)
    {
        foreach (var descendant in node.DescendantNodesAndSelf())
        {
            cancellationToken.ThrowIfCancellationRequested();
            switch (descendant)
            {
                case AssignmentExpressionSyntax assignment when !IsLocal(model, assignment.Left, cancellationToken):
                    return true;
                case PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PreIncrementExpression or (int)SyntaxKind.PreDecrementExpression } prefix when !IsLocal(model, prefix.Operand, cancellationToken):
                    return true;
                case PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PostIncrementExpression or (int)SyntaxKind.PostDecrementExpression } postfix when !IsLocal(model, postfix.Operand, cancellationToken):
                    return true;
                case ArgumentSyntax { RefKindKeyword.RawKind: not (int)SyntaxKind.None } argument when !IsLocal(model, argument.Expression, cancellationToken):
                    return true;
                case InvocationExpressionSyntax invocation when model.GetSymbolInfo(invocation, cancellationToken).Symbol is not IMethodSymbol { ReturnType.SpecialType: SpecialType.System_Boolean }:
                    return true;
                case ObjectCreationExpressionSyntax or ImplicitObjectCreationExpressionSyntax:
                    return true;
            }
        }

        return false;
    }

    private static bool IsLocal(SemanticModel model, ExpressionSyntax target, CancellationToken cancellationToken) =>
        target is DeclarationExpressionSyntax
        || model.GetSymbolInfo(target, cancellationToken).Symbol is ILocalSymbol { RefKind: RefKind.None } or IParameterSymbol { RefKind: RefKind.None } or IDiscardSymbol;

    /// <summary>Literals, locals, parameters, fields of non-null values and arithmetic over them: nothing that can throw or call.</summary>
    private static bool IsPlainValue(SemanticModel model, ExpressionSyntax expression, CancellationToken cancellationToken)
    {
        switch (expression)
        {
            case LiteralExpressionSyntax or ThisExpressionSyntax:
                return true;
            case ParenthesizedExpressionSyntax parenthesized:
                return IsPlainValue(model, parenthesized.Expression, cancellationToken);
            case CastExpressionSyntax cast:
                return IsPlainValue(model, cast.Expression, cancellationToken);
            case PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.UnaryPlusExpression or (int)SyntaxKind.UnaryMinusExpression or (int)SyntaxKind.BitwiseNotExpression or (int)SyntaxKind.LogicalNotExpression } unary:
                return IsPlainValue(model, unary.Operand, cancellationToken);
            case BinaryExpressionSyntax binary:
                return binary.Kind() is not (SyntaxKind.DivideExpression or SyntaxKind.ModuloExpression or SyntaxKind.CoalesceExpression or SyntaxKind.AsExpression or SyntaxKind.IsExpression)
                    && model.GetSymbolInfo(binary, cancellationToken).Symbol is not IMethodSymbol { MethodKind: MethodKind.UserDefinedOperator }
                    && IsPlainValue(model, binary.Left, cancellationToken)
                    && IsPlainValue(model, binary.Right, cancellationToken);
            case IdentifierNameSyntax identifier:
                return model.GetSymbolInfo(identifier, cancellationToken).Symbol is ILocalSymbol or IParameterSymbol or IFieldSymbol;
            case MemberAccessExpressionSyntax { RawKind: (int)SyntaxKind.SimpleMemberAccessExpression } member:
                return model.GetSymbolInfo(member, cancellationToken).Symbol switch
                {
                    IFieldSymbol { IsStatic: true } => true,
                    IFieldSymbol => IsNonNull(model, member.Expression, cancellationToken) && IsPlainValue(model, member.Expression, cancellationToken),
                    _ => false,
                };
            default:
                return false;
        }
    }

    /// <summary>A value type, or a local/parameter/field declared non-nullable.</summary>
    private static bool IsNonNull(SemanticModel model, ExpressionSyntax receiver, CancellationToken cancellationToken)
    {
        var symbol = model.GetSymbolInfo(receiver, cancellationToken).Symbol;
        var (type, annotation) = symbol switch
        {
            ILocalSymbol local => (local.Type, local.NullableAnnotation),
            IParameterSymbol parameter => (parameter.Type, parameter.NullableAnnotation),
            IFieldSymbol field => (field.Type, field.NullableAnnotation),
            _ => ((ITypeSymbol?)null, NullableAnnotation.None),
        };
        return receiver is ThisExpressionSyntax
            || (type is not null && (type.IsValueType ? type.OriginalDefinition.SpecialType != SpecialType.System_Nullable_T : annotation == NullableAnnotation.NotAnnotated));
    }

    /// <summary>mmun_start / mmun_end, or the first mmun_startN / mmun_endN (N = 2, 3, ...) pair the function does not use yet.</summary>
    private static (string Start, string End) FreshNames(BlockSyntax body, SemanticModel model, int position)
    {
        var taken = new HashSet<string>(body.DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText));
        taken.UnionWith(model.LookupSymbols(position).Select(s => s.Name));
        for (var n = 1; ; n++)
        {
            var suffix = n == 1 ? string.Empty : n.ToString(CultureInfo.InvariantCulture);
            if (!taken.Contains(StartName + suffix) && !taken.Contains(EndName + suffix))
            {
                return (StartName + suffix, EndName + suffix);
            }
        }
    }

    private static bool AddsErrors(SemanticModel model, BlockSyntax body, SyntaxNode result, CancellationToken cancellationToken)
    {
        var tree = model.SyntaxTree.WithRootAndOptions(result, model.SyntaxTree.Options);
        if (tree.GetRoot(cancellationToken).GetCurrentNode(body) is not { } newBody)
        {
            return true;
        }

        var compilation = model.Compilation.ReplaceSyntaxTree(model.SyntaxTree, tree);
        var newModel = compilation.GetSemanticModel(tree);
        var before = model.GetDiagnostics(body.Span, cancellationToken).Count(d => d.Severity == DiagnosticSeverity.Error);
        var after = newModel.GetDiagnostics(newBody.Span, cancellationToken).Count(d => d.Severity == DiagnosticSeverity.Error);
        return after > before;
    }

    private static ExpressionSyntax? Argument(InvocationExpressionSyntax call, IMethodSymbol method, int ordinal)
    {
        var arguments = call.ArgumentList.Arguments;
        for (var i = 0; i < arguments.Count; i++)
        {
            var name = arguments[i].NameColon?.Name.Identifier.ValueText;
            if ((name is null && i == ordinal) || (name is not null && name == method.Parameters[ordinal].Name))
            {
                return arguments[i].Expression;
            }
        }

        return null;
    }

    private static ArgumentListSyntax Arguments(ExpressionSyntax mm, string startName, string endName) =>
        SyntaxFactory.ArgumentList(SyntaxFactory.SeparatedList(new[]
        {
            SyntaxFactory.Argument(mm),
            SyntaxFactory.Argument(SyntaxFactory.IdentifierName(startName)),
            SyntaxFactory.Argument(SyntaxFactory.IdentifierName(endName)),
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
