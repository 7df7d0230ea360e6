using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Core.Sleep;

/// <summary>
/// Answers "may this call sleep?" for one compilation, with the chain of calls that proves it.
/// </summary>
/// <remarks>
/// Facts, strongest first: <c>[NeverSleeps]</c> (stops everything) &gt; a <c>!</c> line of
/// <c>MmuNotifier.Sleep.txt</c> &gt; <c>[MaySleep]</c> or a may-sleep line (Kernel.Mm's own
/// functions carry the same attributes) &gt; blocking .NET APIs, by symbol &gt; gfp allocators
/// (<c>kmalloc</c>, <c>alloc_page_vma</c>, ...) whose flags allow direct reclaim &gt; the
/// compilation's own methods, which may sleep when any call in their body may. A method that
/// hands its own <c>gfp_t</c> parameter down to an allocator is judged at each call by the
/// flags passed there (a summary per method, outside the call graph's fixed point).
/// <para>
/// The interprocedural part is computed lazily, on the first question that needs it, over
/// the call graph reachable from the method asked about: Tarjan's strongly connected
/// components (iterative, so deep call chains do not overflow the stack), each component
/// solved once its callees are, with the shortest witness chain per method. Every method is
/// bound and walked at most once per compilation, so the cost is linear in the part of the
/// call graph that is asked about, whatever the number of call sites.
/// </para>
/// <para>
/// Virtual and interface calls use the static target (an abstract target has no body: it
/// does not sleep unless annotated or configured). Delegate invocations sleep only when the
/// delegate type is annotated or configured. Lambdas and local functions are methods of their
/// own: a method does not sleep because a lambda it creates would.
/// </para>
/// </remarks>
internal sealed class SleepOracle
{
    private static readonly ConditionalWeakTable<Compilation, OracleSet> Cache = new();

    // How many alloc helpers that hand gfp flags down are followed inside one another.
    private const int MaxForwardingDepth = 32;

    // Marks a method whose answer is "does not sleep" in _results (ConcurrentDictionary values
    // cannot tell "absent" from a stored null otherwise).
    private static readonly ChainLink NotSleeping = new(string.Empty, null, string.Empty);

    private readonly Compilation _compilation;
    private readonly KnownSymbols _symbols;
    private readonly BlockingApis _blocking;
    private readonly ulong _directReclaim;
    private readonly ConcurrentDictionary<IMethodSymbol, ChainLink> _results = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<SyntaxTree, SemanticModel> _models = new();

    // Lookup computes documentation-comment ids: once per method, not once per call site.
    private readonly ConcurrentDictionary<IMethodSymbol, ConfiguredSleep> _configured = new(SymbolEqualityComparer.Default);
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<IMethodSymbol, ImmutableArray<GfpForward>> _forwarding = new(SymbolEqualityComparer.Default);
    private readonly List<ForwardingFrame> _forwardingStack = new();

    private SleepOracle(Compilation compilation, SleepConfiguration configuration)
    {
        _compilation = compilation;
        _symbols = KnownSymbols.Get(compilation);
        _blocking = new BlockingApis(compilation);
        Configuration = configuration;
        _directReclaim = 0x400;
        if (_symbols.GfpT?.GetMembers("__GFP_DIRECT_RECLAIM") is { Length: > 0 } members
            && members[0] is IFieldSymbol { HasConstantValue: true } field
            && ToUInt64(field.ConstantValue) is ulong bit)
        {
            _directReclaim = bit;
        }
    }

    /// <summary>The merged <c>MmuNotifier.Sleep.txt</c> lists this oracle honours.</summary>
    public SleepConfiguration Configuration { get; }

    /// <summary>The oracle for <paramref name="compilation"/> and the configuration files in
    /// <paramref name="options"/>; one per compilation and configuration, shared by every rule.</summary>
    public static SleepOracle Get(Compilation compilation, AnalyzerOptions? options)
    {
        var files = SleepConfiguration.ReadFiles(options, CancellationToken.None);
        var set = Cache.GetValue(compilation, static _ => new OracleSet());
        lock (set)
        {
            foreach (var (key, oracle) in set.Oracles)
            {
                if (SameFiles(key, files))
                {
                    return oracle;
                }
            }

            var created = new SleepOracle(compilation, SleepConfiguration.Parse(files));
            set.Oracles.Add((files, created));
            return created;
        }
    }

    /// <summary>
    /// True when <paramref name="operation"/> may sleep: an invocation, object creation,
    /// property reference (<c>Task.Result</c>), user-defined operator or conversion, <c>lock</c>
    /// statement or <c>await</c>. The witness's first element is the callee at this site.
    /// </summary>
    public bool MaySleep(IOperation operation, CancellationToken cancellationToken, out SleepWitness witness)
    {
        var link = Classify(operation, cancellationToken, out _);
        witness = link is null ? SleepWitness.None : link.ToWitness();
        return link is not null;
    }

