using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU015: notifier registration misuse. <c>mmu_notifier_register</c> takes the mm's mmap_sem for
/// write itself, so a path that reaches it with that mmap_sem held deadlocks;
/// <c>__mmu_notifier_register</c> is the form for a caller that holds it for write, and is misused
/// without it; <c>mmu_notifier_unregister</c> waits (<c>synchronize_srcu</c>) for every callback in
/// flight, so reached from inside a notifier callback it waits for itself. The held semaphores come
/// from the flow core's rwsem domain (taken in the method, or on entry through <c>[MustHoldLock]</c>,
/// or, in a helper that holds none itself, by its callers: some caller for
/// <c>mmu_notifier_register</c>, every caller for <c>__mmu_notifier_register</c>, both up through
/// callers that hold none at their call); the callback chain from <see cref="NotifierCallbackChains"/>.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RegistrationMisuseAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.RegistrationMisuse,
        title: "Notifier registration misuse",
        messageFormat: "'{0}' {1}",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "mmu_notifier_register takes mmap_sem for write: calling it with the same mm's mmap_sem held deadlocks, and __mmu_notifier_register is the form for a caller that holds it for write (and only then). mmu_notifier_unregister calls synchronize_srcu, which waits for every notifier callback in flight: called from inside a callback it waits for itself; defer it (a work item), use mmu_notifier_unregister_no_release, or the 5.4 mmu_notifier_put, which frees through SRCU.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.RegistrationMisuse));

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule);

    private protected override bool IsEnabled(KnownSymbols symbols) =>
        !symbols.Register.IsEmpty || !symbols.RegisterLocked.IsEmpty || !symbols.Unregister.IsEmpty;

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        var api = FlowCache.Api(context.Compilation, symbols);
        foreach (var result in FlowCache.Get(context, symbols))
        {
            foreach (var observation in result.Observations.OrderBy(o => o.Operation.Syntax.SpanStart))
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                if (observation.Operation is not IInvocationOperation invocation
                    || api.Get(invocation.TargetMethod).Registration is not { } kind)
                {
                    continue;
                }

                var message = kind switch
                {
                    RegistrationKind.Register => RegisterUnderLock(context, observation, invocation, symbols),
                    RegistrationKind.RegisterLocked => LockedRegisterWithoutLock(context, observation, invocation, symbols),
                    _ => UnregisterInCallback(context, invocation),
                };
                if (message is not null)
                {
                    context.ReportDiagnostic(Diagnostic.Create(Rule, invocation.Syntax.GetLocation(), message.Value.Additional, invocation.TargetMethod.Name, message.Value.Text));
                }
            }
        }
    }

    private static (string Text, Location[] Additional)? RegisterUnderLock(BodyAnalysisContext context, Observation observation, IInvocationOperation call, KnownSymbols symbols)
    {
        var held = observation.Paths.SelectMany(p => Held(p, call, symbols)).OrderBy(s => s.AcquiredAt?.SpanStart ?? -1).FirstOrDefault();
        if (held is null)
        {
            return RegisterUnderCallersLock(context, observation, call, symbols);
        }

        var everyPath = observation.Paths.All(p => Held(p, call, symbols).Any(s => s.Certainty == Certainty.Certain));
        return (
            "takes " + Mm(call) + "'s mmap_sem for write itself, but '" + held.Display + "' is held here" + (everyPath ? string.Empty : " on some path") + " (" + Where(held) + "): its down_write waits for this very holder, a deadlock; call __mmu_notifier_register under the write lock, or register before taking it",
            held.AcquiredAt is null ? System.Array.Empty<Location>() : new[] { held.AcquiredAt.GetLocation() });
    }

    // A helper that holds no rw_semaphore itself at the call, reached from a caller that holds an
    // mm's mmap_sem (sgi-gru's 2008 gru_file_mmap, an f_op->mmap, three calls up).
    private static (string Text, Location[] Additional)? RegisterUnderCallersLock(BodyAnalysisContext context, Observation observation, IInvocationOperation call, KnownSymbols symbols)
    {
        if (!observation.Paths.All(p => p.Facts(Domains.Semaphores).IsEmpty)
            || context.OwningSymbol is not IMethodSymbol owner
            || !IsOwnBody(call.Syntax, owner)
            || FlowCache.CallerHoldingMmapSem(context.Compilation, owner, symbols, context.CancellationToken) is not (var held, var chain))
        {
            return null;
        }

        return (
            "takes " + Mm(call) + "'s mmap_sem for write itself, but its caller " + chain[0] + " holds '" + held.Display + "' (" + Where(held) + ") on a path that calls down to here (" + string.Join(" → ", chain) + " → " + call.TargetMethod.Name + "): its down_write waits for that holder, a deadlock; call __mmu_notifier_register, which expects the caller's write lock, or register before the lock is taken",
            held.AcquiredAt is null ? System.Array.Empty<Location>() : new[] { held.AcquiredAt.GetLocation() });
    }

    private static (string Text, Location[] Additional)? LockedRegisterWithoutLock(BodyAnalysisContext context, Observation observation, IInvocationOperation call, KnownSymbols symbols)
    {
        // The first path on which the mm's mmap_sem is not held for write for sure.
        var unlocked = observation.Paths.FirstOrDefault(p => !Held(p, call, symbols).Any(s => s.Certainty == Certainty.Certain && s.Mode != SemaphoreMode.Read));
        if (unlocked is null)
        {
            return null;
        }

        var readOnly = Held(unlocked, call, symbols).FirstOrDefault(s => s.Certainty == Certainty.Certain);
        ImmutableArray<string>? callers = null;
        if (readOnly is null
            && observation.Paths.All(p => p.Facts(Domains.Semaphores).IsEmpty)
            && context.OwningSymbol is IMethodSymbol owner
            && IsOwnBody(call.Syntax, owner))
        {
            // A helper every caller enters with mmap_sem held for write (amdkfd's create_process) is
            // fine; otherwise the message names the caller that reaches it without (hmm_vma_fault).
            callers = FlowCache.CallerWithoutMmapSemForWrite(context.Compilation, owner, symbols, context.CancellationToken);
            if (callers is null)
            {
                return null;
            }
        }

        var why = readOnly is not null
            ? "'" + readOnly.Display + "' is held only for read here (" + Where(readOnly) + ")"
            : Mm(call) + "'s mmap_sem is not held for write here" + (observation.Paths.Any(p => Held(p, call, symbols).Any(s => s.Mode != SemaphoreMode.Read)) ? " on some path" : string.Empty)
                + (callers is { IsEmpty: false } chain
                    ? ", nor by " + chain[0] + " on the way in (" + string.Join(" \u2192 ", chain) + " \u2192 " + context.OwningSymbol.Name + ")"
                    : string.Empty);
        return (
            "is the registration for a caller that holds the mm's mmap_sem for write, but " + why + ": the mm's notifier state is set up unlocked, racing with another registration and with exit_mmap; take down_write(" + Mm(call) + ".mmap_sem) around it, or call mmu_notifier_register, which does",
            readOnly?.AcquiredAt is null ? System.Array.Empty<Location>() : new[] { readOnly.AcquiredAt.GetLocation() });
    }

    // The unconditional holds of the call's mm's mmap_sem on a path.
    private static System.Collections.Generic.IEnumerable<SemaphoreFact> Held(ObservedPath path, IInvocationOperation call, KnownSymbols symbols)
    {
        var key = MmapSemOf(path, call, symbols);
        return path.Facts(Domains.Semaphores).Where(s => s.Condition == LockCondition.None && s.Key.Equals(key));
    }

    private static (string Text, Location[] Additional)? UnregisterInCallback(BodyAnalysisContext context, IInvocationOperation call)
    {
        // The call's own function: a method, or a local function (a lambda is followed only where it
        // is the ops member's value, which the chain search decides from the lambda's callers).
        var chains = NotifierCallbackChains.Get(context.Compilation);
        var function = call.Syntax.Ancestors().FirstOrDefault(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax or AccessorDeclarationSyntax);
        var chain = function switch
        {
            LocalFunctionStatementSyntax local when context.SemanticModel.GetDeclaredSymbol(local, context.CancellationToken) is IMethodSymbol method => chains.ChainTo(method, context.CancellationToken),
            BaseMethodDeclarationSyntax when context.OwningSymbol is IMethodSymbol method => chains.ChainTo(method, context.CancellationToken),
            AnonymousFunctionExpressionSyntax lambda when chains.CallbackOf(lambda, context.SemanticModel, context.CancellationToken) is { } member => ImmutableArray.Create(member + " lambda"),
            _ => ImmutableArray<string>.Empty,
        };
        if (chain.IsEmpty)
        {
            return null;
        }

        return (
            "is reached from inside a notifier callback (" + string.Join(" → ", chain) + " → " + call.TargetMethod.Name + "): it calls synchronize_srcu, which waits for every callback in flight, this one included, so it never returns; defer the unregister to a work item, or use mmu_notifier_put (5.4), which frees the notifier after an SRCU grace period",
            System.Array.Empty<Location>());
    }

    // The value of `mm.mmap_sem` for the mm the call passes (its parameter named mm).
    private static Value? MmapSemOf(ObservedPath path, IInvocationOperation call, KnownSymbols symbols)
    {
        var mm = call.TargetMethod.Parameters.FirstOrDefault(p => p.Name == "mm");
        return mm is null || symbols.MmapSem is null || path.Argument(mm.Ordinal) is not { } value
            ? null
            : Value.Member(value, symbols.MmapSem, null);
    }

    private static string Mm(IInvocationOperation call) =>
        call.Arguments.FirstOrDefault(a => a.Parameter?.Name == "mm")?.Syntax is ArgumentSyntax argument ? argument.Expression.ToString() : "mm";

    private static string Where(SemaphoreFact held) => held.AcquiredAt is null
        ? "held on entry: the method is annotated [MustHoldLock(\"" + held.Display + "\")]"
        : (held.Mode == SemaphoreMode.Write ? "taken for write" : "taken for read") + " at line " + FlowAnalysis.Line(held.AcquiredAt);

    private static bool IsOwnBody(SyntaxNode call, IMethodSymbol owner) =>
        call.Ancestors().FirstOrDefault(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax or AccessorDeclarationSyntax) is BaseMethodDeclarationSyntax declaration
        && owner.DeclaringSyntaxReferences.Any(r => r.SyntaxTree == declaration.SyntaxTree && r.Span == declaration.Span);
}
