using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>
/// The semantics of the path-sensitive analysis, plugged into <see cref="FlowEngine{TPath, TBranch}"/>:
/// a path is a <see cref="Disjunct"/> (ESP-style property simulation: the facts of
/// <see cref="Domains"/> plus the values that decide branches). Branches on values a disjunct
/// knows (a constant local, a tested bool, the null-ness of a returned pointer, a comparison the
/// bounds arithmetic decides) send it one way only, which keeps correlated branches
/// (<c>if (is_cow) start ... if (is_cow) end</c>) and conditional locks (<c>page_check_address</c>)
/// precise without enumerating paths. In the engine's final pass it records, per operation,
/// what every path knows there (<see cref="FlowResult"/>).
/// </summary>
internal sealed class FlowAnalysis : IPathSemantics<Disjunct, Value>
{
    /// <summary>Distinct property states kept apart at a block before they are merged with "maybe" markers.</summary>
    public const int MaxDisjuncts = 8;

    private readonly ApiModel _api;
    private readonly FlowResult _result;
    private readonly CancellationToken _cancellationToken;
    private readonly ControlFlowGraph _graph;
    private readonly IMethodSymbol? _method;
    private readonly Queue<(ControlFlowGraph Graph, IMethodSymbol? Method)> _nested;
    private readonly HashSet<SyntaxNode> _queued;

    // One value per variable's value on entry: the walk reads it on every path and every pass.
    private readonly Dictionary<ISymbol, Value> _initial = new(SymbolEqualityComparer.Default);
    private bool _record;

    /// <summary>Whether the cleared-entries domain is tracked (the body releases a page somewhere).</summary>
    private bool _trackCleared = true;

    private FlowAnalysis(ControlFlowGraph graph, IMethodSymbol? method, ApiModel api, FlowResult result, Queue<(ControlFlowGraph, IMethodSymbol?)> nested, HashSet<SyntaxNode> queued, CancellationToken cancellationToken)
    {
        _queued = queued;
        _graph = graph;
        _method = method;
        _api = api;
        _result = result;
        _nested = nested;
        _cancellationToken = cancellationToken;
    }

    /// <summary>A <c>bool</c> parameter the caller passes <c>mmu_notifier_range_blockable(range)</c> to:
    /// the method is entered with it unproven, as a callback is with its range.</summary>
    private IParameterSymbol? _blockableFlag;

    /// <summary>Analyses <paramref name="graph"/> and every lambda and local function inside it.</summary>
    public static FlowResult Analyze(ControlFlowGraph graph, IMethodSymbol? method, ApiModel api, CancellationToken cancellationToken, bool trackCleared = true, IParameterSymbol? blockableFlag = null)
    {
        var result = new FlowResult(true);
        var nested = new Queue<(ControlFlowGraph, IMethodSymbol?)>();
        var queued = new HashSet<SyntaxNode>();
        nested.Enqueue((graph, method));
        while (nested.Count > 0)
        {
            var (g, m) = nested.Dequeue();
            foreach (var local in g.LocalFunctions)
            {
                if (g.GetLocalFunctionControlFlowGraph(local, cancellationToken) is { } localGraph)
                {
                    nested.Enqueue((localGraph, local));
                }
            }

            var analysis = new FlowAnalysis(g, m, api, result, nested, queued, cancellationToken)
            {
                _trackCleared = trackCleared,
                _blockableFlag = SymbolEqualityComparer.Default.Equals(m, method) ? blockableFlag : null,
            };
            if (!analysis.Run())
            {
                result.GiveUp();
                return result;
            }
        }

        return result;
    }

    private bool Run() => new FlowEngine<Disjunct, Value>(_graph, this, _cancellationToken).Run(EntryState());

    private Disjunct EntryState()
    {
        var d = Disjunct.Empty;
        if (_method is null)
        {
            return d;
        }

        var effects = _api.Get(_method);
        var locks = d.Locks;
        var semaphores = d.Get(Domains.Semaphores);
        foreach (var held in effects.MustHold.Concat(effects.Releases))
        {
            if (ResolveEntryLock(held.Expression, out var lockType) is { } key)
            {
                // An rw_semaphore the method is entered holding (mmap_sem) is not a spinlock:
                // sleeping under it is allowed, so it goes to its own domain.
                if (_api.Symbols.RwSemaphore is { } rwsem && SymbolEqualityComparer.Default.Equals(lockType, rwsem))
                {
                    semaphores = semaphores.Add(new SemaphoreFact(_api.SemaphoreKey(key), null, held.Expression, SemaphoreMode.Unknown, LockCondition.None, null, Certainty.Certain));
                }
                else if (held.Kind == LockKind.Spin)
                {
                    locks = locks.Add(new LockFact(key, null, held.Expression, LockCondition.None, null, Certainty.Certain));
                }
                else
                {
                    d = d.With(Domains.Mutexes, d.Get(Domains.Mutexes).Add(new LockFact(key, null, held.Expression, LockCondition.None, null, Certainty.Certain)));
                }
            }
        }

        var ranges = d.Ranges;
        if (effects.Range is { Role: RangeRole.Closes } closes)
        {
            // A closer is entered with its caller's range open.
            var keyOrdinal = closes.Range >= 0 ? closes.Range : closes.Mm;
            if (keyOrdinal >= 0 && keyOrdinal < _method.Parameters.Length)
            {
                var key = Value.Parameter(_method.Parameters[keyOrdinal]);
                var start = closes.Start >= 0 ? Value.Parameter(_method.Parameters[closes.Start]) : null;
                var end = closes.End >= 0 ? Value.Parameter(_method.Parameters[closes.End]) : null;
                var syntax = _method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(_cancellationToken);
                if (syntax is not null)
                {
                    ranges = ranges.Add(new RangeFact(key, closes.Range >= 0, syntax, start, end, ImmutableArray<ISymbol>.Empty, ImmutableArray<ArgumentWrite>.Empty, Certainty.Certain, _method.Parameters[keyOrdinal].Name));
                }
            }
        }

        // A range handed in (a callback's, a helper's) may be non-blockable until a test proves otherwise.
        var unproven = ImmutableArray<UnprovenBlockable>.Empty;
        if (_api.Symbols.MmuNotifierRange is { } rangeType)
        {
            foreach (var parameter in _method.Parameters)
            {
                if (SymbolEqualityComparer.Default.Equals(parameter.Type, rangeType))
                {
                    unproven = unproven.Add(new UnprovenBlockable(Value.Parameter(parameter), parameter, Certainty.Certain));
                }
            }
        }

        if (_blockableFlag is { } flag)
        {
            unproven = unproven.Add(new UnprovenBlockable(Value.Parameter(flag), flag, Certainty.Certain));
        }

        return d.With(Domains.Ranges, ranges).With(Domains.Locks, locks).With(Domains.Semaphores, semaphores).With(Domains.Unproven, unproven);
    }