    /// <summary>True when calling <paramref name="method"/> may sleep; the witness starts with it.
    /// For a gfp allocator without a call site the flags are unknown: it may sleep.</summary>
    public bool MaySleep(IMethodSymbol method, CancellationToken cancellationToken, out SleepWitness witness)
    {
        var link = ForCallee(method, null, cancellationToken, out _);
        witness = link is null ? SleepWitness.None : link.ToWitness();
        return link is not null;
    }

    /// <summary>
    /// True when <paramref name="operation"/> is a call that may sleep only because of the gfp
    /// flags it passes, a constant: a gfp allocator (<c>kmalloc(size, GFP_KERNEL)</c>), or a method
    /// of the compilation that sleeps only by handing its one <c>gfp_t</c> parameter to one. The
    /// same call with flags that forbid reclaim would not sleep. <paramref name="gfpOrdinal"/> is the
    /// ordinal of that <c>gfp_t</c> parameter. False for anything annotated, configured or blocking
    /// on its own, for flags handed down from a caller, and for helpers that pick their own flags.
    /// </summary>
    public bool SleepsOnlyForItsGfpFlags(IOperation operation, CancellationToken cancellationToken, out int gfpOrdinal)
    {
        gfpOrdinal = -1;
        if (operation is not IInvocationOperation invocation)
        {
            return false;
        }

        var method = Normalize(invocation.TargetMethod);
        IOperation? argument;
        switch (Decide(method, invocation, out var link))
        {
            case Decision.Sleeps when link is { Next: null } && IsGfpAllocator(method):
                argument = GfpArgument(invocation, -1);
                break;
            case Decision.Source when Solve(method, cancellationToken) is null:
                var forwards = Forwarding(method, cancellationToken);
                if (forwards.IsDefaultOrEmpty || forwards.Any(f => f.Ordinal != forwards[0].Ordinal))
                {
                    return false;
                }

                argument = GfpArgument(invocation, forwards[0].Ordinal);
                break;
            default:
                return false;
        }

        if (argument is null || EvalGfp(argument, null) is not { IsConstant: true } flags || (flags.Flags & _directReclaim) == 0)
        {
            return false;
        }

        foreach (var each in invocation.Arguments)
        {
            if (ReferenceEquals(each.Value, argument) && each.Parameter is { } parameter)
            {
                gfpOrdinal = parameter.Ordinal;
            }
        }

        return gfpOrdinal >= 0;
    }

    /// <summary>True when <paramref name="method"/> is declared never to sleep
    /// (<c>[NeverSleeps]</c> or a <c>!</c> configuration line): nothing inside it is reported.</summary>
    public bool IsDeclaredNeverSleeping(IMethodSymbol method) =>
        Decide(Normalize(method), null, out _) == Decision.NeverSleeps;

    private static bool SameFiles(List<(string Path, SourceText Text)> a, List<(string Path, SourceText Text)> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (int i = 0; i < a.Count; i++)
        {
            if (!string.Equals(a[i].Path, b[i].Path, StringComparison.Ordinal)
                || (!ReferenceEquals(a[i].Text, b[i].Text) && !a[i].Text.ContentEquals(b[i].Text)))
            {
                return false;
            }
        }

        return true;
    }

    private static IMethodSymbol Normalize(IMethodSymbol method)
    {
        var m = method.ReducedFrom ?? method;
        m = m.OriginalDefinition;
        return m.PartialImplementationPart ?? m;
    }

    private static ulong? ToUInt64(object? value) => value switch
    {
        uint u => u,
        int i => unchecked((ulong)i),
        ulong ul => ul,
        long l => unchecked((ulong)l),
        ushort us => us,
        short s => unchecked((ulong)s),
        byte b => b,
        sbyte sb => unchecked((ulong)sb),
        _ => null,
    };

    // The fact about one operation of a method body: sleeps (with its chain), or a call edge to a
    // method of this compilation whose answer the call graph decides.
    private ChainLink? Classify(IOperation operation, CancellationToken cancellationToken, out IMethodSymbol? sourceCallee)
    {
        sourceCallee = null;
        switch (operation)
        {
            case IInvocationOperation invocation:
                return ForCallee(invocation.TargetMethod, invocation, cancellationToken, out sourceCallee);
            case IObjectCreationOperation { Constructor: { } constructor } creation:
                return ForCallee(constructor, creation, cancellationToken, out sourceCallee);
            case IPropertyReferenceOperation property:
                return ForProperty(property, cancellationToken, out sourceCallee);
            case ILockOperation:
                return new ChainLink("lock", null, SleepReasons.Lock);
            case IAwaitOperation:
                return new ChainLink("await", null, SleepReasons.Await);
            case IBinaryOperation { OperatorMethod: { } op } binary:
                return ForCallee(op, binary, cancellationToken, out sourceCallee);
            case IUnaryOperation { OperatorMethod: { } op } unary:
                return ForCallee(op, unary, cancellationToken, out sourceCallee);
            case IConversionOperation { OperatorMethod: { } op } conversion:
                return ForCallee(op, conversion, cancellationToken, out sourceCallee);
            case IIncrementOrDecrementOperation { OperatorMethod: { } op } increment:
                return ForCallee(op, increment, cancellationToken, out sourceCallee);
            case ICompoundAssignmentOperation { OperatorMethod: { } op } compound:
                return ForCallee(op, compound, cancellationToken, out sourceCallee);
            default:
                return null;
        }
    }

