using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU011: an <c>mmu_notifier_ops</c> table that mixes the two notifier models — <c>invalidate_range</c>
/// together with <c>invalidate_range_start</c>/<c>_end</c> (seed 003: "either ->invalidate_range or the
/// invalidate_range_start/end methods, not both") — or that sets a start with no end and no sequence
/// scheme that keeps the secondary MMU from re-faulting the range before the primary update is done
/// (seed 000). The table is a C#-style designated initializer (<c>new mmu_notifier_ops { ... }</c>):
/// its members are init-only, so the initializer is the whole table.
/// </summary>
/// <remarks>
/// "A scheme" is, conservatively and by symbol: the start callback (a method group or a lambda) writes
/// a field or property — an assignment, <c>++</c>/<c>--</c>, a compound assignment, or a <c>ref</c>
/// argument such as <c>atomic_inc(ref gms.ms_range_active)</c> — that a method of the compilation
/// annotated <c>[SequenceRetryCheck]</c> or <c>[SequenceRead]</c> reads. A counter nobody checks, a
/// lock taken and dropped inside the start callback, or a check only a helper of the start callback
/// writes are not schemes.
/// </remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class InconsistentNotifierOpsAnalyzer : DiagnosticAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.InconsistentNotifierOps,
        title: "Notifier ops mix invalidate_range with start/end, or start without end",
        messageFormat: "'{0}' {1}",
        category: RuleIdentifiers.Category,
        defaultSeverity: DiagnosticSeverity.Info,
        isEnabledByDefault: true,
        description: "A notifier implements one model: ->invalidate_range, for a secondary TLB that walks the CPU page table and only needs a flush under the page-table lock, or the ->invalidate_range_start/_end pair, which drops secondary mappings before the update and must keep them from being re-established until the end (a sequence number and an active-invalidation count checked by the fault path, as KVM and umem_odp do). Mixing them, or a start with no end and no such scheme, leaves windows in which the secondary MMU maps a page the CPU no longer maps.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.InconsistentNotifierOps));

    private static readonly ImmutableHashSet<string> MemberNames = ImmutableHashSet.Create(
        System.StringComparer.Ordinal,
        "invalidate_range",
        "invalidate_range_start",
        "invalidate_range_end",
        "invalidate_range_start_range",
        "invalidate_range_end_range");

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(Rule);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var symbols = KnownSymbols.Get(start.Compilation);
            if (symbols.MmuNotifierOps is null || !MentionIndex.Get(start.Compilation, symbols).AnyMention(start.CancellationToken))
            {
                return;
            }

            var schemes = new SequenceSchemes(start.Compilation);
            start.RegisterSyntaxNodeAction(
                c => AnalyzeCreation(c, symbols, schemes),
                SyntaxKind.ObjectCreationExpression,
                SyntaxKind.ImplicitObjectCreationExpression);
        });
    }

    private static void AnalyzeCreation(SyntaxNodeAnalysisContext context, KnownSymbols symbols, SequenceSchemes schemes)
    {
        // Syntax first: only an initializer that names a start/end/invalidate_range member is bound.
        var initializerSyntax = ((BaseObjectCreationExpressionSyntax)context.Node).Initializer;
        if (initializerSyntax is null || !initializerSyntax.Expressions.Any(e =>
                e is AssignmentExpressionSyntax { Left: IdentifierNameSyntax name } && MemberNames.Contains(name.Identifier.ValueText)))
        {
            return;
        }

        if (context.SemanticModel.GetOperation(context.Node, context.CancellationToken) is not IObjectCreationOperation { Initializer: { } initializer } creation
            || !SymbolEqualityComparer.Default.Equals(creation.Type?.OriginalDefinition, symbols.MmuNotifierOps))
        {
            return;
        }

        IAssignmentOperation? range = null, start = null, end = null;
        foreach (var item in initializer.Initializers)
        {
            if (item is not ISimpleAssignmentOperation { Target: IPropertyReferenceOperation target } assignment
                || assignment.Value.ConstantValue is { HasValue: true, Value: null })
            {
                continue;
            }

            var member = target.Property.OriginalDefinition;
            if (SymbolEqualityComparer.Default.Equals(member, symbols.OpsInvalidateRange))
            {
                range = assignment;
            }
            else if (SymbolEqualityComparer.Default.Equals(member, symbols.OpsInvalidateRangeStart)
                || SymbolEqualityComparer.Default.Equals(member, symbols.OpsInvalidateRangeStartRange))
            {
                start ??= assignment;
            }
            else if (SymbolEqualityComparer.Default.Equals(member, symbols.OpsInvalidateRangeEnd)
                || SymbolEqualityComparer.Default.Equals(member, symbols.OpsInvalidateRangeEndRange))
            {
                end ??= assignment;
            }
        }

        if (range is not null && (start ?? end) is { } pair)
        {
            var pairName = start is not null && end is not null
                ? Name(start) + "/" + Name(end)
                : Name(pair);
            context.ReportDiagnostic(Diagnostic.Create(
                Rule,
                range.Syntax.GetLocation(),
                new[] { pair.Syntax.GetLocation() },
                Text(range),
                "is set together with " + pairName + ": a notifier implements either ->invalidate_range (a secondary TLB that walks the CPU page table, flushed under the page-table lock) or the invalidate_range_start/end pair, not both; do this work in the start/end pair (KVM moved its APIC-page reload there in 2023), or drop start/end if the device shares the CPU page table (amd_iommu_v2 since 3.19)"));
            return;
        }

        if (start is not null && end is null && !schemes.BlocksRefault(start.Value, context.CancellationToken))
        {
            context.ReportDiagnostic(Diagnostic.Create(
                Rule,
                start.Syntax.GetLocation(),
                Text(start),
                "is set with no invalidate_range_end and no sequence scheme: nothing keeps the secondary MMU from re-establishing a mapping of the range after start dropped it and before the primary page table is updated; add an invalidate_range_end with a count and sequence number that the fault path re-checks (a method marked [SequenceRetryCheck] reading what start writes, as KVM's mmu_notifier_count/mmu_notifier_seq), or use an interval notifier (mmu_interval_notifier_insert, 5.5)"));
        }
    }

    private static string Name(IAssignmentOperation assignment) =>
        ((IPropertyReferenceOperation)assignment.Target).Property.Name;

    private static string Text(IAssignmentOperation assignment)
    {
        var text = assignment.Syntax.ToString().Replace("\r", " ").Replace("\n", " ");
        return text.Length <= 80 ? text : text.Substring(0, 77) + "...";
    }

    /// <summary>
    /// Whether a start callback writes something a sequence check reads. The checks (methods marked
    /// <c>[SequenceRetryCheck]</c> or <c>[SequenceRead]</c>) are found once per compilation by attribute
    /// name and bound only when a table with a start and no end asks.
    /// </summary>
    internal sealed class SequenceSchemes
    {
        private readonly Compilation _compilation;
        private ImmutableHashSet<ISymbol>? _read;
        private object? _gate;
        private bool _ready;

        public SequenceSchemes(Compilation compilation)
        {
            _compilation = compilation;
        }

        public bool BlocksRefault(IOperation callback, CancellationToken cancellationToken) =>
            WritesWhatChecksRead(Written(Bodies(callback, cancellationToken)), cancellationToken);

        /// <summary>Whether a callback's own body (MMU004's fix asks of an <c>invalidate_range</c>
        /// callback it would also make the end) writes something a sequence check reads.</summary>
        public bool BodyBlocksRefault(IOperation body, CancellationToken cancellationToken) =>
            WritesWhatChecksRead(Written(new[] { body }), cancellationToken);

        private bool WritesWhatChecksRead(HashSet<ISymbol> written, CancellationToken cancellationToken)
        {
            if (written.Count == 0)
            {
                return false;
            }

            var read = LazyInitializer.EnsureInitialized(ref _read, ref _ready, ref _gate, () => ReadByChecks(cancellationToken))!;
            return written.Any(read.Contains);
        }

        // The fields and properties the callback's own body writes.
        private static HashSet<ISymbol> Written(IEnumerable<IOperation> bodies)
        {
            var written = new HashSet<ISymbol>(SymbolEqualityComparer.Default);
            foreach (var body in bodies)
            {
                foreach (var operation in body.DescendantsAndSelf())
                {
                    var target = operation switch
                    {
                        IAssignmentOperation assignment => assignment.Target,
                        IIncrementOrDecrementOperation increment => increment.Target,
                        IArgumentOperation { Parameter.RefKind: RefKind.Ref or RefKind.Out } argument => argument.Value,
                        _ => null,
                    };
                    if (Member(target) is { } member)
                    {
                        written.Add(member);
                    }
                }
            }

            return written;
        }

        private IEnumerable<IOperation> Bodies(IOperation callback, CancellationToken cancellationToken)
        {
            var value = callback;
            while (value is IConversionOperation or IDelegateCreationOperation)
            {
                value = value is IConversionOperation conversion ? conversion.Operand : ((IDelegateCreationOperation)value).Target;
            }

            switch (value)
            {
                case IAnonymousFunctionOperation lambda:
                    yield return lambda.Body;
                    break;
                case IMethodReferenceOperation reference:
                    foreach (var syntax in reference.Method.OriginalDefinition.DeclaringSyntaxReferences)
                    {
                        if (_compilation.ContainsSyntaxTree(syntax.SyntaxTree)
                            && Model(syntax.SyntaxTree).GetOperation(syntax.GetSyntax(cancellationToken), cancellationToken) is { } body)
                        {
                            yield return body;
                        }
                    }

                    break;
            }
        }

        // Every field or property that a sequence check of the compilation reads.
        private ImmutableHashSet<ISymbol> ReadByChecks(CancellationToken cancellationToken)
        {
            var read = ImmutableHashSet.CreateBuilder<ISymbol>(SymbolEqualityComparer.Default);
            foreach (var tree in _compilation.SyntaxTrees)
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var method in AnnotatedMethods(tree, cancellationToken))
                {
                    var model = Model(tree);
                    if (model.GetDeclaredSymbol(method, cancellationToken) is not { } symbol
                        || (!Annotations.Has(symbol, Annotations.SequenceRetryCheck) && !Annotations.Has(symbol, Annotations.SequenceRead))
                        || model.GetOperation(method, cancellationToken) is not { } body)
                    {
                        continue;
                    }

                    foreach (var operation in body.DescendantsAndSelf())
                    {
                        if (operation is IMemberReferenceOperation && Member(operation) is { } member)
                        {
                            read.Add(member);
                        }
                    }
                }
            }

            return read.ToImmutable();
        }

        /// <summary>
        /// A file's methods whose attributes name a sequence annotation, found once per tree and kept
        /// with it: the editor makes a new compilation at every keystroke, and every file but the
        /// edited one is the same tree (walking every file's nodes again was most of an edit's time).
        /// Member declarations only: an annotated method is not inside a body.
        /// </summary>
        private static MethodDeclarationSyntax[] AnnotatedMethods(SyntaxTree tree, CancellationToken cancellationToken) =>
            Annotated.GetOrCreate(tree, cancellationToken, static (t, cancellationToken) => t.GetRoot(cancellationToken)
                    .DescendantNodes(n => n is CompilationUnitSyntax or BaseNamespaceDeclarationSyntax or TypeDeclarationSyntax)
                    .OfType<MethodDeclarationSyntax>()
                    .Where(m => Annotations.IsNamedInSyntax(m.AttributeLists, Annotations.SequenceRetryCheck)
                        || Annotations.IsNamedInSyntax(m.AttributeLists, Annotations.SequenceRead))
                    .ToArray());

        private static readonly ConditionalWeakTable<SyntaxTree, MethodDeclarationSyntax[]> Annotated = new();

        private static ISymbol? Member(IOperation? operation) => operation switch
        {
            IFieldReferenceOperation field => field.Field.OriginalDefinition,
            IPropertyReferenceOperation property => property.Property.OriginalDefinition,
            _ => null,
        };

        [SuppressMessage(
            "MicrosoftCodeAnalysisCorrectness",
            "RS1030:Do not invoke Compilation.GetSemanticModel() method within a diagnostic analyzer",
            Justification = "The start callback and the sequence checks are usually in other files than the ops table; they are bound only for a table that sets a start and no end.")]
        private SemanticModel Model(SyntaxTree tree) => _compilation.GetSemanticModel(tree);
    }
}