    private static FactSetDomain<LockFact> DomainOf(LockKind kind) => kind == LockKind.Mutex ? Domains.Mutexes : Domains.Locks;

    private Value? ResolveEntryLock(string expression, out ITypeSymbol? lockType)
    {
        lockType = null;
        var parts = ApiModel.Path(expression);
        Value current;
        ITypeSymbol? type;
        if (parts[0] == "this")
        {
            type = _method!.ContainingType;
            current = Value.ThisValue(type);
        }
        else if (_method!.Parameters.FirstOrDefault(p => p.Name == parts[0]) is { } p)
        {
            type = p.Type;
            current = Value.Parameter(p);
        }
        else
        {
            return null;
        }

        var root = type;
        for (var i = 1; i < parts.Count && type is not null; i++)
        {
            var member = type.GetMembers(parts[i]).FirstOrDefault(m => m is IFieldSymbol or IPropertySymbol);
            type = member is IFieldSymbol field ? field.Type : (member as IPropertySymbol)?.Type;
        }

        lockType = type;
        return FollowMembers(current, root, parts, null);
    }

    private static Value? FollowMembers(Value current, ITypeSymbol? type, IReadOnlyList<string> parts, Disjunct? d)
    {
        for (var i = 1; i < parts.Count; i++)
        {
            var member = type?.GetMembers(parts[i]).FirstOrDefault(m => m is IFieldSymbol or IPropertySymbol);
            if (member is null)
            {
                return null;
            }

            current = Value.Member(current, member, d?.VersionOf(member));
            type = member is IFieldSymbol f ? f.Type : ((IPropertySymbol)member).Type;
        }

        return current;
    }

    // ---------------------------------------------------------------- the engine's questions

    /// <inheritdoc/>
    public Disjunct Transfer(BasicBlock block, Disjunct path, bool record, out Value? branch)
    {
        _record = record;
        var d = path;
        foreach (var operation in block.Operations)
        {
            Evaluate(operation, ref d);
        }

        branch = block.BranchValue is { } branchValue ? Evaluate(branchValue, ref d) : null;
        return d;
    }

    /// <inheritdoc/>
    Disjunct? IPathSemantics<Disjunct, Value>.Refine(Disjunct path, Value branch, bool outcome) => Refine(path, branch, outcome);

    /// <inheritdoc/>
    public bool Same(Disjunct a, Disjunct b) => a.SameAs(b);

    /// <inheritdoc/>
    public void Exit(ExitPath exit, List<Disjunct> paths) => RecordExit(exit, paths);

    /// <summary>The join: disjuncts with the same property state merge their data; more than
    /// <see cref="MaxDisjuncts"/> property states are merged with "maybe" markers.</summary>
    public List<Disjunct> Join(IEnumerable<Disjunct> incoming, int blockOrdinal)
    {
        // Most blocks have one predecessor carrying one path: nothing to group or merge.
        // (The engine never changes a list it was handed, so it is returned as it is.)
        if (incoming is List<Disjunct> { Count: 1 } one)
        {
            return one;
        }

        if (incoming is IReadOnlyList<Disjunct> { Count: 1 } single)
        {
            return new List<Disjunct>(1) { single[0] };
        }

        var groups = new List<List<Disjunct>>();
        foreach (var d in incoming)
        {
            List<Disjunct>? group = null;
            foreach (var g in groups)
            {
                if (g[0].SamePropertyState(d))
                {
                    group = g;
                    break;
                }
            }

            if (group is null)
            {
                groups.Add(new List<Disjunct> { d });
            }
            else if (!Contains(group, d))
            {
                group.Add(d);
            }
        }

        var merged = new List<Disjunct>(groups.Count);
        foreach (var group in groups)
        {
            merged.Add(Disjunct.MergeData(group, blockOrdinal));
        }

        if (merged.Count > MaxDisjuncts)
        {
            var keep = merged.GetRange(0, MaxDisjuncts - 1);
            keep.Add(Disjunct.MergeProperties(merged.GetRange(MaxDisjuncts - 1, merged.Count - (MaxDisjuncts - 1)), blockOrdinal));
            merged = keep;
        }

        return merged;

        static bool Contains(List<Disjunct> group, Disjunct d)
        {
            foreach (var x in group)
            {
                if (x.SameAs(d))
                {
                    return true;
                }
            }

            return false;
        }
    }

    private void RecordExit(ExitPath exit, List<Disjunct> states)
    {
        if (_api.IsIntervalInvalidate(_method))
        {
            // What ->invalidate did before returning (MMU012: mmu_interval_set_seq when it returns true).
            _result.AddExit(exit, states.Select(d => new ObservedPath(d, ImmutableArray<Value?>.Empty)));
        }

        var opener = _method is not null && _api.Get(_method).Range is { Role: RangeRole.Opens };
        if (opener)
        {
            // A helper annotated as opening a range leaves it open on purpose.
            return;
        }

        foreach (var d in states)
        {
            foreach (var r in d.Ranges)
            {
                // A range the method was entered with (a closer's own parameter) is its caller's business.
                if (r.Start is InvocationExpressionSyntax)
                {
                    _result.AddLeak(r, exit);
                }
            }
        }
    }

    internal static string Line(SyntaxNode node) => FlowEngine<Disjunct, Value>.Line(node);

    // ---------------------------------------------------------------- branches

