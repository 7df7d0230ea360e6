using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// One place in a body where a page-table entry of a user mm changes, directly or in a method it
/// calls (or hands to a walker), on a path no certain invalidation range covers.
/// </summary>
internal sealed class DutySite
{
    public DutySite(IInvocationOperation call, EntryChange? change, ImmutableArray<string> chain, Observation? observation)
    {
        Call = call;
        Change = change;
        Chain = chain;
        Observation = observation;
    }

    /// <summary>The change itself, the call of the method that changes, or the walk it is handed to.</summary>
    public IInvocationOperation Call { get; }

    /// <summary>The change when <see cref="Call"/> is one (null for a call down the chain).</summary>
    public EntryChange? Change { get; }

    /// <summary>The methods from <see cref="Call"/>'s callee down to the change (the change's API name last).</summary>
    public ImmutableArray<string> Chain { get; }

    /// <summary>What the flow analysis saw at the call; null when no path reaching it had a range, lock or cleared entry.</summary>
    public Observation? Observation { get; }

    public bool NoRangeOnAnyPath => Observation is null || Observation.Paths.All(p => p.Facts(Domains.Ranges).IsEmpty);
}

/// <summary>
/// MMU013's interprocedural question, once per compilation: which methods change an entry
/// outside a bracket of their own (the duty they pass to whoever runs them), and where in a body
/// such a change, or a call that carries one, runs with no certain range covering it. The flow
/// facts come from <see cref="FlowCache"/>; which calls count as changes is MMU013's policy, here.
/// </summary>
internal sealed class EntryChangeDuty
{
    private static readonly ConditionalWeakTable<Compilation, EntryChangeDuty> Cache = new();

    private readonly Compilation _compilation;
    private readonly KnownSymbols _symbols;
    private readonly ApiModel _api;
    private readonly ConcurrentDictionary<IMethodSymbol, ImmutableArray<string>> _duties = new(SymbolEqualityComparer.Default);
    private HashSet<SyntaxNode>? _carriers;
    private object? _gate;
    private bool _carriersReady;

    private EntryChangeDuty(Compilation compilation, KnownSymbols symbols)
    {
        _compilation = compilation;
        _symbols = symbols;
        _api = FlowCache.Api(compilation, symbols);
    }

    public static EntryChangeDuty Get(Compilation compilation, KnownSymbols symbols) =>
        Cache.GetOrCreate(compilation, symbols, static (c, s) => new EntryChangeDuty(c, s));

    /// <summary>
    /// Whether a member declaration may hold a duty site: it names a changing API, or a method
    /// whose declaration does, transitively (names only: a token-level prefilter before binding).
    /// </summary>
    public bool MayCarry(SyntaxNode declaration, CancellationToken cancellationToken) =>
        LazyInitializer.EnsureInitialized(ref _carriers, ref _carriersReady, ref _gate, () => Carriers(cancellationToken))!.Contains(declaration);

    private HashSet<SyntaxNode> Carriers(CancellationToken cancellationToken)
    {
        var declarations = new HashSet<SyntaxNode>();
        var names = new HashSet<string>(_symbols.EntryChanges.Select(api => api.Name), System.StringComparer.Ordinal);
        var work = new Queue<string>();

        // The first level from the token scan every rule already shares (MentionIndex watches these
        // names): on code that never names a changing API that is all, and the compilation-wide name
        // index below, a pass over every name of every file, is never built. (A token scan finds a
        // superset of the simple names the index would, declarations and parameters spelling the name
        // too; a larger pre-filter only costs binding, never a verdict.)
        var mentions = MentionIndex.Get(_compilation, _symbols);
        foreach (var tree in _compilation.SyntaxTrees)
        {
            foreach (var token in mentions.Mentions(tree, cancellationToken))
            {
                if (names.Contains(token.ValueText))
                {
                    Add(token.Parent);
                }
            }
        }

        // Level by level: each file is read once for all the names of a level it may spell.
        CallSites? sites = null;
        while (work.Count > 0)
        {
            var level = work.ToList();
            work.Clear();
            foreach (var mention in (sites ??= CallSites.Get(_compilation)).Mentions(level, cancellationToken))
            {
                Add(mention);
            }
        }

        return declarations;

        void Add(SyntaxNode? mention)
        {
            if (BodyRelevance.DeclarationOf(mention) is { } declaration && declarations.Add(declaration)
                && declaration is MethodDeclarationSyntax method && names.Add(method.Identifier.ValueText))
            {
                work.Enqueue(method.Identifier.ValueText);
            }
        }
    }