    private ChainLink? ForProperty(IPropertyReferenceOperation reference, CancellationToken cancellationToken, out IMethodSymbol? sourceCallee)
    {
        sourceCallee = null;
        var property = reference.Property;
        bool writes = false;
        bool reads = true;
        if (reference.Parent is IAssignmentOperation assignment && assignment.Target == reference)
        {
            writes = true;
            reads = assignment is ICompoundAssignmentOperation or ICoalesceAssignmentOperation;
        }
        else if (reference.Parent is IIncrementOrDecrementOperation)
        {
            writes = true;
        }

        if (reads && property.GetMethod is { } getter)
        {
            var link = ForCallee(getter, reference, cancellationToken, out sourceCallee);
            if (link is not null)
            {
                return link;
            }
        }

        if (writes && property.SetMethod is { } setter)
        {
            return ForCallee(setter, reference, cancellationToken, out sourceCallee);
        }

        return null;
    }

    private ChainLink? ForCallee(IMethodSymbol callee, IOperation? site, CancellationToken cancellationToken, out IMethodSymbol? sourceCallee)
    {
        sourceCallee = null;
        var method = Normalize(callee);
        switch (Decide(method, site, out var link))
        {
            case Decision.Sleeps:
                return link;
            case Decision.Source:
                sourceCallee = method;
                var inner = Solve(method, cancellationToken);
                return inner is not null
                    ? new ChainLink(DisplayName(method), inner, inner.Reason)
                    : ConditionalSleep(method, site, null, cancellationToken);
            default:
                return null;
        }
    }

    private Decision Decide(IMethodSymbol method, IOperation? site, out ChainLink? link) =>
        Decide(method, site, null, out link);

    // owner: the method whose body is being summarised; a gfp argument that is one of its own
    // parameters makes the call a Forwards (the caller's flags decide), not a sleep.
    private Decision Decide(IMethodSymbol method, IOperation? site, IMethodSymbol? owner, out ChainLink? link)
    {
        link = null;
        ISymbol? associated = method.MethodKind == MethodKind.DelegateInvoke ? method.ContainingType : method.AssociatedSymbol;
        if (Annotations.Has(method, Annotations.NeverSleeps) || Annotations.Has(associated, Annotations.NeverSleeps))
        {
            return Decision.NeverSleeps;
        }

        var configured = Configuration.IsEmpty
            ? ConfiguredSleep.Unknown
            : _configured.GetOrAdd(method, m => Configuration.Lookup(m));
        if (configured == ConfiguredSleep.NeverSleeps)
        {
            return Decision.NeverSleeps;
        }

        if (Annotations.Has(method, Annotations.MaySleep) || Annotations.Has(associated, Annotations.MaySleep))
        {
            link = new ChainLink(DisplayName(method), null, SleepReasons.MaySleep);
            return Decision.Sleeps;
        }

        if (configured == ConfiguredSleep.MaySleep)
        {
            link = new ChainLink(DisplayName(method), null, SleepReasons.Configured);
            return Decision.Sleeps;
        }

        if (_blocking.IsBlocking(method, out var reason))
        {
            link = new ChainLink(DisplayName(method), null, reason);
            return Decision.Sleeps;
        }

        if (IsGfpAllocator(method))
        {
            var flags = GfpArgument(site, -1) is { } argument ? EvalGfp(argument, owner) : GfpValue.Unknown;
            if (flags.IsParameter)
            {
                return Decision.Forwards;
            }

            string? gfpReason = GfpReason(flags, site);
            if (gfpReason is null)
            {
                return Decision.NeverSleeps;
            }

            link = new ChainLink(DisplayName(method), null, gfpReason);
            return Decision.Sleeps;
        }

        return IsSource(method) ? Decision.Source : Decision.Unknown;
    }

    // kmalloc, alloc_pages, ... and any other unannotated Kernel.Mm function that takes gfp
    // flags (alloc_pages_vma): they sleep exactly when the flags allow direct reclaim.
    private bool IsGfpAllocator(IMethodSymbol method)
    {
        if (KnownSymbols.Is(method, _symbols.GfpAllocators))
        {
            return true;
        }

        if (_symbols.GfpT is null || !SymbolEqualityComparer.Default.Equals(method.ContainingType, _symbols.Linux))
        {
            return false;
        }

        foreach (var parameter in method.Parameters)
        {
            if (SymbolEqualityComparer.Default.Equals(parameter.Type, _symbols.GfpT))
            {
                return true;
            }
        }

        return false;
    }