    /// <summary>The disjunct when <paramref name="condition"/> evaluates to <paramref name="outcome"/>, or null when it cannot.</summary>
    private Disjunct? Refine(Disjunct d, Value condition, bool outcome)
    {
        if (condition.IsConstant)
        {
            return condition.Payload is bool b ? (b == outcome ? d : null) : d;
        }

        if (Compare(condition) is { } decided)
        {
            return decided == outcome ? d : null;
        }

        if (condition.Kind == ValueKind.Unary && condition.Extra == (int)UnaryOperatorKind.Not && condition.Left is { } operand)
        {
            return Refine(d, operand, !outcome);
        }

        if (condition.Kind == ValueKind.Binary && condition.Left is { } left && condition.Right is { } right
            && (condition.Extra == (int)BinaryOperatorKind.Equals || condition.Extra == (int)BinaryOperatorKind.NotEquals))
        {
            var equals = (condition.Extra == (int)BinaryOperatorKind.Equals) == outcome;
            if (right.IsNullConstant || left.IsNullConstant)
            {
                return Nullness(d, right.IsNullConstant ? left : right, isNull: equals);
            }

            if (right.Payload is bool rb && right.IsConstant)
            {
                return Refine(d, left, equals == rb);
            }

            if (left.Payload is bool lb && left.IsConstant)
            {
                return Refine(d, right, equals == lb);
            }

            if (IsZero(right) || IsZero(left))
            {
                return Zeroness(d, IsZero(right) ? left : right, isZero: equals);
            }
        }

        if (d.Facts.TryGetValue(condition, out var known) && known is Known.True or Known.False)
        {
            return (known == Known.True) == outcome ? d : null;
        }

        d = d.With(facts: d.Facts.SetItem(condition, outcome ? Known.True : Known.False));
        if (outcome && !d.Get(Domains.Unproven).IsEmpty)
        {
            // mmu_notifier_range_blockable(range) tested true, or the blockable flag a caller passed in.
            var proven = BlockableTest(condition) ?? condition;
            d = d.With(Domains.Unproven, d.Get(Domains.Unproven).RemoveAll(u => u.Range.Equals(proven)));
        }

        return ResolveSequences(ResolveLocks(d, condition, LockCondition.WhenTrue, outcome), condition, outcome);
    }

    /// <summary>The range <c>mmu_notifier_range_blockable(range)</c> tests, when <paramref name="condition"/> is that call.</summary>
    private Value? BlockableTest(Value condition) =>
        condition.Kind == ValueKind.Call && condition.Payload is IMethodSymbol method
        && KnownSymbols.Is(method, _api.Symbols.RangeBlockable)
        && condition.Left is { Kind: ValueKind.Call, Left: { } argument }
            ? argument
            : null;

    /// <summary>
    /// A comparison the bounds arithmetic decides: both sides over the same base
    /// (<c>mmun_end &gt; mmun_start</c> is false while both are 0 and true once they are
    /// <c>a &amp; PAGE_MASK</c> and that plus <c>PAGE_SIZE</c>; addresses do not wrap). Null when undecided.
    /// </summary>
    private static bool? Compare(Value condition)
    {
        if (condition.Kind != ValueKind.Binary || condition.Left is not { } left || condition.Right is not { } right
            || left.IsNullConstant || right.IsNullConstant || left.Payload is bool || right.Payload is bool)
        {
            return null;
        }

        var op = (BinaryOperatorKind)condition.Extra;
        if (op is not (BinaryOperatorKind.LessThan or BinaryOperatorKind.LessThanOrEqual or BinaryOperatorKind.GreaterThan
            or BinaryOperatorKind.GreaterThanOrEqual or BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals))
        {
            return null;
        }

        var l = RangeCoverage.Bounds(left);
        var r = RangeCoverage.Bounds(right);
        if (!Equals(l.Base, r.Base) || (l.Base is not null && (l.Low != l.High || r.Low != r.High) && op is BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals))
        {
            return null;
        }

        bool? less = l.High < r.Low ? true : l.Low >= r.High ? false : null;        // l < r
        bool? greater = l.Low > r.High ? true : l.High <= r.Low ? false : null;     // l > r
        bool? equal = l.Low == l.High && r.Low == r.High ? l.Low == r.Low : less == true || greater == true ? false : null;
        return op switch
        {
            BinaryOperatorKind.LessThan => less,
            BinaryOperatorKind.GreaterThan => greater,
            BinaryOperatorKind.LessThanOrEqual => greater is { } g ? !g : null,
            BinaryOperatorKind.GreaterThanOrEqual => less is { } s ? !s : null,
            BinaryOperatorKind.Equals => equal,
            _ => equal is { } e ? !e : null,
        };
    }

    private static Disjunct? Nullness(Disjunct d, Value value, bool isNull)
    {
        if (value.IsConstant)
        {
            return value.IsNullConstant == isNull ? d : null;
        }

        if (d.Facts.TryGetValue(value, out var known) && known is Known.Null or Known.NonNull)
        {
            return (known == Known.Null) == isNull ? d : null;
        }

        d = d.With(facts: d.Facts.SetItem(value, isNull ? Known.Null : Known.NonNull));
        return ResolveLocks(d, value, LockCondition.WhenNotNull, !isNull);
    }

    private static Disjunct? Zeroness(Disjunct d, Value value, bool isZero)
    {
        if (value.IsConstant)
        {
            return IsZero(value) == isZero ? d : null;
        }

        if (d.Facts.TryGetValue(value, out var known) && known is Known.Zero or Known.NonZero)
        {
            return (known == Known.Zero) == isZero ? d : null;
        }

        d = ResolveSequences(d.With(facts: d.Facts.SetItem(value, isZero ? Known.Zero : Known.NonZero)), value, !isZero);
        var ranges = d.Ranges;
        var refused = d.Get(Domains.Refused);
        foreach (var r in d.Ranges)
        {
            if (value.Equals(r.OpenWhenZero))
            {
                ranges = isZero ? ranges.Replace(r, r.Unconditional()) : ranges.Remove(r);
                if (!isZero)
                {
                    refused = refused.Add(new RefusedRange(r.Key, r.Start, r.KeyDisplay, r.Certainty));
                }
            }
        }

        return ranges == d.Ranges ? d : d.With(Domains.Ranges, ranges).With(Domains.Refused, refused);
    }

    /// <summary>A conditional lock (spinlock, mutex or rw_semaphore) whose condition is now known becomes held for sure, or is dropped.</summary>
    private static Disjunct ResolveLocks(Disjunct d, Value condition, LockCondition kind, bool held)
    {
        foreach (var domain in LockDomains)
        {
            var locks = d.Get(domain);
            foreach (var l in d.Get(domain))
            {
                if (l.Condition == kind && condition.Equals(l.ConditionValue))
                {
                    locks = locks.Remove(l);
                    if (held)
                    {
                        locks = locks.Add(l.Unconditional());
                    }
                }
            }

            d = d.With(domain, locks);
        }

        var semaphores = d.Get(Domains.Semaphores);
        foreach (var s in d.Get(Domains.Semaphores))
        {
            if (s.Condition == kind && condition.Equals(s.ConditionValue))
            {
                semaphores = semaphores.Remove(s);
                if (held)
                {
                    semaphores = semaphores.Add(s.Unconditional());
                }
            }
        }

        return semaphores == d.Get(Domains.Semaphores) ? d : d.With(Domains.Semaphores, semaphores);
    }