    /// <summary>
    /// The chain (the method first, the change's API name last) by which <paramref name="method"/>
    /// changes an entry on a path its own body leaves uncovered; empty when it does not (or its body
    /// is not in this compilation, or the question meets itself through recursion).
    /// </summary>
    private ImmutableArray<string> Duty(IMethodSymbol method, ImmutableHashSet<IMethodSymbol> visiting, CancellationToken cancellationToken)
    {
        if (_duties.TryGetValue(method, out var known))
        {
            return known;
        }

        if (visiting.Contains(method)
            || method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) is not BaseMethodDeclarationSyntax declaration
            || !_compilation.ContainsSyntaxTree(declaration.SyntaxTree)
            || !MayCarry(declaration, cancellationToken)
            || CallSites.Get(_compilation).Model(declaration.SyntaxTree).GetOperation(declaration, cancellationToken) is not { } body)
        {
            return ImmutableArray<string>.Empty;
        }

        var first = Sites(body, method, visiting.Add(method), cancellationToken).FirstOrDefault(s => IsOwnBody(s.Call.Syntax, declaration));
        var duty = first is null ? ImmutableArray<string>.Empty : ImmutableArray.Create(method.Name).AddRange(first.Chain);
        return _duties.GetOrAdd(method, duty);
    }

    /// <summary>The uncovered duty sites of one body (its lambdas and local functions included), in source order.</summary>
    public IEnumerable<DutySite> UncoveredSites(IOperation body, IMethodSymbol? owner, CancellationToken cancellationToken)
    {
        var visiting = ImmutableHashSet<IMethodSymbol>.Empty.WithComparer(SymbolEqualityComparer.Default);
        return Sites(body, owner, owner is null ? visiting : visiting.Add(owner.OriginalDefinition), cancellationToken);
    }

    // Apart from Sites' loop: a lambda there would capture `handed`, and the closure would be
    // allocated on every operation the loop visits, not only at a handed method group.
    private static void AddCarriers(List<(IInvocationOperation Call, EntryChange? Change, ImmutableArray<string> Chain)> candidates, List<IInvocationOperation> carriers, IOperation body, ImmutableArray<string> handed)
    {
        foreach (var carrier in carriers)
        {
            if (body.Syntax.Span.Contains(carrier.Syntax.Span))
            {
                candidates.Add((carrier, null, handed));
            }
        }
    }

    private IEnumerable<DutySite> Sites(IOperation body, IMethodSymbol? owner, ImmutableHashSet<IMethodSymbol> visiting, CancellationToken cancellationToken)
    {
        var result = FlowCache.ResultOf(_compilation, _symbols, body, owner, cancellationToken);
        if (result is { Complete: false })
        {
            yield break;
        }

        var candidates = new List<(IInvocationOperation Call, EntryChange? Change, ImmutableArray<string> Chain)>();
        var notifications = new List<IInvocationOperation>();
        foreach (var operation in body.Descendants())
        {
            cancellationToken.ThrowIfCancellationRequested();
            switch (operation)
            {
                case IInvocationOperation invocation when _api.Get(invocation.TargetMethod) is { } effects && effects != MethodEffects.None:
                    if (effects.Notify is not null || effects.Range is { Role: RangeRole.Opens })
                    {
                        notifications.Add(invocation);
                    }

                    if (effects.Change is { } change && IsChange(invocation, change))
                    {
                        candidates.Add((invocation, change, ImmutableArray.Create(invocation.TargetMethod.Name)));
                    }

                    break;

                case IInvocationOperation invocation when IsSource(invocation.TargetMethod)
                    && Duty(invocation.TargetMethod.OriginalDefinition, visiting, cancellationToken) is { IsEmpty: false } chain:
                    candidates.Add((invocation, null, chain));
                    break;

                case IMethodReferenceOperation reference when reference.Parent is not IInvocationOperation && IsSource(reference.Method)
                    && Duty(reference.Method.OriginalDefinition, visiting, cancellationToken) is { IsEmpty: false } handed
                    && CallSites.Carriers(reference) is { } carriers:
                    AddCarriers(candidates, carriers, body, handed);
                    break;
            }
        }

        foreach (var (call, change, chain) in candidates.OrderBy(c => c.Call.Syntax.SpanStart))
        {
            // A change the path does notify (invalidate_page, invalidate_range, *_clear_flush_notify,
            // change_pte, a start after it: the 2012 *_clear_flush_notify macros) is judged by
            // MMU001/MMU006/MMU009 and MMU002/MMU005, which look at that notification.
            if (change is not null && notifications.Any(n => n.Syntax.SpanStart > call.Syntax.SpanStart && SameFunction(n.Syntax, call.Syntax)))
            {
                continue;
            }

            var observation = result?.At(call.Syntax);
            if (observation is not null && Covered(observation, change))
            {
                continue;
            }

            yield return new DutySite(call, change, chain, observation);
        }
    }

    /// <summary>
    /// A change: every path reaching it has a certain range open that does not provably miss it. A
    /// call down a chain: some path reaching it has a range open. The callee may change entries only
    /// on the paths its caller bracketed, decided by a value the caller tests too (clear_refs_write
    /// opens its range iff <c>type == CLEAR_REFS_SOFT_DIRTY</c>, and clear_refs_pte_range clears the
    /// soft-dirty bits iff <c>cp-&gt;type</c> is that), which the per-method analysis cannot correlate:
    /// only a call that no path covers at all is reported.
    /// </summary>
    private static bool Covered(Observation observation, EntryChange? change)
    {
        if (change is null)
        {
            return observation.Paths.Any(p => !p.Facts(Domains.Ranges).IsEmpty);
        }

        foreach (var path in observation.Paths)
        {
            var sure = path.Facts(Domains.Ranges).Where(r => r.Certainty == Certainty.Certain && r.OpenWhenZero is null);

            var start = path.Argument(change.Address);
            var end = start is null ? null : Value.Binary(BinaryOperatorKind.Add, start, Value.Constant(change.Length), observation.Operation);
            if (!sure.Any(r => RangeCoverage.Covers(r.StartValue, r.EndValue, start, end) != Coverage.NotCovered))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A clear of a user mm's entry; a write of one only when the value written takes a right from
    /// what the same slot held (<c>pte_wrprotect(ptep_get(pte))</c> and the like). A fresh entry
    /// (<c>mk_pte</c>) fills an empty slot; an entry that came out of a clear is that clear's change.
    /// </summary>
    private bool IsChange(IInvocationOperation call, EntryChange change)
    {
        if (!change.MmOfVma && IsKernelMm(Argument(call, 0)))
        {
            return false;
        }

        if (change.Kind == EntryChangeKind.Clear)
        {
            return true;
        }

        return VariableOf(Argument(call, change.Slot)) is { } slot
            && Argument(call, change.Value) is { } value
            && Downgrades(value, slot, downgraded: false, new HashSet<(ISymbol, bool)>());
    }

    private bool Downgrades(IOperation value, ISymbol slot, bool downgraded, HashSet<(ISymbol, bool)> visited)
    {
        switch (Strip(value))
        {
            case IInvocationOperation call when KnownSymbols.Is(call.TargetMethod, _symbols.SlotReads):
                return downgraded && SymbolEqualityComparer.Default.Equals(VariableOf(Argument(call, 0)), slot);

            case IInvocationOperation call when KnownSymbols.Is(call.TargetMethod, _symbols.EntryDowngrades):
                return Argument(call, 0) is { } downgradedFrom && Downgrades(downgradedFrom, slot, true, visited);

            // pte_modify, pte_mkhuge, a port's pte_clear_flags: an entry in, the same entry changed out.
            case IInvocationOperation call when _api.Get(call.TargetMethod).Change is null && call.TargetMethod.Parameters.Length > 0
                && call.TargetMethod.Parameters[0].RefKind == RefKind.None
                && SymbolEqualityComparer.Default.Equals(call.TargetMethod.Parameters[0].Type, call.TargetMethod.ReturnType)
                && call.TargetMethod.ReturnType.TypeKind == TypeKind.Struct:
                return Argument(call, 0) is { } input && Downgrades(input, slot, downgraded, visited);

            case ILocalReferenceOperation local when visited.Add((local.Local, downgraded)):
                return Writes(local).Any(w => Downgrades(w, slot, downgraded, visited));

            default:
                return false;
        }
    }

    /// <summary>The values assigned to a local in its body (its initializer included).</summary>
    private static IEnumerable<IOperation> Writes(ILocalReferenceOperation local)
    {
        var root = (IOperation)local;
        while (root.Parent is not null)
        {
            root = root.Parent;
        }

        foreach (var operation in root.Descendants())
        {
            switch (operation)
            {
                case IVariableDeclaratorOperation { Initializer.Value: { } initial } declarator when SymbolEqualityComparer.Default.Equals(declarator.Symbol, local.Local):
                    yield return initial;
                    break;
                case ISimpleAssignmentOperation { Target: ILocalReferenceOperation target } assignment when SymbolEqualityComparer.Default.Equals(target.Local, local.Local):
                    yield return assignment.Value;
                    break;
            }
        }
    }

    /// <summary><c>init_mm</c> itself, or a local only ever assigned it: the kernel's own page tables.</summary>
    private bool IsKernelMm(IOperation? mm) => Strip(mm) switch
    {
        IMemberReferenceOperation member => _symbols.InitMm is { } initMm && SymbolEqualityComparer.Default.Equals(member.Member.OriginalDefinition, initMm),
        ILocalReferenceOperation local => Writes(local).ToList() is { Count: > 0 } writes && writes.All(w => Strip(w) is not ILocalReferenceOperation && IsKernelMm(w)),
        _ => false,
    };

    private static IOperation? Argument(IInvocationOperation call, int ordinal) =>
        call.Arguments.FirstOrDefault(a => a.Parameter?.Ordinal == ordinal)?.Value;

    private static ISymbol? VariableOf(IOperation? operation) => Strip(operation) switch
    {
        ILocalReferenceOperation local => local.Local,
        IParameterReferenceOperation parameter => parameter.Parameter,
        _ => null,
    };

    private static IOperation? Strip(IOperation? operation)
    {
        while (operation is IConversionOperation or IParenthesizedOperation)
        {
            operation = operation is IConversionOperation conversion ? conversion.Operand : ((IParenthesizedOperation)operation).Operand;
        }

        return operation;
    }

    private bool IsSource(IMethodSymbol method) =>
        method.MethodKind == MethodKind.Ordinary && method.DeclaringSyntaxReferences.Length > 0
        && SymbolEqualityComparer.Default.Equals(method.ContainingAssembly, _compilation.Assembly);

    private static bool SameFunction(SyntaxNode a, SyntaxNode b) => FunctionOf(a) == FunctionOf(b);

    private static SyntaxNode? FunctionOf(SyntaxNode node) =>
        node.Ancestors().FirstOrDefault(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax or AccessorDeclarationSyntax);

    /// <summary>The node is in the method's own body, not in a lambda or local function inside it.</summary>
    public static bool IsOwnBody(SyntaxNode node, SyntaxNode declaration) => FunctionOf(node) == declaration;
}