    // Null when the flags forbid direct reclaim (GFP_ATOMIC, GFP_NOWAIT); otherwise the reason.
    private string? GfpReason(GfpValue flags, IOperation? site)
    {
        if (!flags.IsConstant)
        {
            return SleepReasons.GfpUnknown;
        }

        return (flags.Flags & _directReclaim) == 0
            ? null
            : (site is not null && GfpArgument(site, -1) is { } argument ? Describe(argument) : "the gfp flags") + " allows direct reclaim";
    }

    // The gfp_t argument of a call: the one bound to parameter `ordinal`, or (-1) the first of
    // type gfp_t. Null when the site has no such argument.
    private IOperation? GfpArgument(IOperation? site, int ordinal)
    {
        ImmutableArray<IArgumentOperation> arguments = site switch
        {
            IInvocationOperation invocation => invocation.Arguments,
            IObjectCreationOperation creation => creation.Arguments,
            _ => ImmutableArray<IArgumentOperation>.Empty,
        };

        foreach (var argument in arguments)
        {
            if (argument.Parameter is not { } parameter)
            {
                continue;
            }

            if (ordinal >= 0 ? parameter.Ordinal == ordinal : _symbols.GfpT is not null && SymbolEqualityComparer.Default.Equals(parameter.Type, _symbols.GfpT))
            {
                return argument.Value;
            }
        }

        return null;
    }

    // What is known of a gfp value's direct-reclaim bit: a constant, "whatever parameter k of
    // the owner says" (`gfp`, `gfp | __GFP_ZERO`), or nothing.
    private GfpValue EvalGfp(IOperation value, IMethodSymbol? owner)
    {
        if (value.ConstantValue.HasValue)
        {
            return ToUInt64(value.ConstantValue.Value) is ulong constant ? GfpValue.Constant(constant) : GfpValue.Unknown;
        }

        switch (value)
        {
            case IConversionOperation { OperatorMethod: null } conversion:
                return EvalGfp(conversion.Operand, owner);
            case IParenthesizedOperation parenthesized:
                return EvalGfp(parenthesized.Operand, owner);
            case IParameterReferenceOperation reference
                when owner is not null
                    && reference.Parameter.RefKind == RefKind.None
                    && SymbolEqualityComparer.Default.Equals(reference.Parameter.ContainingSymbol?.OriginalDefinition, owner):
                return GfpValue.Parameter(reference.Parameter.Ordinal);
            case IBinaryOperation { OperatorMethod: null } binary
                when binary.OperatorKind is BinaryOperatorKind.Or or BinaryOperatorKind.And:
                var left = EvalGfp(binary.LeftOperand, owner);
                var right = EvalGfp(binary.RightOperand, owner);
                bool or = binary.OperatorKind == BinaryOperatorKind.Or;
                foreach (var (constant, other) in new[] { (left, right), (right, left) })
                {
                    if (!constant.IsConstant)
                    {
                        continue;
                    }

                    bool reclaim = (constant.Flags & _directReclaim) != 0;
                    if (or == reclaim)
                    {
                        // x | GFP_KERNEL always allows reclaim; x & GFP_ATOMIC never does.
                        return GfpValue.Constant(or ? _directReclaim : 0);
                    }

                    // x | __GFP_ZERO, x & ~__GFP_ZERO: the bit is x's.
                    return other;
                }

                return GfpValue.Unknown;
            default:
                return GfpValue.Unknown;
        }
    }

    // ---- gfp flags handed down: alloc helpers that take the caller's flags -----------------

    /// <summary>For a source method that passes one of its own gfp_t parameters to an
    /// allocator (directly or through other such methods): which parameter, and the chain
    /// inside the method. Its callers then sleep according to the flags they pass.</summary>
    private ImmutableArray<GfpForward> Forwarding(IMethodSymbol method, CancellationToken cancellationToken)
    {
        if (_forwarding.TryGetValue(method, out var known))
        {
            return known;
        }

        // Only a method with a gfp_t parameter can hand its caller's flags down.
        if (!HasGfpParameter(method))
        {
            return ImmutableArray<GfpForward>.Empty;
        }

        lock (_gate)
        {
            if (_forwarding.TryGetValue(method, out known))
            {
                return known;
            }

            // A method already being summarised (recursion): what is known so far is used, and
            // every method summarised on top of it is not cached (its answer may be incomplete).
            int active = _forwardingStack.FindIndex(f => SymbolEqualityComparer.Default.Equals(f.Method, method));
            if (active >= 0)
            {
                for (int i = active + 1; i < _forwardingStack.Count; i++)
                {
                    _forwardingStack[i].Tainted = true;
                }

                return _forwardingStack[active].Found.ToImmutableArray();
            }

            // Summaries nest along chains of helpers that hand flags down; past the budget the
            // chain is cut (treated like recursion), so no code can exhaust the stack.
            if (_forwardingStack.Count >= MaxForwardingDepth)
            {
                foreach (var pending in _forwardingStack)
                {
                    pending.Tainted = true;
                }

                return ImmutableArray<GfpForward>.Empty;
            }

            var frame = new ForwardingFrame(method);
            _forwardingStack.Add(frame);
            try
            {
                SummariseForwarding(frame, cancellationToken);
            }
            finally
            {
                _forwardingStack.RemoveAt(_forwardingStack.Count - 1);
            }

            var result = frame.Found.ToImmutableArray();
            if (!frame.Tainted)
            {
                _forwarding[method] = result;
            }

            return result;
        }
    }