    /// <summary>A retry check whose result is now known: the path holds a validated sequence, or one it must retry.</summary>
    private static Disjunct ResolveSequences(Disjunct d, Value result, bool truthy)
    {
        var sequences = d.Get(Domains.Sequences);
        foreach (var s in d.Get(Domains.Sequences))
        {
            if (s.State == SequenceState.Checked && result.Equals(s.CheckResult))
            {
                sequences = sequences.Replace(s, s.Resolved(valid: truthy == s.CheckTrueWhenValid));
            }
        }

        return d.With(Domains.Sequences, sequences);
    }

    private static readonly FactSetDomain<LockFact>[] LockDomains = { Domains.Locks, Domains.Mutexes };

    // ---------------------------------------------------------------- operations

    private Value Evaluate(IOperation operation, ref Disjunct d)
    {
        if (operation.ConstantValue.HasValue && operation is not IInvocationOperation)
        {
            return Value.Constant(operation.ConstantValue.Value);
        }

        switch (operation)
        {
            case ILiteralOperation:
                return Value.Constant(null);

            case IConversionOperation conversion:
                {
                    var v = Evaluate(conversion.Operand, ref d);
                    return conversion.OperatorMethod is null ? v : Value.Opaque(conversion);
                }

            case ILocalReferenceOperation local:
                return VariableValue(d, local.Local);

            case IParameterReferenceOperation parameter:
                return VariableValue(d, parameter.Parameter);

            case IInstanceReferenceOperation instance:
                return Value.ThisValue(instance.Type);

            case IFieldReferenceOperation field:
                {
                    var receiver = field.Instance is null ? null : Evaluate(field.Instance, ref d);
                    var version = d.VersionOf(field.Field);
                    var read = version?.ReadBack(receiver) ?? Value.Member(receiver, field.Field, version);
                    if (_api.IsSequenceMember(field.Field))
                    {
                        ReadSequence(field.Syntax, read, ref d);
                    }

                    return read;
                }

            case IPropertyReferenceOperation property:
                {
                    var receiver = property.Instance is null ? null : Evaluate(property.Instance, ref d);
                    foreach (var argument in property.Arguments)
                    {
                        Evaluate(argument.Value, ref d);
                    }

                    NoteCandidate(property, d);
                    var version = d.VersionOf(property.Property);
                    var read = property.Arguments.IsEmpty
                        ? version?.ReadBack(receiver) ?? Value.Member(receiver, property.Property, version)
                        : Value.Opaque(property);
                    if (_api.IsSequenceMember(property.Property))
                    {
                        ReadSequence(property.Syntax, read, ref d);
                    }

                    return read;
                }

            case IFlowCaptureOperation capture:
                {
                    var v = Evaluate(capture.Value, ref d);
                    d = d.With(captures: d.Captures.SetItem(capture.Id, v));
                    return v;
                }

            case IFlowCaptureReferenceOperation captureReference:
                return d.Captures.TryGetValue(captureReference.Id, out var captured) ? captured : Value.Opaque(captureReference);

            case IIsNullOperation isNull:
                return Value.Binary(BinaryOperatorKind.Equals, Evaluate(isNull.Operand, ref d), Value.Null, isNull);

            case IIsPatternOperation isPattern:
                {
                    var v = Evaluate(isPattern.Value, ref d);
                    return isPattern.Pattern switch
                    {
                        IConstantPatternOperation { Value.ConstantValue: { HasValue: true } c } =>
                            Value.Binary(BinaryOperatorKind.Equals, v, Value.Constant(c.Value), isPattern),
                        INegatedPatternOperation { Pattern: IConstantPatternOperation { Value.ConstantValue: { HasValue: true } nc } } =>
                            Value.Binary(BinaryOperatorKind.NotEquals, v, Value.Constant(nc.Value), isPattern),
                        _ => Value.Opaque(isPattern),
                    };
                }

            case IBinaryOperation binary:
                {
                    var left = Evaluate(binary.LeftOperand, ref d);
                    var right = Evaluate(binary.RightOperand, ref d);
                    // A user-defined == against null (pte_ptr's) is still a null test.
                    var nullTest = (left.IsNullConstant || right.IsNullConstant)
                        && binary.OperatorKind is BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals;
                    if (binary.OperatorMethod is not null && !nullTest)
                    {
                        return Value.Opaque(binary);
                    }

                    if (left.IsConstant && right.IsConstant && binary.OperatorKind is BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals)
                    {
                        return (left.Equals(right) == (binary.OperatorKind == BinaryOperatorKind.Equals)) ? Value.True : Value.False;
                    }

                    return Value.Binary(binary.OperatorKind, left, right, binary);
                }

            case IUnaryOperation unary:
                {
                    var v = Evaluate(unary.Operand, ref d);
                    if (unary.OperatorKind == UnaryOperatorKind.Not && v.IsConstant && v.Payload is bool b)
                    {
                        return b ? Value.False : Value.True;
                    }

                    return unary.OperatorMethod is null ? Value.Unary(unary.OperatorKind, v, unary) : Value.Opaque(unary);
                }

            case ISimpleAssignmentOperation assignment:
                {
                    var v = Evaluate(assignment.Value, ref d);
                    Assign(assignment.Target, v, assignment, ref d);
                    return v;
                }

            case ICompoundAssignmentOperation compound:
                {
                    var current = Evaluate(compound.Target, ref d);
                    var v = Evaluate(compound.Value, ref d);
                    var result = compound.OperatorMethod is null ? Value.Binary(compound.OperatorKind, current, v, compound) : Value.Opaque(compound);
                    Assign(compound.Target, result, compound, ref d);
                    return result;
                }

            case IIncrementOrDecrementOperation increment:
                {
                    var current = Evaluate(increment.Target, ref d);
                    var op = increment.Kind == OperationKind.Increment ? BinaryOperatorKind.Add : BinaryOperatorKind.Subtract;
                    var result = Value.Binary(op, current, Value.Constant(1), increment);
                    Assign(increment.Target, result, increment, ref d);
                    return increment.IsPostfix ? current : result;
                }

            case IInvocationOperation invocation:
                return Invoke(invocation, ref d);

            case IObjectCreationOperation creation:
                {
                    foreach (var argument in creation.Arguments)
                    {
                        Evaluate(argument.Value, ref d);
                    }

                    if (creation.Initializer is { } initializer)
                    {
                        Evaluate(initializer, ref d);
                    }

                    NoteCandidate(creation, d);
                    var v = Value.Opaque(creation);
                    d = d.With(facts: d.Facts.SetItem(v, Known.NonNull));
                    return v;
                }

            case IAwaitOperation awaiting:
                Evaluate(awaiting.Operation, ref d);
                NoteCandidate(awaiting, d);
                return Value.Opaque(awaiting);

            case IFlowAnonymousFunctionOperation lambda:
                if (_record && _queued.Add(lambda.Syntax) && _graph.GetAnonymousFunctionControlFlowGraph(lambda, _cancellationToken) is { } lambdaGraph)
                {
                    _nested.Enqueue((lambdaGraph, lambda.Symbol));
                }

                return Value.Opaque(lambda);

            case IDeclarationExpressionOperation declaration:
                return Evaluate(declaration.Expression, ref d);

            default:
                foreach (var child in operation.ChildOperations)
                {
                    Evaluate(child, ref d);
                }

                if (operation is ILockOperation)
                {
                    NoteCandidate(operation, d);
                }

                return Value.Opaque(operation);
        }
    }

