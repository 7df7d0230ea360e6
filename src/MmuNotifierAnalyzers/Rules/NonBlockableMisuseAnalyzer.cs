using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Core.Sleep;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU014: non-blockable invalidation misused (4.19's OOM reaper, 93065ac753e4 "mm, oom:
/// distinguish blockable mode for mmu notifiers"). (a) After <c>mmu_notifier_invalidate_range_start_nonblock</c>
/// returned non-zero (or where its result is not yet tested) the path calls the matching end or
/// changes page tables: the range was never started. (b) A callback that may be asked not to block
/// (<c>invalidate_range_start_range</c> / <c>_end_range</c>, an interval notifier's <c>invalidate</c>)
/// reaches a call that may sleep on a path where <c>mmu_notifier_range_blockable(range)</c> was not
/// tested true. Both read <see cref="FlowResult"/>: the refused start and the unproven range are domains.
/// </summary>
/// <remarks>
/// What the findings carry for the fix: <see cref="FixContract.NonBlockable"/>.
/// </remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class NonBlockableMisuseAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor RefusedRule = new(
        RuleIdentifiers.NonBlockableMisuse,
        title: "Non-blockable invalidation misused",
        messageFormat: "'{0}' runs on a path where '{1}' at line {2} {3}: on -EAGAIN the range was never started (every notifier already had its end), so {4}",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "mmu_notifier_invalidate_range_start_nonblock returns -EAGAIN when a notifier would have to sleep; the range is then not started. The caller must skip it: no _end, no page-table change (__oom_reap_task_mm).",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.NonBlockableMisuse));

    internal static readonly DiagnosticDescriptor SleepRule = new(
        RuleIdentifiers.NonBlockableMisuse,
        title: "Non-blockable invalidation misused",
        messageFormat: "{0} callback '{1}' calls '{2}', which may sleep: {3}; on this path '{4}' is not proven blockable (the OOM reaper invalidates with a non-blockable range): {5}",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "A 4.20+ invalidate_range_start/_end callback or an interval notifier's invalidate may sleep only when mmu_notifier_range_blockable(range) is true; otherwise it must refuse (-EAGAIN, or false).",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.NonBlockableMisuse));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(RefusedRule, SleepRule);

    private protected override bool IsRelevant(SyntaxNodeAnalysisContext context, KnownSymbols symbols, BodyRelevance relevance) =>
        base.IsRelevant(context, symbols, relevance) || MayBeCallback(context.Node, context.Compilation, context.CancellationToken);

    private static bool MayBeCallback(SyntaxNode declaration, Compilation compilation, CancellationToken cancellationToken)
    {
        // A callback names nothing the flow models; it is found by name (or, for a lambda, by what its
        // file names). Only a method's body can hold a local function or lambda worth looking at.
        var callbacks = AtomicCallbacks.Get(compilation);
        if (declaration is not (BaseMethodDeclarationSyntax or BaseFieldDeclarationSyntax or BasePropertyDeclarationSyntax or AccessorDeclarationSyntax))
        {
            return false;
        }

        if (declaration is MethodDeclarationSyntax method && callbacks.MayBeCallback(method.Identifier.ValueText, method.AttributeLists, cancellationToken))
        {
            return true;
        }

        // A local function or lambda becomes a range-form or interval callback only by a conversion
        // its own file spells (a trigger name): without one, no walk of the body (ordinary code).
        if (!callbacks.MayConvertLambdas(declaration.SyntaxTree, cancellationToken))
        {
            return false;
        }

        foreach (var node in declaration.DescendantNodes())
        {
            switch (node)
            {
                case LocalFunctionStatementSyntax local when callbacks.MayBeCallback(local.Identifier.ValueText, local.AttributeLists, cancellationToken):
                    return true;
                case AnonymousFunctionExpressionSyntax:
                    return true;
            }
        }

        return false;
    }

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        var callbacks = AtomicCallbacks.Get(context.Compilation);
        var ct = context.CancellationToken;
        var functions = new List<(IOperation Function, IMethodSymbol Symbol, AtomicUse Use, string Name)>();
        foreach (var block in context.OperationBlocks)
        {
            if (context.OwningSymbol is IMethodSymbol owner && NonBlockableUse(callbacks.UsesOf(owner, ct)) is { } ownUse)
            {
                functions.Add((block, owner, ownUse, owner.Name));
            }

            foreach (var operation in block.Descendants())
            {
                switch (operation)
                {
                    case ILocalFunctionOperation local when NonBlockableUse(callbacks.UsesOf(local.Symbol, ct)) is { } use:
                        functions.Add((local, local.Symbol, use, local.Symbol.Name));
                        break;
                    case IAnonymousFunctionOperation lambda when callbacks.UseOf(lambda) is { NonBlockable: true } use:
                        functions.Add((lambda, lambda.Symbol, use, "lambda"));
                        break;
                }
            }
        }

        var api = FlowCache.Api(context.Compilation, symbols);
        var oracle = functions.Count == 0 ? null : SleepOracle.Get(context.Compilation, context.Options);
        foreach (var result in FlowCache.Get(context, symbols, always: functions.Count > 0))
        {
            ReportRefused(context, result, api, symbols);
            foreach (var (function, symbol, use, name) in functions)
            {
                ReportSleeping(context, result, oracle!, function, symbol, use, name, symbols);
            }
        }
    }

    private static AtomicUse? NonBlockableUse(ImmutableArray<AtomicUse> uses) =>
        uses.IsDefault ? null : uses.FirstOrDefault(u => u.NonBlockable);

    // (a) An end, or a page-table change, on a path where the non-blocking start was refused or not tested.
    private static void ReportRefused(BodyAnalysisContext context, FlowResult result, ApiModel api, KnownSymbols symbols)
    {
        foreach (var observation in result.Observations)
        {
            if (observation.Operation is not IInvocationOperation invocation)
            {
                continue;
            }

            var method = invocation.TargetMethod;
            var closes = api.Get(method).Range is { Role: RangeRole.Closes, Range: >= 0 } range ? range : null;
            var changes = KnownSymbols.Is(method, symbols.PageTableChanges);
            if (closes is null && !changes)
            {
                continue;
            }

            SyntaxNode? start = null;
            string? keyDisplay = null;
            var refused = false;
            foreach (var path in observation.Paths)
            {
                var key = closes is null ? null : path.Argument(closes.Range);
                foreach (var r in path.Facts(Domains.Refused))
                {
                    if (key is null || r.Key.Equals(key))
                    {
                        (start, keyDisplay, refused) = (r.Start, r.KeyDisplay, true);
                    }
                }

                foreach (var r in path.Facts(Domains.Ranges))
                {
                    if (start is null && r.OpenWhenZero is not null && (key is null || r.Key.Equals(key)))
                    {
                        (start, keyDisplay) = (r.Start, r.KeyDisplay);
                    }
                }
            }

            if (start is null)
            {
                continue;
            }

            var nonblock = UnbalancedRangeAnalyzer.CallName(start) + "(" + keyDisplay + ")";
            context.ReportDiagnostic(Diagnostic.Create(
                RefusedRule,
                invocation.Syntax.GetLocation(),
                new[] { start.GetLocation() },
                ImmutableDictionary<string, string?>.Empty.Add(FixContract.NonBlockable.Finding, closes is null ? FixContract.NonBlockable.ChangeAfterRefusal : FixContract.NonBlockable.EndAfterRefusal),
                method.Name,
                nonblock,
                FlowAnalysis.Line(start),
                refused ? "returned non-zero" : "may have returned non-zero (its result is not tested before)",
                closes is null ? "skip the range there: do not change its page tables (__oom_reap_task_mm continues with the next vma)" : "do not call the end on that path"));
        }
    }

    // (b) A call that may sleep, in a non-blockable-capable callback, on a path that has not proven its range blockable.
    private static void ReportSleeping(BodyAnalysisContext context, FlowResult result, SleepOracle oracle, IOperation function, IMethodSymbol callback, AtomicUse use, string name, KnownSymbols symbols)
    {
        var range = callback.Parameters.FirstOrDefault(p => SymbolEqualityComparer.Default.Equals(p.Type, symbols.MmuNotifierRange));
        if (range is null || oracle.IsDeclaredNeverSleeping(callback))
        {
            return;
        }

        var ct = context.CancellationToken;
        var findings = new List<(IOperation Operation, SleepWitness Witness)>();
        foreach (var operation in SleepInAtomicCallbackAnalyzer.OwnOperations(function))
        {
            if (!SleepInAtomicCallbackAnalyzer.MayBeCall(operation)
                || result.At(operation.Syntax) is not { } observation
                || !observation.OnSomePath(Domains.Unproven).Any(u => SymbolEqualityComparer.Default.Equals(u.Parameter, range))
                || !oracle.MaySleep(operation, ct, out var witness))
            {
                continue;
            }

            if (BlockableFlag(operation, range, symbols) is { } flag)
            {
                // The callee is told whether it may block: it is a finding only if it sleeps
                // where that flag is not proven true.
                if (SleepsUnflagged(context, symbols, oracle, (IInvocationOperation)operation, flag) is not { } inner)
                {
                    continue;
                }

                witness = inner;
            }

            findings.Add((operation, witness));
        }

        if (findings.Count == 0)
        {
            return;
        }

        findings.Sort((a, b) => a.Operation.Syntax.SpanStart.CompareTo(b.Operation.Syntax.SpanStart));
        var refuse = callback.ReturnType.SpecialType switch
        {
            SpecialType.System_Int32 => FixContract.NonBlockable.RefuseWithEagain,
            SpecialType.System_Boolean => FixContract.NonBlockable.RefuseWithFalse,
            _ => null,
        };
        var guardBefore = GuardPoint(function, findings[0].Operation.Syntax);
        var properties = ImmutableDictionary<string, string?>.Empty
            .Add(FixContract.NonBlockable.Finding, FixContract.NonBlockable.SleepWhenNonBlockable)
            .Add(FixContract.NonBlockable.RangeParameter, range.Name);
        if (refuse is not null && guardBefore is not null)
        {
            properties = properties.Add(FixContract.NonBlockable.Refuse, refuse);
        }

        var advice = refuse is null
            ? "test mmu_notifier_range_blockable(" + range.Name + ") before it and do not sleep when it is false"
            : "return " + refuse + " when !mmu_notifier_range_blockable(" + range.Name + ") before it";
        foreach (var (operation, witness) in findings)
        {
            context.ReportDiagnostic(Diagnostic.Create(
                SleepRule,
                operation.Syntax.GetLocation(),
                guardBefore is null ? System.Array.Empty<Location>() : new[] { guardBefore.GetLocation() },
                properties,
                use.Role,
                name,
                witness.Callee,
                witness.MessageChain,
                range.Name,
                advice));
        }
    }

    /// <summary>The <c>bool</c> parameter of the called method to which the call passes
    /// <c>mmu_notifier_range_blockable(range)</c>, directly or through a local initialised with it.</summary>
    private static IParameterSymbol? BlockableFlag(IOperation operation, IParameterSymbol range, KnownSymbols symbols)
    {
        if (operation is not IInvocationOperation { TargetMethod.IsExtern: false } invocation)
        {
            return null;
        }

        foreach (var argument in invocation.Arguments)
        {
            var value = argument.Value;
            while (value is IConversionOperation { IsImplicit: true } conversion)
            {
                value = conversion.Operand;
            }

            if (value is ILocalReferenceOperation local
                && local.Local.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() is VariableDeclaratorSyntax { Initializer.Value: { } initializer }
                && invocation.SemanticModel?.GetOperation(initializer) is { } initialValue)
            {
                value = initialValue;
            }

            if (argument.Parameter is { Type.SpecialType: SpecialType.System_Boolean } parameter
                && value is IInvocationOperation test
                && KnownSymbols.Is(test.TargetMethod, symbols.RangeBlockable)
                && test.Arguments.Length == 1
                && test.Arguments[0].Value is IParameterReferenceOperation tested
                && SymbolEqualityComparer.Default.Equals(tested.Parameter, range))
            {
                return parameter;
            }
        }

        return null;
    }

    /// <summary>The chain by which the callee sleeps on a path where its blockable flag is not
    /// proven true (the callee first), or null when it sleeps only where the flag is true.</summary>
    private static SleepWitness? SleepsUnflagged(BodyAnalysisContext context, KnownSymbols symbols, SleepOracle oracle, IInvocationOperation call, IParameterSymbol flag)
    {
        var callee = call.TargetMethod.OriginalDefinition;
        var result = FlowCache.ForBlockableFlag(context.Compilation, symbols, callee, flag.OriginalDefinition, context.CancellationToken);
        if (result is null || !result.Complete
            || callee.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(context.CancellationToken) is not BaseMethodDeclarationSyntax declaration
            || CallSites.Get(context.Compilation).Model(declaration.SyntaxTree).GetOperation(declaration, context.CancellationToken) is not { } body)
        {
            // Nothing to look into: the oracle's answer stands.
            return oracle.MaySleep(call, context.CancellationToken, out var witness) ? witness : null;
        }

        foreach (var operation in SleepInAtomicCallbackAnalyzer.OwnOperations(body))
        {
            if (SleepInAtomicCallbackAnalyzer.MayBeCall(operation)
                && result.At(operation.Syntax) is { } observation
                && observation.OnSomePath(Domains.Unproven).Any(u => SymbolEqualityComparer.Default.Equals(u.Parameter, flag.OriginalDefinition))
                && oracle.MaySleep(operation, context.CancellationToken, out var inner))
            {
                return new SleepWitness(ImmutableArray.Create(SleepOracle.DisplayName(callee)).AddRange(inner.Methods), inner.Reason);
            }
        }

        return null;
    }

    /// <summary>The statement of the callback's own body block that holds <paramref name="call"/>: the
    /// guard goes before it (the top of the body when the call is in the first statement).</summary>
    private static StatementSyntax? GuardPoint(IOperation function, SyntaxNode call)
    {
        var body = function.Syntax switch
        {
            BaseMethodDeclarationSyntax method => method.Body,
            LocalFunctionStatementSyntax local => local.Body,
            AnonymousFunctionExpressionSyntax lambda => lambda.Block,
            _ => null,
        };
        return body is null ? null : call.AncestorsAndSelf().OfType<StatementSyntax>().FirstOrDefault(s => s.Parent == body);
    }
}