    private bool HasGfpParameter(IMethodSymbol method)
    {
        if (_symbols.GfpT is null)
        {
            return false;
        }

        foreach (var parameter in method.Parameters)
        {
            if (SymbolEqualityComparer.Default.Equals(parameter.Type, _symbols.GfpT))
            {
                return true;
            }
        }

        return false;
    }

    private void SummariseForwarding(ForwardingFrame frame, CancellationToken cancellationToken)
    {
        var method = frame.Method;
        foreach (var reference in method.DeclaringSyntaxReferences)
        {
            var body = GetBody(reference.GetSyntax(cancellationToken), cancellationToken);
            if (body is null)
            {
                continue;
            }

            var stack = new Stack<IOperation>();
            PushChildren(stack, body);
            while (stack.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var operation = stack.Pop();
                if (operation is IAnonymousFunctionOperation or ILocalFunctionOperation)
                {
                    continue;
                }

                PushChildren(stack, operation);
                IMethodSymbol? target = operation switch
                {
                    IInvocationOperation invocation => invocation.TargetMethod,
                    IObjectCreationOperation creation => creation.Constructor,
                    _ => null,
                };
                if (target is null)
                {
                    continue;
                }

                var callee = Normalize(target);
                switch (Decide(callee, operation, method, out _))
                {
                    case Decision.Forwards when GfpArgument(operation, -1) is { } argument && EvalGfp(argument, method) is { IsParameter: true } flags:
                        frame.Add(flags.Ordinal, ImmutableArray.Create(DisplayName(callee)));
                        break;
                    case Decision.Source:
                        foreach (var forward in Forwarding(callee, cancellationToken))
                        {
                            if (GfpArgument(operation, forward.Ordinal) is { } passed && EvalGfp(passed, method) is { IsParameter: true } handed)
                            {
                                frame.Add(handed.Ordinal, forward.Names.Insert(0, DisplayName(callee)));
                            }
                        }

                        break;
                }
            }
        }
    }

    // A call to a method that hands its gfp parameter down: sleeps when the flags passed here
    // allow reclaim (or are unknown); nothing when they are the owner's own parameter (the
    // owner forwards them in turn).
    private ChainLink? ConditionalSleep(IMethodSymbol callee, IOperation? site, IMethodSymbol? owner, CancellationToken cancellationToken)
    {
        foreach (var forward in Forwarding(callee, cancellationToken))
        {
            var argument = GfpArgument(site, forward.Ordinal);
            var flags = argument is null ? GfpValue.Unknown : EvalGfp(argument, owner);
            if (flags.IsParameter)
            {
                continue;
            }

            string? reason = flags.IsConstant
                ? ((flags.Flags & _directReclaim) == 0 ? null : Describe(argument!) + " allows direct reclaim")
                : SleepReasons.GfpUnknown;
            if (reason is null)
            {
                continue;
            }

            ChainLink? link = null;
            for (int i = forward.Names.Length - 1; i >= 0; i--)
            {
                link = new ChainLink(forward.Names[i], link, reason);
            }

            return new ChainLink(DisplayName(callee), link, reason);
        }

        return null;
    }

    private static string Describe(IOperation value)
    {
        var syntax = value.Syntax;
        while (syntax is CastExpressionSyntax cast)
        {
            syntax = cast.Expression;
        }

        string text = syntax.ToString();
        return text.Length <= 40 ? text : "the gfp flags";
    }

    private bool IsSource(IMethodSymbol method) =>
        method.MethodKind != MethodKind.DelegateInvoke
        && !method.IsAbstract
        && !method.IsExtern
        && method.DeclaringSyntaxReferences.Length > 0
        && SymbolEqualityComparer.Default.Equals(method.ContainingAssembly, _compilation.Assembly);

    /// <summary>The display name used in chains: kernel and user methods by their own name
    /// (<c>mutex_lock</c>, <c>flush_dev_tlb</c>), framework ones with their type (<c>Thread.Sleep</c>).</summary>
    internal static string DisplayName(IMethodSymbol method)
    {
        var type = method.ContainingType;
        bool qualify = type is not null && IsFramework(type);
        string typeName = type?.Name ?? string.Empty;
        switch (method.MethodKind)
        {
            case MethodKind.Constructor:
                return "new " + typeName;
            case MethodKind.PropertyGet:
            case MethodKind.PropertySet:
                string property = method.AssociatedSymbol?.Name ?? method.Name;
                return qualify ? typeName + "." + property : property;
            case MethodKind.AnonymousFunction:
                return "lambda";
            case MethodKind.DelegateInvoke:
                return typeName;
            case MethodKind.UserDefinedOperator:
            case MethodKind.Conversion:
                return typeName + "." + method.Name;
            default:
                return qualify ? typeName + "." + method.Name : method.Name;
        }
    }