    private void Assign(IOperation target, Value value, IOperation write, ref Disjunct d)
    {
        switch (target)
        {
            case IDeclarationExpressionOperation declaration:
                Assign(declaration.Expression, value, write, ref d);
                return;

            case ILocalReferenceOperation local:
                SetVariable(local.Local, value, write, ref d);
                return;

            case IParameterReferenceOperation parameter:
                SetVariable(parameter.Parameter, value, write, ref d);
                return;

            case IFieldReferenceOperation field:
                {
                    var receiver = field.Instance is null ? null : Evaluate(field.Instance, ref d);
                    WriteMember(field.Field, receiver, value, write, ref d);
                    return;
                }

            case IPropertyReferenceOperation property:
                {
                    var receiver = property.Instance is null ? null : Evaluate(property.Instance, ref d);
                    WriteMember(property.Property, receiver, value, write, ref d);
                    return;
                }

            case IFlowCaptureReferenceOperation:
                return;

            default:
                foreach (var child in target.ChildOperations)
                {
                    Evaluate(child, ref d);
                }

                return;
        }
    }

    private static void SetVariable(ISymbol variable, Value value, IOperation write, ref Disjunct d)
    {
        var ranges = d.Ranges;
        var isDeclaration = write is ISimpleAssignmentOperation { Target: ILocalReferenceOperation { IsDeclaration: true } };
        if (!isDeclaration)
        {
            foreach (var r in d.Ranges)
            {
                if (r.Watched.Contains(variable, SymbolEqualityComparer.Default))
                {
                    ranges = ranges.Replace(r, r.WithWrite(new ArgumentWrite(variable, write.Syntax)));
                }
            }
        }

        d = d.With(Domains.Ranges, ranges).With(variables: d.Variables.SetItem(variable, value));
    }

    private void WriteMember(ISymbol member, Value? receiver, Value value, IOperation write, ref Disjunct d)
    {
        d = d.With(versions: d.Versions.SetItem(member, Value.Write(write, receiver, value)));
        if (!_record || receiver is null || _api.Symbols.MmuNotifierRange is not { } rangeType
            || !SymbolEqualityComparer.Default.Equals(member.ContainingType, rangeType))
        {
            return;
        }

        foreach (var r in d.Ranges)
        {
            if (r.IsRangeObject && r.Key.Equals(receiver))
            {
                _result.AddFieldWrite(new RangeFieldWrite(write.Syntax, member, r));
            }
        }
    }

    /// <summary>Keeps what a path knows at an operation that is reached with a property fact.</summary>
    private void NoteCandidate(IOperation operation, Disjunct d)
    {
        if (_record && HasFacts(d))
        {
            _result.Observe(operation, new ObservedPath(d, ImmutableArray<Value?>.Empty));
        }
    }

    private static bool HasFacts(Disjunct d) =>
        !d.Locks.IsEmpty || !d.Ranges.IsEmpty || !d.Get(Domains.Cleared).IsEmpty || !d.Get(Domains.Semaphores).IsEmpty
        || !d.Get(Domains.Refused).IsEmpty || !d.Get(Domains.Unproven).IsEmpty;

