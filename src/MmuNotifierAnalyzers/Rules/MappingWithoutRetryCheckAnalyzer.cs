using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU012: the sequence protocol of a secondary MMU (seed 000: "use some kind of sequence number
/// ... to block anything that might undo what the range_start() callback did", the KVM / umem_odp
/// pattern). A mapping (<c>[EstablishesSecondaryMapping]</c>) built from a sequence read on the
/// path (<c>mmu_interval_read_begin</c>, <c>[SequenceRead]</c>) must be installed after the path
/// took the "still valid" outcome of a retry check (<c>mmu_interval_read_retry</c>,
/// <c>[SequenceRetryCheck]</c>) made under a driver lock that is still held, with the sequence read
/// before the page lookup (<c>[LooksUpPages]</c>); and an interval notifier's <c>-&gt;invalidate</c>
/// calls <c>mmu_interval_set_seq</c>, under a lock, on every path that returns true.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class MappingWithoutRetryCheckAnalyzer : BodyRuleAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.MappingWithoutRetryCheck,
        title: "Secondary-MMU mapping established without a sequence retry check",
        messageFormat: "'{0}' {1}",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "A secondary MMU that fills its page table from the CPU's must read the invalidation sequence before looking the pages up, check it under the lock its invalidate callback takes, and install before dropping that lock, retrying when the check says an invalidation ran; the callback must move the sequence (mmu_interval_set_seq) under that lock whenever it returns true. Otherwise a mapping of a page the CPU no longer maps survives the invalidation (seed 000: the KVM / umem_odp pattern).",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.MappingWithoutRetryCheck));

    /// <summary>What is wrong with one path's sequence at an install, worst last.</summary>
    private enum Problem
    {
        None,
        LockDropped,
        NoLock,
        ResultUnused,
        InstalledOnRetry,
        Unchecked,
    }

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule);

    private protected override void AnalyzeBlock(BodyAnalysisContext context, KnownSymbols symbols)
    {
        var api = FlowCache.Api(context.Compilation, symbols);
        foreach (var result in FlowCache.Get(context, symbols))
        {
            var lateReads = new HashSet<SyntaxNode>();
            foreach (var observation in result.Observations.OrderBy(o => o.Operation.Syntax.SpanStart))
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                if (observation.Operation is not IInvocationOperation invocation)
                {
                    continue;
                }

                switch (api.Get(invocation.TargetMethod).Sequence)
                {
                    case SequenceRole.Install:
                        CheckInstall(context, invocation, observation, api);
                        CheckReadAfterLookup(context, invocation, observation, lateReads);
                        break;
                    case SequenceRole.SetSeq:
                        CheckSetSeqLocked(context, invocation, observation, api);
                        break;
                }
            }

            foreach (var (exit, paths) in result.Exits)
            {
                CheckInvalidateExit(context, exit, paths);
            }
        }
    }

    private static void CheckInstall(BodyAnalysisContext context, IInvocationOperation install, Observation observation, ApiModel api)
    {
        // The worst path; on each path, the best of the sequences it read (one valid one suffices).
        (Problem Problem, SequenceFact Sequence, ObservedPath Path)? worst = null;
        foreach (var path in observation.Paths)
        {
            (Problem Problem, SequenceFact Sequence)? best = null;
            foreach (var sequence in path.Facts(Domains.Sequences))
            {
                if (sequence.Certainty != Certainty.Certain)
                {
                    continue;
                }

                var problem = Classify(sequence);
                if (best is null || problem < best.Value.Problem)
                {
                    best = (problem, sequence);
                }
            }

            if (best is { } b && b.Problem != Problem.None && (worst is null || b.Problem > worst.Value.Problem))
            {
                worst = (b.Problem, b.Sequence, path);
            }
        }

        if (worst is not { } w)
        {
            return;
        }

        var s = w.Sequence;
        var read = "'" + SequenceName(s.Read) + "' (read at line " + FlowAnalysis.Line(s.Read) + ")";
        var check = s.Check is null ? string.Empty : "the retry check '" + CallName(s.Check) + "' at line " + FlowAnalysis.Line(s.Check);
        var message = w.Problem switch
        {
            Problem.Unchecked =>
                "installs a secondary mapping from sequence " + read + " on a path that runs no retry check after the read (from line " + FlowAnalysis.Line(s.Read) + " to here): an invalidation that ran since the read leaves this mapping stale; under the driver lock, check the sequence (mmu_interval_read_retry) and retry when it moved, then install before dropping the lock",
            Problem.InstalledOnRetry =>
                "installs a secondary mapping from sequence " + read + " on the path where " + check + " said the sequence is stale: retry (goto again / return -EAGAIN) on that outcome instead of installing",
            Problem.ResultUnused =>
                "installs a secondary mapping from sequence " + read + " whatever " + check + " answered on this path: its result must guard the install (retry, goto again / return -EAGAIN, when it says the sequence moved)",
            Problem.NoLock =>
                "installs a secondary mapping from sequence " + read + " checked by " + check + " with no driver lock held" + HeldHere(w.Path, api) + ": an invalidation can run between the check and the install; take the lock the invalidate callback takes before the check and install before dropping it",
            _ =>
                "installs a secondary mapping from sequence " + read + " after '" + s.DroppedDisplay + "', held at " + check + ", was released at line " + FlowAnalysis.Line(s.DroppedAt!) + ": an invalidation can run between the unlock and the install; install before dropping the lock",
        };

        var additional = new List<Location> { s.Read.GetLocation() };
        if (s.Check is not null)
        {
            additional.Add(s.Check.GetLocation());
        }

        context.ReportDiagnostic(Diagnostic.Create(Rule, install.Syntax.GetLocation(), additional, install.TargetMethod.Name, message));
    }

    private static Problem Classify(SequenceFact sequence) => sequence.State switch
    {
        SequenceState.Unchecked => Problem.Unchecked,
        SequenceState.Retry => Problem.InstalledOnRetry,
        SequenceState.Checked => Problem.ResultUnused,
        _ when sequence.LocksAtCheck.IsEmpty => sequence.DroppedAt is null ? Problem.NoLock : Problem.LockDropped,
        _ => Problem.None,
    };

    /// <summary>
    /// The sequence was read after a lookup of what the mapping is built from (pages, the VMA)
    /// whose lock, if any, was already dropped: reported once, at the read, which has to move.
    /// </summary>
    private static void CheckReadAfterLookup(BodyAnalysisContext context, IInvocationOperation install, Observation observation, HashSet<SyntaxNode> reported)
    {
        foreach (var path in observation.Paths)
        {
            foreach (var s in path.Facts(Domains.Sequences))
            {
                if (s.Certainty != Certainty.Certain || s.LookupBefore is not { } lookup || !reported.Add(s.Read))
                {
                    continue;
                }

                context.ReportDiagnostic(Diagnostic.Create(
                    Rule,
                    s.Read.GetLocation(),
                    new[] { lookup.GetLocation(), install.Syntax.GetLocation() },
                    s.Read.ToString(),
                    "reads sequence '" + SequenceName(s.Read) + "' after '" + CallName(lookup) + "' at line " + FlowAnalysis.Line(lookup) + " looked up what '" + install.TargetMethod.Name + "' at line " + FlowAnalysis.Line(install.Syntax)
                    + " installs, with no lock held at the lookup still held here: an invalidation between the lookup and the read passes the retry check unseen and the mapping is built from a stale lookup; read the sequence before the lookup, or before dropping the lock it ran under"));
            }
        }
    }

    /// <summary>" ('L' is taken at line K, after the check)" when the install holds a lock the check did not.</summary>
    private static string HeldHere(ObservedPath path, ApiModel api)
    {
        var held = DriverLocks(path, api).FirstOrDefault(l => l.AcquiredAt is not null);
        return held is null ? string.Empty : " ('" + held.Display + "' is taken at line " + FlowAnalysis.Line(held.AcquiredAt!) + ", after the check)";
    }

    private static ImmutableArray<LockFact> DriverLocks(ObservedPath path, ApiModel api) =>
        api.DriverLocks(path.Facts(Domains.Locks), path.Facts(Domains.Mutexes), path.Facts(Domains.Semaphores));

    private static void CheckSetSeqLocked(BodyAnalysisContext context, IInvocationOperation setSeq, Observation observation, ApiModel api)
    {
        if (!observation.Paths.Any(p => DriverLocks(p, api).IsEmpty))
        {
            return;
        }

        context.ReportDiagnostic(Diagnostic.Create(
            Rule,
            setSeq.Syntax.GetLocation(),
            setSeq.TargetMethod.Name,
            "moves the interval's sequence with no driver lock held on some path into '" + FunctionName(setSeq.Syntax) + "': a fault path can pass its retry check just before and install after the invalidation; call it under the lock the fault path checks the sequence under"));
    }

    private static void CheckInvalidateExit(BodyAnalysisContext context, ExitPath exit, IReadOnlyList<ObservedPath> paths)
    {
        if (exit.Kind != ExitKind.Return || exit.Statement is null || ReturnsFalse(exit.Statement)
            || !paths.Any(p => !p.Facts(Domains.SequenceSets).Any(s => s.Certainty == Certainty.Certain))
            || IgnoresOwnMigration(context, exit.Statement))
        {
            return;
        }

        var location = exit.Statement is ReturnStatementSyntax ret ? ret.ReturnKeyword.GetLocation() : exit.Statement.GetLocation();
        context.ReportDiagnostic(Diagnostic.Create(
            Rule,
            location,
            FunctionName(exit.Statement),
            "returns true at line " + FlowAnalysis.Line(exit.Statement) + " on a path that does not call mmu_interval_set_seq: a fault path that read the sequence before this invalidation passes its retry check and keeps a stale mapping; call mmu_interval_set_seq(mni, cur_seq) under the driver lock on every path that returns true"));
    }

    /// <summary>
    /// <c>if (range-&gt;event == MMU_NOTIFY_MIGRATE &amp;&amp; range-&gt;owner == ...) return true;</c>: the
    /// kernel's documented exception (include/linux/mmu_notifier.h, <c>MMU_NOTIFY_MIGRATE</c>, 5.9+):
    /// a driver may ignore the invalidation of its own device-private pages, since the migration
    /// that sends it handles them (lib/test_hmm.c, nouveau). Both tests, on the same range, as
    /// conjuncts of the condition of the <c>if</c> whose branch is the return; ignoring every
    /// migration, whoever owns it, still fires.
    /// </summary>
    private static bool IgnoresOwnMigration(BodyAnalysisContext context, SyntaxNode statement)
    {
        var branch = statement.Parent is BlockSyntax { Statements.Count: 1 } block ? block : statement;
        if (branch.Parent is not IfStatementSyntax guard || guard.Statement != branch
            || context.SemanticModel.GetOperation(guard.Condition, context.CancellationToken) is not { } condition)
        {
            return false;
        }

        ISymbol? migrating = null, owned = null;
        foreach (var test in Conjuncts(condition))
        {
            if (test is not IBinaryOperation { OperatorKind: BinaryOperatorKind.Equals } equals)
            {
                continue;
            }

            foreach (var (side, other) in new[] { (equals.LeftOperand, equals.RightOperand), (equals.RightOperand, equals.LeftOperand) })
            {
                if (Unwrap(side) is IPropertyReferenceOperation { Property.Name: var name, Instance: { } instance } property
                    && SymbolEqualityComparer.Default.Equals(property.Property.ContainingType, KnownSymbols.Get(context.Compilation).MmuNotifierRange)
                    && Receiver(instance) is { } range)
                {
                    if (name == "event" && Unwrap(other) is IFieldReferenceOperation { Field.Name: "MMU_NOTIFY_MIGRATE" } migrate
                        && SymbolEqualityComparer.Default.Equals(migrate.Field.ContainingType, property.Property.Type))
                    {
                        migrating = range;
                    }
                    else if (name == "owner")
                    {
                        owned = range;
                    }
                }
            }
        }

        return migrating is not null && SymbolEqualityComparer.Default.Equals(migrating, owned);

        static IEnumerable<IOperation> Conjuncts(IOperation operation) =>
            Unwrap(operation) is IBinaryOperation { OperatorKind: BinaryOperatorKind.ConditionalAnd } and
                ? Conjuncts(and.LeftOperand).Concat(Conjuncts(and.RightOperand))
                : new[] { Unwrap(operation) };

        static IOperation Unwrap(IOperation operation) =>
            operation is IConversionOperation { IsImplicit: true } conversion ? Unwrap(conversion.Operand) : operation is IParenthesizedOperation parenthesized ? Unwrap(parenthesized.Operand) : operation;

        static ISymbol? Receiver(IOperation instance) => Unwrap(instance) switch
        {
            IParameterReferenceOperation parameter => parameter.Parameter,
            ILocalReferenceOperation local => local.Local,
            _ => null,
        };
    }

    private static bool ReturnsFalse(SyntaxNode statement)
    {
        var value = statement is ReturnStatementSyntax ret ? ret.Expression : statement as ExpressionSyntax;
        return value is LiteralExpressionSyntax literal && literal.IsKind(SyntaxKind.FalseLiteralExpression);
    }

    /// <summary>The sequence as the code names it: the local or field it is stored in, else the read.</summary>
    private static string SequenceName(SyntaxNode read)
    {
        var node = read.Parent is ParenthesizedExpressionSyntax or CastExpressionSyntax ? read.Parent : read;
        return node.Parent switch
        {
            EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax declarator } => declarator.Identifier.ValueText,
            AssignmentExpressionSyntax assignment when assignment.Right == node => assignment.Left.ToString(),
            _ => read.ToString(),
        };
    }

    private static string CallName(SyntaxNode call) => call switch
    {
        InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member } => member.Name.Identifier.ValueText,
        InvocationExpressionSyntax { Expression: SimpleNameSyntax name } => name.Identifier.ValueText,
        _ => call.ToString(),
    };

    private static string FunctionName(SyntaxNode node)
    {
        foreach (var ancestor in node.Ancestors())
        {
            switch (ancestor)
            {
                case MethodDeclarationSyntax method:
                    return method.Identifier.ValueText;
                case LocalFunctionStatementSyntax local:
                    return local.Identifier.ValueText;
                case AnonymousFunctionExpressionSyntax:
                    return "the lambda";
            }
        }

        return "the callback";
    }
}
