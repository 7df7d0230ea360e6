using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Sleep;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU004: a call that may sleep inside a callback that runs in atomic context
/// (<c>invalidate_range</c>, <c>change_pte</c>, <c>clear_flush_young</c>, <c>test_young</c>,
/// or a method marked <c>[AtomicContext]</c>), directly or through the compilation's own methods.
/// </summary>
/// <remarks>
/// Reported at the call inside the callback, from an operation action: live in the IDE for the
/// file being edited. Which methods are callbacks comes from <see cref="AtomicCallbacks"/>
/// (the ops table may be in another file) and the chain from <see cref="SleepOracle"/>.
/// </remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class SleepInAtomicCallbackAnalyzer : DiagnosticAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.SleepInAtomicCallback,
        title: "Call that may sleep inside a callback that must not sleep",
        messageFormat: "{0} callback '{1}' calls '{2}', which may sleep: {3}",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "invalidate_range, change_pte, clear_flush_young and test_young are called under the page-table spinlock: "
            + "they must not sleep, directly or through anything they call. Move sleeping work to invalidate_range_start/_end.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.SleepInAtomicCallback));

    private static readonly SyntaxKind[] FunctionKinds =
    {
        SyntaxKind.MethodDeclaration,
        SyntaxKind.LocalFunctionStatement,
        SyntaxKind.ParenthesizedLambdaExpression,
        SyntaxKind.SimpleLambdaExpression,
        SyntaxKind.AnonymousMethodExpression,
    };

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var symbols = KnownSymbols.Get(start.Compilation);
            if (symbols.IsEmpty || !MentionIndex.Get(start.Compilation, symbols).AnyMention(start.CancellationToken))
            {
                return;
            }

            var oracle = SleepOracle.Get(start.Compilation, start.Options);
            var callbacks = AtomicCallbacks.Get(start.Compilation);

            // Per function, not per operation: only callbacks are bound, found by a syntactic
            // pre-check on their name (or, for a lambda, on what its file names).
            var schemes = new InconsistentNotifierOpsAnalyzer.SequenceSchemes(start.Compilation);
            start.RegisterSyntaxNodeAction(c => AnalyzeFunction(c, oracle, callbacks, schemes), FunctionKinds);
        });
    }

    private static void AnalyzeFunction(SyntaxNodeAnalysisContext context, SleepOracle oracle, AtomicCallbacks callbacks, InconsistentNotifierOpsAnalyzer.SequenceSchemes schemes)
    {
        var model = context.SemanticModel;
        var ct = context.CancellationToken;
        IOperation? function;
        IMethodSymbol? callback;
        ImmutableArray<AtomicUse> uses;
        string callbackName;
        switch (context.Node)
        {
            case MethodDeclarationSyntax method when (method.Body is not null || method.ExpressionBody is not null)
                && callbacks.MayBeCallback(method.Identifier.ValueText, method.AttributeLists, ct):
                callback = model.GetDeclaredSymbol(method, ct);
                function = model.GetOperation(method, ct);
                uses = callback is null ? ImmutableArray<AtomicUse>.Empty : callbacks.UsesOf(callback, ct);
                callbackName = method.Identifier.ValueText;
                break;
            case LocalFunctionStatementSyntax local when callbacks.MayBeCallback(local.Identifier.ValueText, local.AttributeLists, ct):
                function = model.GetOperation(local, ct) as ILocalFunctionOperation;
                callback = (function as ILocalFunctionOperation)?.Symbol;
                uses = callback is null ? ImmutableArray<AtomicUse>.Empty : callbacks.UsesOf(callback, ct);
                callbackName = local.Identifier.ValueText;
                break;
            case AnonymousFunctionExpressionSyntax when callbacks.MayConvertLambdas(context.Node.SyntaxTree, ct):
                var lambda = model.GetOperation(context.Node, ct) as IAnonymousFunctionOperation;
                function = lambda;
                callback = lambda?.Symbol;
                uses = lambda is not null && callbacks.UseOf(lambda) is { } use ? ImmutableArray.Create(use) : ImmutableArray<AtomicUse>.Empty;
                callbackName = "lambda";
                break;
            default:
                return;
        }

        // A callback that must not sleep only when its range is not blockable is MMU014's.
        uses = uses.IsDefault ? uses : uses.RemoveAll(u => u.NonBlockable);
        if (function is null || callback is null || uses.IsDefaultOrEmpty || oracle.IsDeclaredNeverSleeping(callback))
        {
            return;
        }

        // Whether the callback is a sequence scheme itself: one answer for all its findings, asked
        // only when one of them can move to start.
        var isScheme = new Lazy<bool>(() => schemes.BodyBlocksRefault(function, ct));
        foreach (var operation in OwnOperations(function))
        {
            if (MayBeCall(operation))
            {
                Report(context, oracle, operation, uses, callbackName, isScheme);
            }
        }
    }

    private static void Report(SyntaxNodeAnalysisContext context, SleepOracle oracle, IOperation operation, ImmutableArray<AtomicUse> uses, string callbackName, Lazy<bool> isScheme)
    {
        if (!oracle.MaySleep(operation, context.CancellationToken, out var witness))
        {
            return;
        }

        var first = uses[0];
        bool canMove = true;
        var memberLocations = new List<Location>();
        foreach (var use in uses)
        {
            canMove &= use.CanMoveToStart;
            if (use.MemberLocation is { } location)
            {
                memberLocations.Add(location);
            }
        }

        var properties = ImmutableDictionary<string, string?>.Empty.Add(FixContract.SleepInAtomicCallback.Role, first.Role);
        if (oracle.SleepsOnlyForItsGfpFlags(operation, context.CancellationToken, out var gfpOrdinal))
        {
            properties = properties.Add(FixContract.Allocation.GfpParameter, gfpOrdinal.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (canMove && memberLocations.Count == uses.Length)
        {
            properties = properties.Add(FixContract.SleepInAtomicCallback.CanMoveToStart, FixContract.True);

            // As a start with no end, the callback would need a sequence scheme (MMU011); one that
            // is a scheme already must not run twice per invalidation.
            if (!isScheme.Value)
            {
                properties = properties.Add(FixContract.SleepInAtomicCallback.AlsoEnd, FixContract.True);
            }
        }
        else
        {
            memberLocations.Clear();
        }

        context.ReportDiagnostic(Diagnostic.Create(
            Rule,
            ReportLocation(operation),
            memberLocations,
            properties,
            first.Role,
            callbackName,
            witness.Callee,
            witness.MessageChain));
    }

    /// <summary>An operation that can call code (and so sleep): shared with MMU014.</summary>
    internal static bool MayBeCall(IOperation operation) => operation switch
    {
        IInvocationOperation or IObjectCreationOperation or IPropertyReferenceOperation or ILockOperation or IAwaitOperation => true,
        IBinaryOperation binary => binary.OperatorMethod is not null,
        IUnaryOperation unary => unary.OperatorMethod is not null,
        IConversionOperation conversion => conversion.OperatorMethod is not null,
        IIncrementOrDecrementOperation increment => increment.OperatorMethod is not null,
        ICompoundAssignmentOperation compound => compound.OperatorMethod is not null,
        _ => false,
    };

    // The function's own operations: a lambda or local function inside it is a function of its own.
    internal static IEnumerable<IOperation> OwnOperations(IOperation function)
    {
        var stack = new Stack<IOperation>();
        stack.Push(function);
        while (stack.Count > 0)
        {
            var operation = stack.Pop();
            yield return operation;
            foreach (var child in operation.ChildOperations)
            {
                if (child is not (IAnonymousFunctionOperation or ILocalFunctionOperation))
                {
                    stack.Push(child);
                }
            }
        }
    }

    // The squiggle goes under the part a reader changes: the call, or `lock (x)`.
    private static Location ReportLocation(IOperation operation)
    {
        if (operation.Syntax is LockStatementSyntax lockStatement)
        {
            return Location.Create(
                lockStatement.SyntaxTree,
                Microsoft.CodeAnalysis.Text.TextSpan.FromBounds(lockStatement.LockKeyword.SpanStart, lockStatement.CloseParenToken.Span.End));
        }

        return operation.Syntax.GetLocation();
    }
}