    private Value Invoke(IInvocationOperation invocation, ref Disjunct d)
    {
        var method = invocation.TargetMethod;
        var effects = _api.Get(method);
        var receiver = invocation.Instance is null ? null : Evaluate(invocation.Instance, ref d);
        var parameterCount = method.Parameters.Length;
        var values = parameterCount == 0 ? System.Array.Empty<Value?>() : new Value?[parameterCount];

        // The argument operations are read only at the calls the analysis models; out/ref targets
        // only where the call has such an argument.
        var syntaxes = parameterCount == 0 || !effects.IsRelevant ? NoArguments : new IOperation?[parameterCount];
        IOperation?[]? outTargets = null;
        foreach (var argument in invocation.Arguments)
        {
            var ordinal = argument.Parameter?.Ordinal ?? -1;
            var inRange = ordinal >= 0 && ordinal < parameterCount;
            if (argument.Parameter?.RefKind == RefKind.Out)
            {
                if (inRange)
                {
                    (outTargets ??= new IOperation?[parameterCount])[ordinal] = argument.Value;
                    if (syntaxes.Length > 0)
                    {
                        syntaxes[ordinal] = argument.Value;
                    }
                }

                continue;
            }

            var v = Evaluate(argument.Value, ref d);
            if (inRange)
            {
                values[ordinal] = v;
                if (syntaxes.Length > 0)
                {
                    syntaxes[ordinal] = argument.Value;
                }

                if (argument.Parameter?.RefKind == RefKind.Ref)
                {
                    (outTargets ??= new IOperation?[parameterCount])[ordinal] = argument.Value;
                }
            }
        }

        if (_record && (effects.IsRelevant || HasFacts(d)))
        {
            // The state before the call: what the call runs under.
            // Argument values are read only at the calls the analysis models (a notification, a
            // clear, a range call); elsewhere the path's facts are all a rule asks for.
            _result.Observe(invocation, new ObservedPath(d, effects.IsRelevant ? values.ToImmutableArray() : ImmutableArray<Value?>.Empty));
        }

        // What the call stores into its out/ref arguments is new.
        for (var i = 0; outTargets is not null && i < outTargets.Length; i++)
        {
            if (outTargets[i] is { } target)
            {
                var stored = Value.OutArgument(invocation, i);
                if (d.Facts.ContainsKey(stored))
                {
                    d = d.With(facts: d.Facts.Remove(stored));
                }

                Assign(target, stored, invocation, ref d);
                values[i] = stored;
            }
        }

        var result = IsPredicate(method, effects) && AllKnown(values)
            ? Value.Call(method, values!, invocation)
            : Value.Opaque(invocation);
        if (result.Kind == ValueKind.Opaque && d.Facts.ContainsKey(result))
        {
            d = d.With(facts: d.Facts.Remove(result));
        }

        if (effects.InitsRange)
        {
            InitRange(invocation, method, values, ref d);
        }

        if (!effects.IsRelevant)
        {
            return result;
        }

        if (_trackCleared)
        {
            ClearedEntries(invocation, effects, values, ref d);
        }

        if (effects.Sequence != SequenceRole.None)
        {
            SequenceProtocol(invocation, effects, values, result, ref d);
        }

        if (effects.Range is { } range)
        {
            var keyOrdinal = range.Range >= 0 ? range.Range : range.Mm;
            var key = keyOrdinal >= 0 && keyOrdinal < values.Length ? values[keyOrdinal] : null;
            if (key is not null)
            {
                var start = range.Start >= 0 && range.Start < values.Length ? values[range.Start] : null;
                var end = range.End >= 0 && range.End < values.Length ? values[range.End] : null;
                if (range.Range >= 0 && range.Role == RangeRole.Opens)
                {
                    // The 4.20 form: the range object's fields, as mmu_notifier_range_init set them.
                    start = RangeField(key, "start", d);
                    end = RangeField(key, "end", d);
                }

                var display = Display(syntaxes[keyOrdinal]) ?? method.Parameters[keyOrdinal].Name;
                if (range.Role == RangeRole.Opens)
                {
                    // An opener returning an error code (_nonblock) opens only when it returned 0.
                    var openWhenZero = IsIntegral(method.ReturnType) ? result : null;
                    Open(invocation, key, display, range.Range >= 0, start, end, syntaxes, Display(At(syntaxes, range.Start)), Display(At(syntaxes, range.End)), openWhenZero, ref d);
                }
                else
                {
                    Close(invocation, key, display, range.Range >= 0, start, end, Display(At(syntaxes, range.Start)), Display(At(syntaxes, range.End)), ref d);
                }
            }
        }

        foreach (var released in effects.Releases)
        {
            if (ResolveLock(released.Expression, method, values, syntaxes, receiver, d) is { } key)
            {
                var domain = DomainOf(released.Kind);
                d = d.With(domain, WithoutHoldsOf(d.Get(domain), key.Value));
                var sequences = d.Get(Domains.Sequences);
                if (!sequences.IsEmpty)
                {
                    d = d.With(Domains.Sequences, Released(sequences, key.Value, invocation.Syntax));
                }
            }
        }

        if (effects.Semaphore is { } semaphore && At(values, semaphore.Ordinal) is { } semaphoreValue)
        {
            Semaphore(invocation, semaphore, _api.SemaphoreKey(semaphoreValue), Display(At(syntaxes, semaphore.Ordinal)) ?? method.Parameters[semaphore.Ordinal].Name, result, ref d);
        }

        foreach (var acquired in effects.Acquires)
        {
            if (ResolveLock(acquired.Expression, method, values, syntaxes, receiver, d) is { } key)
            {
                var domain = DomainOf(acquired.Kind);
                var fact = new LockFact(key.Value, invocation.Syntax, key.Display, acquired.Condition, acquired.Condition == LockCondition.None ? null : result, Certainty.Certain);
                d = d.With(domain, WithoutHoldsOf(d.Get(domain), key.Value).Add(fact));
            }
        }

        return result;
    }

    // Apart from Invoke, and without lambdas: a lambda capturing the lock's key there allocated its
    // closure at every lock call, taken or not.
    private static ImmutableArray<LockFact> WithoutHoldsOf(ImmutableArray<LockFact> locks, Value key)
    {
        ImmutableArray<LockFact>.Builder? kept = null;
        for (var i = 0; i < locks.Length; i++)
        {
            if (locks[i].Key.Equals(key))
            {
                if (kept is null)
                {
                    kept = ImmutableArray.CreateBuilder<LockFact>(locks.Length - 1);
                    for (var j = 0; j < i; j++)
                    {
                        kept.Add(locks[j]);
                    }
                }
            }
            else
            {
                kept?.Add(locks[i]);
            }
        }

        return kept is null ? locks : kept.ToImmutable();
    }

    private static ImmutableArray<SequenceFact> Released(ImmutableArray<SequenceFact> sequences, Value key, SyntaxNode at)
    {
        var released = ImmutableArray.CreateBuilder<SequenceFact>(sequences.Length);
        foreach (var sequence in sequences)
        {
            released.Add(sequence.Released(key, at));
        }

        return released.MoveToImmutable();
    }

    /// <summary>The rw_semaphore domain: <c>down_read</c>/<c>down_write</c> (a trylock only when it
    /// returned true) add the hold, <c>up_*</c> drops it, <c>downgrade_write</c> makes it a read hold.</summary>
    private static void Semaphore(IInvocationOperation invocation, SemaphoreEffect effect, Value key, string display, Value result, ref Disjunct d)
    {
        var semaphores = d.Get(Domains.Semaphores);
        switch (effect.Operation)
        {
            case SemaphoreOperation.Release:
                semaphores = semaphores.RemoveAll(s => s.Key.Equals(key));
                break;
            case SemaphoreOperation.Downgrade:
                semaphores = semaphores.Select(s => s.Key.Equals(key) && s.Mode == SemaphoreMode.Write ? s.WithMode(SemaphoreMode.Read) : s).ToImmutableArray();
                break;
            default:
                var mode = effect.Operation == SemaphoreOperation.AcquireWrite ? SemaphoreMode.Write : SemaphoreMode.Read;
                var fact = new SemaphoreFact(key, invocation.Syntax, display, mode, effect.Condition, effect.Condition == LockCondition.None ? null : result, Certainty.Certain);
                semaphores = semaphores.RemoveAll(s => s.Key.Equals(key)).Add(fact);
                break;
        }

        d = d.With(Domains.Semaphores, semaphores);
    }