    private static bool IsFramework(INamedTypeSymbol type)
    {
        var ns = type.ContainingNamespace;
        while (ns is { ContainingNamespace.IsGlobalNamespace: false })
        {
            ns = ns.ContainingNamespace;
        }

        return ns is { Name: "System" or "Microsoft" };
    }

    // ---- The interprocedural part -------------------------------------------------------

    /// <summary>The chain inside <paramref name="method"/> (starting at the callee in its body),
    /// or null when it does not sleep.</summary>
    private ChainLink? Solve(IMethodSymbol method, CancellationToken cancellationToken)
    {
        if (!_results.TryGetValue(method, out var known))
        {
            lock (_gate)
            {
                if (!_results.TryGetValue(method, out known))
                {
                    RunTarjan(method, cancellationToken);
                    known = _results[method];
                }
            }
        }

        return ReferenceEquals(known, NotSleeping) ? null : known;
    }

    // Iterative Tarjan from root over methods not solved yet. Results are stored only when a
    // whole component is solved, so a cancellation leaves nothing half-computed behind.
    private void RunTarjan(IMethodSymbol root, CancellationToken cancellationToken)
    {
        var nodes = new Dictionary<IMethodSymbol, Node>(SymbolEqualityComparer.Default);
        var componentStack = new Stack<Node>();
        var callStack = new Stack<(Node Node, int Edge)>();
        int nextIndex = 0;

        Node Visit(IMethodSymbol method)
        {
            var node = new Node(method, ComputeFacts(method, cancellationToken)) { Index = nextIndex, LowLink = nextIndex };
            nextIndex++;
            nodes.Add(method, node);
            componentStack.Push(node);
            node.OnStack = true;
            return node;
        }

        callStack.Push((Visit(root), 0));
        while (callStack.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (node, edge) = callStack.Pop();
            var edges = node.Facts.Edges;
            if (edge < edges.Count)
            {
                callStack.Push((node, edge + 1));
                var callee = edges[edge].Callee;
                if (_results.ContainsKey(callee))
                {
                    continue;
                }

                if (!nodes.TryGetValue(callee, out var next))
                {
                    callStack.Push((Visit(callee), 0));
                }
                else if (next.OnStack)
                {
                    node.LowLink = Math.Min(node.LowLink, next.Index);
                }

                continue;
            }

            // All edges done: propagate the low link to the caller, close a component at its root.
            if (callStack.Count > 0)
            {
                var caller = callStack.Peek().Node;
                caller.LowLink = Math.Min(caller.LowLink, node.LowLink);
            }

            if (node.LowLink == node.Index)
            {
                var component = new List<Node>();
                Node member;
                do
                {
                    member = componentStack.Pop();
                    member.OnStack = false;
                    component.Add(member);
                }
                while (!ReferenceEquals(member, node));

                SolveComponent(component, nodes);
            }
        }
    }

    // Shortest witness per method of one strongly connected component: lengths start from the
    // method's own sleeping calls and from callees outside the component (already solved), then
    // shrink along edges inside the component (Dijkstra; every edge adds one to the chain).
    private void SolveComponent(List<Node> component, Dictionary<IMethodSymbol, Node> nodes)
    {
        var inComponent = new HashSet<Node>(component);
        var callers = new Dictionary<Node, List<(Node Caller, string Name)>>();
        var queue = new SortedSet<(int Length, int Index)>();
        foreach (var node in component)
        {
            ChainLink? best = node.Facts.Direct;
            foreach (var (callee, name) in node.Facts.Edges)
            {
                if (nodes.TryGetValue(callee, out var target) && inComponent.Contains(target))
                {
                    if (!callers.TryGetValue(target, out var list))
                    {
                        callers[target] = list = new List<(Node, string)>();
                    }

                    list.Add((node, name));
                    continue;
                }

                if (_results.TryGetValue(callee, out var result) && !ReferenceEquals(result, NotSleeping)
                    && (best is null || result.Length + 1 < best.Length))
                {
                    best = new ChainLink(name, result, result.Reason);
                }
            }

            node.Best = best;
            if (best is not null)
            {
                queue.Add((best.Length, node.Index));
            }
        }

        var byIndex = new Dictionary<int, Node>();
        foreach (var node in component)
        {
            byIndex[node.Index] = node;
        }

        var done = new HashSet<Node>();
        while (queue.Count > 0)
        {
            var (length, index) = queue.Min;
            queue.Remove(queue.Min);
            var node = byIndex[index];
            if (!done.Add(node) || node.Best is null || node.Best.Length != length)
            {
                continue;
            }

            if (!callers.TryGetValue(node, out var list))
            {
                continue;
            }

            foreach (var (caller, name) in list)
            {
                if (done.Contains(caller))
                {
                    continue;
                }

                int candidate = node.Best.Length + 1;
                if (caller.Best is null || candidate < caller.Best.Length)
                {
                    if (caller.Best is not null)
                    {
                        queue.Remove((caller.Best.Length, caller.Index));
                    }

                    caller.Best = new ChainLink(name, node.Best, node.Best.Reason);
                    queue.Add((candidate, caller.Index));
                }
            }
        }

        foreach (var node in component)
        {
            _results[node.Method] = node.Best ?? NotSleeping;
        }
    }

