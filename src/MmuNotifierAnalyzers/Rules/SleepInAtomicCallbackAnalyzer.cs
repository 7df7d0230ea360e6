using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
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
    /// <summary>Diagnostic property: the fix can rename the ops member to invalidate_range_start.</summary>
    public const string CanMoveToStartProperty = "CanMoveToStart";

    /// <summary>Diagnostic property: the ops member the callback is assigned to.</summary>
    public const string RoleProperty = "Role";

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

    private static readonly OperationKind[] Kinds =
    {
        OperationKind.Invocation,
        OperationKind.ObjectCreation,
        OperationKind.PropertyReference,
        OperationKind.Lock,
        OperationKind.Await,
        OperationKind.Binary,
        OperationKind.Unary,
        OperationKind.Conversion,
        OperationKind.Increment,
        OperationKind.Decrement,
        OperationKind.CompoundAssignment,
    };

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var symbols = KnownSymbols.Get(start.Compilation);
            if (symbols.IsEmpty)
            {
                return;
            }

            var oracle = SleepOracle.Get(start.Compilation, start.Options);
            var callbacks = AtomicCallbacks.Get(start.Compilation);
            var methodUses = new ConcurrentDictionary<IMethodSymbol, ImmutableArray<AtomicUse>>(SymbolEqualityComparer.Default);
            start.RegisterOperationAction(c => Analyze(c, oracle, callbacks, methodUses), Kinds);
        });
    }

    private static void Analyze(
        OperationAnalysisContext context,
        SleepOracle oracle,
        AtomicCallbacks callbacks,
        ConcurrentDictionary<IMethodSymbol, ImmutableArray<AtomicUse>> methodUses)
    {
        var operation = context.Operation;
        if (!MayBeCall(operation))
        {
            return;
        }

        // The function this operation runs in: the nearest lambda or local function, else
        // the member being analyzed.
        ImmutableArray<AtomicUse> uses;
        string callbackName;
        IMethodSymbol? callbackSymbol;
        var function = EnclosingFunction(operation);
        if (function is IAnonymousFunctionOperation lambda)
        {
            var use = callbacks.UseOf(lambda);
            uses = use is null ? ImmutableArray<AtomicUse>.Empty : ImmutableArray.Create(use);
            callbackSymbol = lambda.Symbol;
            callbackName = "lambda";
        }
        else
        {
            callbackSymbol = function is ILocalFunctionOperation local ? local.Symbol : context.ContainingSymbol as IMethodSymbol;
            if (callbackSymbol is null)
            {
                return;
            }

            var ct = context.CancellationToken;
            uses = methodUses.GetOrAdd(callbackSymbol.OriginalDefinition, m => callbacks.UsesOf(m, ct));
            callbackName = callbackSymbol.Name;
        }

        if (uses.IsDefaultOrEmpty || (callbackSymbol is not null && oracle.IsDeclaredNeverSleeping(callbackSymbol)))
        {
            return;
        }

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

        var properties = ImmutableDictionary<string, string?>.Empty.Add(RoleProperty, first.Role);
        if (canMove && memberLocations.Count == uses.Length)
        {
            properties = properties.Add(CanMoveToStartProperty, "true");
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

    private static bool MayBeCall(IOperation operation) => operation switch
    {
        IInvocationOperation or IObjectCreationOperation or IPropertyReferenceOperation or ILockOperation or IAwaitOperation => true,
        IBinaryOperation binary => binary.OperatorMethod is not null,
        IUnaryOperation unary => unary.OperatorMethod is not null,
        IConversionOperation conversion => conversion.OperatorMethod is not null,
        IIncrementOrDecrementOperation increment => increment.OperatorMethod is not null,
        ICompoundAssignmentOperation compound => compound.OperatorMethod is not null,
        _ => false,
    };

    private static IOperation? EnclosingFunction(IOperation operation)
    {
        for (var parent = operation.Parent; parent is not null; parent = parent.Parent)
        {
            if (parent is IAnonymousFunctionOperation or ILocalFunctionOperation)
            {
                return parent;
            }
        }

        return null;
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