    /// <summary>
    /// The cleared-entries domain: a clear that notifies nobody leaves its entry pending, a page
    /// release while entries are pending is noted on them, and an invalidation (invalidate_range,
    /// invalidate_page, an end) ends the pendency of every entry it does not provably miss.
    /// </summary>
    private static void ClearedEntries(IInvocationOperation invocation, MethodEffects effects, Value?[] values, ref Disjunct d)
    {
        var cleared = d.Get(Domains.Cleared);

        // change_pte (set_pte_at_notify) tells every secondary MMU the entry now maps another
        // page: KSM's replace_page relies on it (0f10851ea475: no second notification needed).
        if (effects.Notify is { } notify && !cleared.IsEmpty)
        {
            var (start, end) = notify.RangeOf(values, invocation);
            cleared = cleared.RemoveAll(e => RangeCoverage.Covers(start, end, e.Start, e.End) != Coverage.NotCovered);
        }

        if (effects.Range is { Role: RangeRole.Closes } closes && !cleared.IsEmpty)
        {
            var start = At(values, closes.Start);
            var end = At(values, closes.End);
            cleared = closes.Range >= 0
                ? ImmutableArray<ClearedEntry>.Empty
                : cleared.RemoveAll(e => RangeCoverage.Covers(start, end, e.Start, e.End) != Coverage.NotCovered);
        }

        if (effects.ReleasesPage && !cleared.IsEmpty)
        {
            cleared = cleared.Select(e => e.Released(invocation.Syntax)).ToImmutableArray();
        }

        if (effects.Clear is { Length: > 0 } clear && At(values, clear.Address) is { } address)
        {
            var end = Value.Binary(BinaryOperatorKind.Add, address, Value.Constant(clear.Length), invocation);
            var entry = new ClearedEntry(invocation.Syntax, address, end, null, Certainty.Certain);
            if (cleared.FirstOrDefault(e => e.Clear == invocation.Syntax) is { } earlier)
            {
                // The same clear again (a loop): one entry, its range unknown unless unchanged, so
                // the state converges.
                entry = address.Equals(earlier.Start)
                    ? earlier.WithCertainty(Certainty.Certain)
                    : new ClearedEntry(invocation.Syntax, null, null, earlier.ReleasedAt, Certainty.Certain);
                cleared = cleared.Remove(earlier);
            }

            cleared = cleared.Add(entry);
        }

        if (cleared != d.Get(Domains.Cleared))
        {
            d = d.With(Domains.Cleared, cleared);
        }
    }

    /// <summary>
    /// The sequence protocol of a secondary MMU (MMU012): a read starts a sequence (noting a page
    /// lookup already made); a lookup is noted on every sequence; a retry check records its result
    /// and the locks (spinlocks and mutexes) held, for the branch on that result to validate the
    /// sequence or send the path to retry; <c>mmu_interval_set_seq</c> is noted for <c>-&gt;invalidate</c>.
    /// </summary>
    private void SequenceProtocol(IInvocationOperation invocation, MethodEffects effects, Value?[] values, Value result, ref Disjunct d)
    {
        switch (effects.Sequence)
        {
            case SequenceRole.Read:
                ReadSequence(invocation.Syntax, result, ref d);
                break;

            case SequenceRole.Check:
                {
                    // The sequence the check is passed; a check of a sequence read elsewhere (a
                    // helper, a field set by the caller) checks every one the path holds.
                    var sequences = d.Get(Domains.Sequences);
                    var passed = sequences.Where(s => s.Value is { } v && values.Any(a => v.Equals(a))).ToList();
                    var locks = _api.DriverLocks(d.Locks, d.Get(Domains.Mutexes), d.Get(Domains.Semaphores));
                    foreach (var s in passed.Count > 0 ? passed : sequences.ToList())
                    {
                        sequences = sequences.Replace(s, s.Checked(invocation.Syntax, result, effects.CheckTrueWhenValid, locks));
                    }

                    d = d.With(Domains.Sequences, sequences);
                    break;
                }

            case SequenceRole.Lookup:
                {
                    // A lookup made after a read (the read of this loop turn) is not one the read missed.
                    var fact = new LookupFact(invocation.Syntax, !d.Get(Domains.Sequences).IsEmpty, HeldLocks(d), Certainty.Certain);
                    d = d.With(Domains.Lookups, d.Get(Domains.Lookups).RemoveAll(l => l.Call == invocation.Syntax).Add(fact));
                    break;
                }

            case SequenceRole.SetSeq:
                d = d.With(Domains.SequenceSets, d.Get(Domains.SequenceSets).RemoveAll(s => s.Call == invocation.Syntax).Add(new SequenceSetFact(invocation.Syntax, Certainty.Certain)));
                break;
        }
    }

    /// <summary>
    /// A sequence read at <paramref name="read"/>: a new sequence (the same read again, in a loop,
    /// replaces it). A lookup made before it, with no read before the lookup, is one an
    /// invalidation could have made stale unseen, unless a lock held at the lookup is held still
    /// (a VMA found under <c>mmap_lock</c> cannot change before it is released).
    /// </summary>
    private static void ReadSequence(SyntaxNode read, Value value, ref Disjunct d)
    {
        var held = HeldLocks(d);
        var lookupBefore = d.Get(Domains.Lookups).FirstOrDefault(l => l.Certainty == Certainty.Certain && !l.AfterRead && !l.Locks.Any(held.Contains))?.Call;
        var fact = new SequenceFact(read, value, lookupBefore, SequenceState.Unchecked, null, null, false, ImmutableArray<LockFact>.Empty, null, null, Certainty.Certain);
        d = d.With(Domains.Sequences, d.Get(Domains.Sequences).RemoveAll(s => s.Read == read).Add(fact));
    }

    private static ImmutableArray<LockFact> HeldLocks(Disjunct d) =>
        d.Locks.AddRange(d.Get(Domains.Mutexes)).AddRange(d.Get(Domains.Semaphores).Select(s => s.AsLock()));

    /// <summary><c>mmu_notifier_range_init(range, ..., mm, start, end)</c> sets the range's fields:
    /// reads of <c>range.start</c> then give the values passed.</summary>
    private void InitRange(IInvocationOperation invocation, IMethodSymbol method, Value?[] values, ref Disjunct d)
    {
        var range = values.Length > 0 ? values[0] : null;
        if (range is null || _api.Symbols.MmuNotifierRange is not { } type)
        {
            return;
        }

        foreach (var parameter in method.Parameters)
        {
            if (parameter.Name is "mm" or "start" or "end" && At(values, parameter.Ordinal) is { } value
                && type.GetMembers(parameter.Name).FirstOrDefault() is { } member)
            {
                d = d.With(versions: d.Versions.SetItem(member, Value.Write(invocation, range, value)));
            }
        }
    }

    /// <summary>A field of a range object as the path knows it.</summary>
    private Value? RangeField(Value range, string name, Disjunct d)
    {
        if (_api.Symbols.MmuNotifierRange?.GetMembers(name).FirstOrDefault() is not { } member)
        {
            return null;
        }

        var version = d.VersionOf(member);
        return version?.ReadBack(range) ?? Value.Member(range, member, version);
    }

    /// <summary>What the path holds in <paramref name="variable"/> (as <see cref="Disjunct.VariableValue"/>, its value on entry made once).</summary>
    private Value VariableValue(Disjunct d, ISymbol variable)
    {
        if (d.Variables.TryGetValue(variable, out var value))
        {
            return value;
        }

        if (!_initial.TryGetValue(variable, out value))
        {
            value = d.VariableValue(variable);
            _initial.Add(variable, value);
        }

        return value;
    }