    // The sleeping call of the method's own body closest to its start, and its calls to methods
    // of this compilation not decided otherwise. Nested lambdas and local functions are skipped:
    // they are methods of their own, reached only when called.
    private MethodFacts ComputeFacts(IMethodSymbol method, CancellationToken cancellationToken)
    {
        var edges = new List<(IMethodSymbol Callee, string Name)>();
        var seen = new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default);
        foreach (var reference in method.DeclaringSyntaxReferences)
        {
            var syntax = reference.GetSyntax(cancellationToken);
            var body = GetBody(syntax, cancellationToken);
            if (body is null)
            {
                continue;
            }

            var stack = new Stack<IOperation>();
            PushChildren(stack, body);
            while (stack.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var operation = stack.Pop();
                if (operation is IAnonymousFunctionOperation or ILocalFunctionOperation)
                {
                    continue;
                }

                var decided = ClassifyShallow(operation, method, cancellationToken, out var sourceCallee);
                if (decided is not null)
                {
                    // A sleeping call of its own is the shortest witness there is: the calls
                    // into other methods no longer matter.
                    return new MethodFacts(decided, new List<(IMethodSymbol, string)>());
                }

                if (sourceCallee is not null && seen.Add(sourceCallee))
                {
                    edges.Add((sourceCallee, DisplayName(sourceCallee)));
                }

                PushChildren(stack, operation);
            }
        }

