using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU001: <c>mmu_notifier_invalidate_page</c> and the <c>invalidate_page</c> callback were removed
/// in 4.13 (seeds 000/001, 003). Fires on every call to the Kernel.Mm function (by symbol) and on
/// every <c>invalidate_page = ...</c> assignment to an <c>mmu_notifier_ops</c> member (object
/// initializer, <c>with</c> expression, or a settable member).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class InvalidatePageAnalyzer : DiagnosticAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.InvalidatePageRemoved,
        title: "invalidate_page is removed: use the range API",
        messageFormat: "'{0}' uses invalidate_page, removed in 4.13 (it ran after the page-table lock was dropped and covered one small page only): {1}",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "mmu_notifier_invalidate_page was called after the page-table lock was released, so a new page could be mapped "
            + "before secondary MMUs were told, and it passed a single address, so implementations missed huge pages. "
            + "Bracket the page-table update with mmu_notifier_invalidate_range_start/_end (and mmu_notifier_invalidate_range under the lock); "
            + "notifiers implement invalidate_range_start/_end or invalidate_range.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.InvalidatePageRemoved));

    private static readonly ImmutableDictionary<string, string?> CallProperties =
        ImmutableDictionary<string, string?>.Empty.Add(FixContract.InvalidatePage.Kind, FixContract.InvalidatePage.Call);

    private static readonly ImmutableDictionary<string, string?> OpsProperties =
        ImmutableDictionary<string, string?>.Empty.Add(FixContract.InvalidatePage.Kind, FixContract.InvalidatePage.OpsMember);

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

            // Syntax first, by name (a call or an assignment of these symbols always spells
            // their name); only a match is bound, so other methods get no operation tree.
            if (!symbols.InvalidatePage.IsEmpty)
            {
                var names = symbols.InvalidatePage.Select(m => m.Name).ToImmutableHashSet();
                start.RegisterSyntaxNodeAction(c => AnalyzeInvocation(c, symbols, names), SyntaxKind.InvocationExpression);
            }

            if (symbols.OpsInvalidatePage is { } member)
            {
                start.RegisterSyntaxNodeAction(c => AnalyzeAssignment(c, symbols, member.Name), SyntaxKind.SimpleAssignmentExpression);
            }
        });
    }

    private static void AnalyzeInvocation(SyntaxNodeAnalysisContext context, KnownSymbols symbols, ImmutableHashSet<string> names)
    {
        var syntax = (InvocationExpressionSyntax)context.Node;
        if (!names.Contains(SimpleName(syntax.Expression))
            || context.SemanticModel.GetOperation(syntax, context.CancellationToken) is not IInvocationOperation invocation
            || !KnownSymbols.Is(invocation.TargetMethod, symbols.InvalidatePage))
        {
            return;
        }

        var mm = ArgumentText(invocation, 0, "mm");
        var advice = "bracket the page-table update with mmu_notifier_invalidate_range_start/_end on " + mm
            + " outside the page-table lock, and call mmu_notifier_invalidate_range under it";
        context.ReportDiagnostic(Diagnostic.Create(Rule, invocation.Syntax.GetLocation(), CallProperties, CallText(invocation), advice));
    }

    private static void AnalyzeAssignment(SyntaxNodeAnalysisContext context, KnownSymbols symbols, string memberName)
    {
        var syntax = (AssignmentExpressionSyntax)context.Node;
        if (SimpleName(syntax.Left) != memberName
            || context.SemanticModel.GetOperation(syntax, context.CancellationToken) is not ISimpleAssignmentOperation assignment
            || assignment.Target is not IPropertyReferenceOperation target
            || !SymbolEqualityComparer.Default.Equals(target.Property.OriginalDefinition, symbols.OpsInvalidatePage))
        {
            return;
        }

        // invalidate_page = null sets nothing.
        if (assignment.Value.ConstantValue is { HasValue: true, Value: null })
        {
            return;
        }

        var properties = OpsProperties;
        if (SetsRangeCallback(assignment, symbols))
        {
            properties = properties.Add(FixContract.InvalidatePage.TableHasRangeCallback, FixContract.True);
        }

        if (CallbackMaySleep(context, assignment.Value))
        {
            properties = properties.Add(FixContract.InvalidatePage.CallbackMaySleep, FixContract.True);
        }

        var advice = "no caller invokes the callback any more; implement invalidate_range_start/_end (may sleep) or invalidate_range (atomic) instead";
        context.ReportDiagnostic(Diagnostic.Create(Rule, assignment.Syntax.GetLocation(), properties, "invalidate_page = " + Shorten(assignment.Value.Syntax.ToString()), advice));
    }

    // The same initializer sets invalidate_range_start, _end or invalidate_range to something.
    private static bool SetsRangeCallback(ISimpleAssignmentOperation assignment, KnownSymbols symbols)
    {
        if (assignment.Parent is not IObjectOrCollectionInitializerOperation initializer)
        {
            return false;
        }

        foreach (var other in initializer.Initializers)
        {
            if (other is ISimpleAssignmentOperation { Target: IPropertyReferenceOperation target } set
                && !(set.Value.ConstantValue is { HasValue: true, Value: null })
                && (Is(target.Property, symbols.OpsInvalidateRangeStart) || Is(target.Property, symbols.OpsInvalidateRangeEnd) || Is(target.Property, symbols.OpsInvalidateRange)))
            {
                return true;
            }
        }

        return false;

        static bool Is(IPropertySymbol property, IPropertySymbol? member) =>
            member is not null && SymbolEqualityComparer.Default.Equals(property.OriginalDefinition, member);
    }

    // What the oracle proves of the callback assigned: a method or a lambda that may sleep. A
    // delegate read from elsewhere is not known.
    private static bool CallbackMaySleep(SyntaxNodeAnalysisContext context, IOperation value)
    {
        while (value is IConversionOperation conversion)
        {
            value = conversion.Operand;
        }

        IMethodSymbol? callback = value switch
        {
            IDelegateCreationOperation { Target: IMethodReferenceOperation reference } => reference.Method,
            IDelegateCreationOperation { Target: IAnonymousFunctionOperation lambda } => lambda.Symbol,
            IAnonymousFunctionOperation lambda => lambda.Symbol,
            _ => null,
        };
        return callback is not null
            && Core.Sleep.SleepOracle.Get(context.Compilation, context.Options).MaySleep(callback, context.CancellationToken, out _);
    }

    private static string SimpleName(ExpressionSyntax expression) => expression switch
    {
        SimpleNameSyntax name => name.Identifier.ValueText,
        MemberAccessExpressionSyntax access => access.Name.Identifier.ValueText,
        MemberBindingExpressionSyntax binding => binding.Name.Identifier.ValueText,
        AliasQualifiedNameSyntax alias => alias.Name.Identifier.ValueText,
        _ => string.Empty,
    };

    private static string CallText(IInvocationOperation invocation) =>
        invocation.TargetMethod.Name + "(" + ArgumentText(invocation, 0, "mm") + ", " + ArgumentText(invocation, 1, "address") + ")";

    private static string ArgumentText(IInvocationOperation invocation, int ordinal, string fallback)
    {
        foreach (var argument in invocation.Arguments)
        {
            if (argument.Parameter?.Ordinal == ordinal && argument.Value is { } value && !value.IsImplicit)
            {
                return Shorten(value.Syntax.ToString());
            }
        }

        return fallback;
    }

    // A message names the expression, not a page of it.
    private static string Shorten(string text)
    {
        text = text.Replace("\r", " ").Replace("\n", " ");
        return text.Length <= 60 ? text : text.Substring(0, 57) + "...";
    }
}