    private static readonly IOperation?[] NoArguments = System.Array.Empty<IOperation?>();

    private static bool AllKnown(Value?[] values)
    {
        foreach (var v in values)
        {
            if (v is null)
            {
                return false;
            }
        }

        return true;
    }

    private static Value? At(Value?[] values, int ordinal) => ordinal >= 0 && ordinal < values.Length ? values[ordinal] : null;

    private static bool IsIntegral(ITypeSymbol type) => type.SpecialType is SpecialType.System_Int32 or SpecialType.System_Int64;

    private static bool IsZero(Value value) =>
        value.IsConstant && value.Payload is int or long or uint or ulong && System.Convert.ToDecimal(value.Payload, CultureInfo.InvariantCulture) == 0;

    /// <summary>
    /// A static bool-returning method with no annotation and no ref/out parameter (a predicate
    /// such as <c>is_cow_mapping(vma-&gt;vm_flags)</c>) gives the same value for the same argument
    /// values, so two tests of it on unchanged values are correlated.
    /// </summary>
    private bool IsPredicate(IMethodSymbol method, MethodEffects effects)
    {
        if (!method.IsStatic || method.ReturnType.SpecialType != SpecialType.System_Boolean || effects != MethodEffects.None)
        {
            return false;
        }

        foreach (var p in method.Parameters)
        {
            if (p.RefKind != RefKind.None)
            {
                return false;
            }
        }

        return !_api.HasAnnotation(method);
    }

    private void Open(IInvocationOperation invocation, Value key, string display, bool isRangeObject, Value? start, Value? end, IOperation?[] arguments, string? startDisplay, string? endDisplay, Value? openWhenZero, ref Disjunct d)
    {
        var ranges = d.Ranges;
        foreach (var open in d.Ranges)
        {
            if (open.Key.Equals(key) && open.IsRangeObject == isRangeObject)
            {
                if (_record)
                {
                    _result.AddReopened(invocation.Syntax, open);
                }

                ranges = ranges.Remove(open);
            }
        }

        var watched = ImmutableArray.CreateBuilder<ISymbol>();
        foreach (var argument in arguments)
        {
            if (argument is null)
            {
                continue;
            }

            foreach (var reference in argument.DescendantsAndSelf())
            {
                ISymbol? variable = reference switch
                {
                    ILocalReferenceOperation l => l.Local,
                    IParameterReferenceOperation p => p.Parameter,
                    _ => null,
                };
                if (variable is not null && !watched.Contains(variable, SymbolEqualityComparer.Default))
                {
                    watched.Add(variable);
                }
            }
        }

        var fact = new RangeFact(key, isRangeObject, invocation.Syntax, start, end, watched.ToImmutable(), ImmutableArray<ArgumentWrite>.Empty, Certainty.Certain, display, startDisplay, endDisplay, openWhenZero);
        d = d.With(Domains.Ranges, ranges.Add(fact));

        // A new start on a range refused before (the next loop iteration) starts it afresh.
        var refused = d.Get(Domains.Refused);
        if (!refused.IsEmpty)
        {
            d = d.With(Domains.Refused, refused.RemoveAll(r => r.Key.Equals(key)));
        }
    }

    private void Close(IInvocationOperation invocation, Value key, string display, bool isRangeObject, Value? start, Value? end, string? startDisplay, string? endDisplay, ref Disjunct d)
    {
        RangeFact? match = null;
        var keyDiffers = false;
        for (var i = d.Ranges.Length - 1; i >= 0; i--)
        {
            var open = d.Ranges[i];
            if (open.IsRangeObject == isRangeObject && open.Key.Equals(key))
            {
                match = open;
                break;
            }
        }

        if (match is null && d.Get(Domains.Refused).Any(r => r.Key.Equals(key)))
        {
            // The end of a range whose non-blocking start was refused: MMU014's finding, not an unmatched end.
            return;
        }

        if (match is null && !d.Ranges.IsEmpty)
        {
            // The range domain's matching: an end whose mm (or range object) is provably none of
            // the open ones closes the latest, and the close records that the keys differ.
            for (var i = d.Ranges.Length - 1; i >= 0 && match is null; i--)
            {
                if (d.Ranges[i].IsRangeObject == isRangeObject)
                {
                    match = d.Ranges[i];
                    keyDiffers = true;
                }
            }
        }

        if (match is null)
        {
            if (_record)
            {
                _result.AddUnmatchedEnd(invocation.Syntax, display);
            }

            return;
        }

        if (_record)
        {
            var startDiffers = !isRangeObject && !Equals(match.StartValue, start);
            var endDiffers = !isRangeObject && !Equals(match.EndValue, end);
            _result.AddClose(new RangeClose(invocation.Syntax, match, keyDiffers, startDiffers, endDiffers, display, startDisplay, endDisplay));
        }

        d = d.With(Domains.Ranges, d.Ranges.Remove(match));
    }

    private static (Value Value, string Display)? ResolveLock(string expression, IMethodSymbol method, Value?[] values, IOperation?[] arguments, Value? receiver, Disjunct d)
    {
        var parts = ApiModel.Path(expression);
        Value? root;
        ITypeSymbol? type;
        string display;
        if (parts[0] == "this")
        {
            root = receiver;
            type = method.ContainingType;
            display = "this";
        }
        else
        {
            var parameter = method.Parameters.FirstOrDefault(p => p.Name == parts[0]);
            if (parameter is null || parameter.Ordinal >= values.Length)
            {
                return null;
            }

            root = values[parameter.Ordinal];
            type = parameter.Type;
            display = Display(arguments[parameter.Ordinal]) ?? parameter.Name;
        }

        if (root is null || FollowMembers(root, type, parts, d) is not { } key)
        {
            return null;
        }

        for (var i = 1; i < parts.Count; i++)
        {
            display += "." + parts[i];
        }

        return (key, display);
    }

    private static IOperation? At(IOperation?[] arguments, int ordinal) =>
        ordinal >= 0 && ordinal < arguments.Length ? arguments[ordinal] : null;

    private static string? Display(IOperation? argument)
    {
        switch (argument)
        {
            case null:
                return null;
            case IDeclarationExpressionOperation { Expression: ILocalReferenceOperation local }:
                return local.Local.Name;
            case ILocalReferenceOperation local:
                return local.Local.Name;
            case IConversionOperation { IsImplicit: true } conversion:
                return Display(conversion.Operand);
            default:
                return argument.Syntax is ArgumentSyntax a ? a.Expression.ToString() : argument.Syntax.ToString();
        }
    }
}