        return new MethodFacts(null, edges);
    }

    // Like Classify, but never recurses into the call graph: a source callee is returned as an edge.
    private ChainLink? ClassifyShallow(IOperation operation, IMethodSymbol owner, CancellationToken cancellationToken, out IMethodSymbol? sourceCallee)
    {
        sourceCallee = null;
        IMethodSymbol? callee = operation switch
        {
            IInvocationOperation invocation => invocation.TargetMethod,
            IObjectCreationOperation creation => creation.Constructor,
            IBinaryOperation binary => binary.OperatorMethod,
            IUnaryOperation unary => unary.OperatorMethod,
            IConversionOperation conversion => conversion.OperatorMethod,
            IIncrementOrDecrementOperation increment => increment.OperatorMethod,
            ICompoundAssignmentOperation compound => compound.OperatorMethod,
            _ => null,
        };

        switch (operation)
        {
            case ILockOperation:
                return new ChainLink("lock", null, SleepReasons.Lock);
            case IAwaitOperation:
                // An await inside a method does not make its callers wait: they get control back
                // at the first await (a caller that blocks on the task, .Wait()/.Result, is caught
                // there). The await itself is reported where it is written (Classify).
                return null;
            case IPropertyReferenceOperation property:
                // Both accessors that run; the first that sleeps or leads to source wins.
                foreach (var accessor in Accessors(property))
                {
                    var link = Shallow(accessor, property, owner, cancellationToken, out sourceCallee);
                    if (link is not null || sourceCallee is not null)
                    {
                        return link;
                    }
                }

                return null;
        }

        return callee is null ? null : Shallow(callee, operation, owner, cancellationToken, out sourceCallee);
    }

    private ChainLink? Shallow(IMethodSymbol callee, IOperation site, IMethodSymbol owner, CancellationToken cancellationToken, out IMethodSymbol? sourceCallee)
    {
        sourceCallee = null;
        var method = Normalize(callee);
        switch (Decide(method, site, owner, out var link))
        {
            case Decision.Sleeps:
                return link;
            case Decision.Source:
                sourceCallee = method;

                // Flags handed to an alloc helper decide here, at the call, not in the graph.
                return ConditionalSleep(method, site, owner, cancellationToken);
            default:
                return null;
        }
    }

    private static IEnumerable<IMethodSymbol> Accessors(IPropertyReferenceOperation reference)
    {
        bool writes = false;
        bool reads = true;
        if (reference.Parent is IAssignmentOperation assignment && assignment.Target == reference)
        {
            writes = true;
            reads = assignment is ICompoundAssignmentOperation or ICoalesceAssignmentOperation;
        }
        else if (reference.Parent is IIncrementOrDecrementOperation)
        {
            writes = true;
        }

        if (reads && reference.Property.GetMethod is { } getter)
        {
            yield return getter;
        }

        if (writes && reference.Property.SetMethod is { } setter)
        {
            yield return setter;
        }
    }

    private static void PushChildren(Stack<IOperation> stack, IOperation operation)
    {
        // Reverse, so operations are popped in source order and the first sleeping call found
        // is the first one written.
        var children = new List<IOperation>();
        foreach (var child in operation.ChildOperations)
        {
            children.Add(child);
        }

        for (int i = children.Count - 1; i >= 0; i--)
        {
            stack.Push(children[i]);
        }
    }

    [SuppressMessage(
        "MicrosoftCodeAnalysisCorrectness",
        "RS1030:Do not invoke Compilation.GetSemanticModel() method within a diagnostic analyzer",
        Justification = "The may-sleep facts of a callee in another file need that file bound; this is done lazily, once per method and compilation, only for methods reached from a call being checked.")]
    private SemanticModel GetModel(SyntaxTree tree) =>
        _models.GetOrAdd(tree, t => _compilation.GetSemanticModel(t));

    private IOperation? GetBody(SyntaxNode syntax, CancellationToken cancellationToken)
    {
        if (!_compilation.ContainsSyntaxTree(syntax.SyntaxTree))
        {
            return null;
        }

        var model = GetModel(syntax.SyntaxTree);
        var operation = model.GetOperation(syntax, cancellationToken);
        return operation switch
        {
            ILocalFunctionOperation local => (IOperation?)local.Body ?? local.IgnoredBody,
            IAnonymousFunctionOperation lambda => lambda.Body,
            _ => operation,
        };
    }

    private enum Decision
    {
        Unknown,
        NeverSleeps,
        Sleeps,
        Source,

        /// <summary>A gfp allocator given the owner's own gfp parameter: the owner's callers decide.</summary>
        Forwards,
    }

    private readonly struct GfpValue
    {
        private GfpValue(int kind, ulong flags, int ordinal)
        {
            Kind = kind;
            Flags = flags;
            Ordinal = ordinal;
        }

        public static GfpValue Unknown => default;

        public int Kind { get; }

        public ulong Flags { get; }

        public int Ordinal { get; }

        public bool IsConstant => Kind == 1;

        public bool IsParameter => Kind == 2;

        public static GfpValue Constant(ulong flags) => new(1, flags, -1);

        public static GfpValue Parameter(int ordinal) => new(2, 0, ordinal);
    }

    private sealed class GfpForward
    {
        public GfpForward(int ordinal, ImmutableArray<string> names)
        {
            Ordinal = ordinal;
            Names = names;
        }

        /// <summary>The gfp_t parameter whose flags reach the allocator.</summary>
        public int Ordinal { get; }

        /// <summary>The chain inside the method, from its callee to the allocator.</summary>
        public ImmutableArray<string> Names { get; }
    }

    private sealed class ForwardingFrame
    {
        public ForwardingFrame(IMethodSymbol method) => Method = method;

        public IMethodSymbol Method { get; }

        public List<GfpForward> Found { get; } = new();

        public bool Tainted { get; set; }

        // One chain per parameter: the shortest (the first written, among equals).
        public void Add(int ordinal, ImmutableArray<string> names)
        {
            for (int i = 0; i < Found.Count; i++)
            {
                if (Found[i].Ordinal == ordinal)
                {
                    if (names.Length < Found[i].Names.Length)
                    {
                        Found[i] = new GfpForward(ordinal, names);
                    }

                    return;
                }
            }

            Found.Add(new GfpForward(ordinal, names));
        }
    }

    private sealed class OracleSet
    {
        public List<(List<(string Path, SourceText Text)> Files, SleepOracle Oracle)> Oracles { get; } = new();
    }

    private sealed class MethodFacts
    {
        public MethodFacts(ChainLink? direct, List<(IMethodSymbol Callee, string Name)> edges)
        {
            Direct = direct;
            Edges = edges;
        }

        public ChainLink? Direct { get; }

        public List<(IMethodSymbol Callee, string Name)> Edges { get; }
    }

    private sealed class Node
    {
        public Node(IMethodSymbol method, MethodFacts facts)
        {
            Method = method;
            Facts = facts;
        }

        public IMethodSymbol Method { get; }

        public MethodFacts Facts { get; }

        public int Index { get; set; }

        public int LowLink { get; set; }

        public bool OnStack { get; set; }

        public ChainLink? Best { get; set; }
    }

    /// <summary>One step of a witness chain; chains share their tails.</summary>
    private sealed class ChainLink
    {
        public ChainLink(string name, ChainLink? next, string reason)
        {
            Name = name;
            Next = next;
            Reason = reason;
            Length = next is null ? 1 : next.Length + 1;
        }

        public string Name { get; }

        public ChainLink? Next { get; }

        public string Reason { get; }

        public int Length { get; }

        public SleepWitness ToWitness()
        {
            var names = ImmutableArray.CreateBuilder<string>(Length);
            for (var link = this; link is not null; link = link.Next)
            {
                names.Add(link.Name);
            }

            return new SleepWitness(names.MoveToImmutable(), Reason);
        }
    }
}
