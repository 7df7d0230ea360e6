using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core.Sleep;

/// <summary>One reason a method or lambda runs in atomic context.</summary>
internal sealed class AtomicUse
{
    public AtomicUse(string role, IPropertySymbol? opsMember, Location? memberLocation, bool canMoveToStart, bool nonBlockable = false)
    {
        NonBlockable = nonBlockable;
        Role = role;
        OpsMember = opsMember;
        MemberLocation = memberLocation;
        CanMoveToStart = canMoveToStart;
    }

    /// <summary>What the message calls the callback: the ops member (<c>invalidate_range</c>),
    /// the atomic delegate type (<c>change_pte</c> for <c>change_pte_fn</c>), or
    /// <c>[AtomicContext]</c>.</summary>
    public string Role { get; }

    /// <summary>The <c>mmu_notifier_ops</c> member the callback is assigned to, if any.</summary>
    public IPropertySymbol? OpsMember { get; }

    /// <summary>Where the ops member is named in the initializer or assignment.</summary>
    public Location? MemberLocation { get; }

    /// <summary>Not atomic: a callback that may sleep only when its range is blockable (the 4.20+
    /// <c>invalidate_range_start_range</c> / <c>_end_range</c>, an interval notifier's
    /// <c>invalidate</c>), which MMU014 judges, not MMU004.</summary>
    public bool NonBlockable { get; }

    /// <summary>An <c>invalidate_range = f</c> whose ops table sets no
    /// <c>invalidate_range_start</c>: the code fix can rename it.</summary>
    public bool CanMoveToStart { get; }
}

/// <summary>
/// Which methods of the compilation are callbacks that must not sleep, always or when asked:
/// those that run in atomic context (MMU004), assigned to an atomic
/// <c>mmu_notifier_ops</c> member (<c>invalidate_range</c>, <c>change_pte</c>,
/// <c>clear_flush_young</c>, <c>test_young</c>) or converted to a delegate type marked
/// <c>[AtomicContext]</c> anywhere in the compilation, or marked <c>[AtomicContext]</c>
/// themselves (also through the method they override or implement); and those that must not sleep
/// when their <c>mmu_notifier_range</c> is not blockable (MMU014): converted to the 4.20+
/// <c>invalidate_range_start_range_fn</c> / <c>invalidate_range_end_range_fn</c> (or assigned to
/// those ops members) or to an interval notifier's <c>mmu_interval_invalidate_fn</c>, marked
/// <see cref="AtomicUse.NonBlockable"/>.
/// </summary>
/// <remarks>
/// The ops table is often in another file than the callback. A conversion to an atomic delegate
/// names a trigger: the atomic ops member, the delegate type, or a member or method typed with
/// it. Each file's trigger-naming members, and the names they reference without a call, are read
/// from syntax and kept with the tree; a member is bound only when a callback of a name it
/// references is asked about, and the conversions found are kept per compilation. A conversion in
/// a file that names no trigger (inferred through a generic method, say) is not found; mark such a
/// method <c>[AtomicContext]</c>. Lambdas are decided where they are written.
/// </remarks>
internal sealed class AtomicCallbacks
{
    private static readonly ConditionalWeakTable<Compilation, AtomicCallbacks> Cache = new();

    private static readonly ImmutableArray<string> AtomicMemberNames =
        ImmutableArray.Create("invalidate_range", "change_pte", "clear_flush_young", "test_young");

    private readonly Compilation _compilation;
    private readonly KnownSymbols _symbols;
    private readonly ImmutableHashSet<IPropertySymbol> _atomicMembers;
    private readonly ImmutableHashSet<IPropertySymbol> _nonBlockableMembers;
    private readonly ImmutableHashSet<ITypeSymbol> _nonBlockableDelegates;
    private static readonly TreeScans<TreeCandidates> Candidates = new();

    private object? _namesGate;
    private bool _namesReady;
    private TriggerSets? _names;
    private Dictionary<string, List<SyntaxTree>>? _callbackNames;
    private object? _callbackNamesGate;
    private bool _callbackNamesReady;
    private readonly ConcurrentDictionary<IMethodSymbol, ImmutableArray<AtomicUse>> _declared = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<string, Dictionary<IMethodSymbol, List<AtomicUse>>> _conversions = new(StringComparer.Ordinal);

    private AtomicCallbacks(Compilation compilation)
    {
        _compilation = compilation;
        _symbols = KnownSymbols.Get(compilation);
        var members = ImmutableHashSet.CreateBuilder<IPropertySymbol>(SymbolEqualityComparer.Default);
        foreach (var member in new[] { _symbols.OpsInvalidateRange, _symbols.OpsChangePte, _symbols.OpsClearFlushYoung, _symbols.OpsTestYoung })
        {
            if (member is not null)
            {
                members.Add(member);
            }
        }

        // Members added later (clear_young) count when their delegate type says [AtomicContext].
        foreach (var member in _symbols.MmuNotifierOps?.GetMembers() ?? ImmutableArray<ISymbol>.Empty)
        {
            if (member is IPropertySymbol property && Annotations.Has(property.Type, Annotations.AtomicContext))
            {
                members.Add(property);
            }
        }

        _atomicMembers = members.ToImmutable();

        var nonBlockable = ImmutableHashSet.CreateBuilder<IPropertySymbol>(SymbolEqualityComparer.Default);
        var delegates = ImmutableHashSet.CreateBuilder<ITypeSymbol>(SymbolEqualityComparer.Default);
        foreach (var member in new[] { _symbols.OpsInvalidateRangeStartRange, _symbols.OpsInvalidateRangeEndRange, _symbols.IntervalOpsInvalidate })
        {
            if (member is not null)
            {
                nonBlockable.Add(member);
                delegates.Add(member.Type.WithNullableAnnotation(NullableAnnotation.None));
            }
        }

        _nonBlockableMembers = nonBlockable.ToImmutable();
        _nonBlockableDelegates = delegates.ToImmutable();
    }

    public static AtomicCallbacks Get(Compilation compilation) =>
        Cache.GetValue(compilation, static c => new AtomicCallbacks(c));

    /// <summary>Why <paramref name="method"/> (a method or local function) runs in atomic
    /// context; empty when it does not.</summary>
    public ImmutableArray<AtomicUse> UsesOf(IMethodSymbol method, CancellationToken cancellationToken)
    {
        method = method.OriginalDefinition;
        var declared = _declared.GetOrAdd(method, m => Declared(m));
        var conversions = _conversions.GetOrAdd(method.Name, name => BindConversions(name, cancellationToken));
        if (!conversions.TryGetValue(method, out var uses))
        {
            return declared;
        }

        return declared.AddRange(uses);
    }

    /// <summary>
    /// A syntactic pre-check, before a function's symbol is asked for: only a function of one of
    /// these names can be an atomic callback (converted to an atomic delegate somewhere, or marked
    /// <c>[AtomicContext]</c> itself, on the method it overrides or the interface method it implements).
    /// </summary>
    public bool MayBeCallback(string name, SyntaxList<AttributeListSyntax> attributes, CancellationToken cancellationToken) =>
        CallbackNames(cancellationToken).ContainsKey(name) || HasAtomicAttributeSyntax(attributes);

    /// <summary>
    /// A syntactic pre-check for lambdas: one can be converted to an atomic delegate only in a file
    /// that names an atomic ops member, an atomic delegate type, or a member or method whose type or
    /// parameter is one.
    /// </summary>
    public bool MayConvertLambdas(SyntaxTree tree, CancellationToken cancellationToken) =>
        CandidatesOf(tree, cancellationToken).MentionsTrigger;

    /// <summary>Why the lambda runs in atomic context, from the delegate it is converted to.</summary>
    public AtomicUse? UseOf(IAnonymousFunctionOperation lambda)
    {
        var parent = lambda.Parent;
        while (parent is IConversionOperation or IParenthesizedOperation)
        {
            parent = parent.Parent;
        }

        return parent is IDelegateCreationOperation creation ? Describe(creation) : null;
    }

    /// <summary>The atomic (or non-blockable-capable) use a delegate creation makes of its target, or null.</summary>
    public AtomicUse? Describe(IDelegateCreationOperation creation)
    {
        IOperation current = creation;
        while (current.Parent is IConversionOperation or IParenthesizedOperation)
        {
            current = current.Parent;
        }

        if (current.Parent is IAssignmentOperation { Target: IPropertyReferenceOperation member } memberAssignment
            && memberAssignment.Value == current
            && _nonBlockableMembers.Contains(member.Property.OriginalDefinition))
        {
            var property = member.Property.OriginalDefinition;
            return new AtomicUse(property.Name, property, MemberName(member.Syntax)?.GetLocation(), false, nonBlockable: true);
        }

        if (creation.Type is INamedTypeSymbol callbackType && _nonBlockableDelegates.Contains(callbackType.WithNullableAnnotation(NullableAnnotation.None)))
        {
            return new AtomicUse(callbackType.Name, null, null, false, nonBlockable: true);
        }

        if (current.Parent is IAssignmentOperation { Target: IPropertyReferenceOperation target } assignment
            && assignment.Value == current
            && _atomicMembers.Contains(target.Property.OriginalDefinition))
        {
            var property = target.Property.OriginalDefinition;
            var nameSyntax = MemberName(target.Syntax);
            bool canMove = nameSyntax is IdentifierNameSyntax
                && SymbolEqualityComparer.Default.Equals(property, _symbols.OpsInvalidateRange)
                && !BlocksMove(assignment);
            return new AtomicUse(property.Name, property, nameSyntax?.GetLocation(), canMove);
        }

        if (creation.Type is INamedTypeSymbol delegateType && Annotations.Has(delegateType, Annotations.AtomicContext))
        {
            string name = delegateType.Name;
            if (name.EndsWith("_fn", StringComparison.Ordinal) && name.Length > 3)
            {
                name = name.Substring(0, name.Length - 3);
            }

            return new AtomicUse(name, null, null, false);
        }

        return null;
    }

    private static SimpleNameSyntax? MemberName(SyntaxNode target) => target switch
    {
        IdentifierNameSyntax identifier => identifier,
        MemberAccessExpressionSyntax access => access.Name,
        _ => null,
    };

    // The fix renames invalidate_range to invalidate_range_start (and sets it as the legacy
    // invalidate_range_end where the table has none): not when the same table already sets
    // invalidate_range_start (that would set it twice), nor when it sets a member of the 4.20 range
    // form, whose callbacks take (mn, range) and would mix the two forms.
    private bool BlocksMove(IAssignmentOperation assignment)
    {
        // `ops with { invalidate_range = f }` copies a table whose start member is unknown here.
        if (assignment.Parent is IObjectOrCollectionInitializerOperation initializer
            && initializer.Parent is not IWithOperation)
        {
            foreach (var sibling in initializer.Initializers)
            {
                if (sibling is IAssignmentOperation { Target: IPropertyReferenceOperation other }
                    && (SymbolEqualityComparer.Default.Equals(other.Property.OriginalDefinition, _symbols.OpsInvalidateRangeStart)
                        || SymbolEqualityComparer.Default.Equals(other.Property.OriginalDefinition, _symbols.OpsInvalidateRangeStartRange)
                        || SymbolEqualityComparer.Default.Equals(other.Property.OriginalDefinition, _symbols.OpsInvalidateRangeEndRange)))
                {
                    return true;
                }
            }

            return false;
        }

        // A plain assignment (ops.invalidate_range = f): the rest of the table is out of sight.
        return true;
    }

    private static ImmutableArray<AtomicUse> Declared(IMethodSymbol method)
    {
        if (Annotations.Has(method, Annotations.AtomicContext))
        {
            return ImmutableArray.Create(new AtomicUse("[AtomicContext]", null, null, false));
        }

        for (var overridden = method.OverriddenMethod; overridden is not null; overridden = overridden.OverriddenMethod)
        {
            if (Annotations.Has(overridden, Annotations.AtomicContext))
            {
                return ImmutableArray.Create(new AtomicUse("[AtomicContext]", null, null, false));
            }
        }

        foreach (var implemented in method.ExplicitInterfaceImplementations)
        {
            if (Annotations.Has(implemented, Annotations.AtomicContext))
            {
                return ImmutableArray.Create(new AtomicUse("[AtomicContext]", null, null, false));
            }
        }

        if (method.ContainingType is { } type && method.MethodKind == MethodKind.Ordinary)
        {
            foreach (var @interface in type.AllInterfaces)
            {
                foreach (var member in @interface.GetMembers(method.Name))
                {
                    if (member is IMethodSymbol candidate
                        && Annotations.Has(candidate, Annotations.AtomicContext)
                        && SymbolEqualityComparer.Default.Equals(type.FindImplementationForInterfaceMember(candidate), method))
                    {
                        return ImmutableArray.Create(new AtomicUse("[AtomicContext]", null, null, false));
                    }
                }
            }
        }

        return ImmutableArray<AtomicUse>.Empty;
    }

    /// <summary>The names whose mention makes a file able to convert a function to an atomic delegate.</summary>
    public HashSet<string> Triggers(CancellationToken cancellationToken) => TriggerNames(cancellationToken).Triggers;

    /// <summary>The names of methods marked <c>[AtomicContext]</c>, here or in a referenced kernel library
    /// (an override or implementation has the same name).</summary>
    public HashSet<string> DeclaredNames(CancellationToken cancellationToken) => TriggerNames(cancellationToken).Declared;

    // Asked for every file and every function: once built, read without taking a lock.
    private TriggerSets TriggerNames(CancellationToken cancellationToken) =>
        LazyInitializer.EnsureInitialized(ref _names, ref _namesReady, ref _namesGate, () => CollectNames(cancellationToken))!;

    private TriggerSets CollectNames(CancellationToken cancellationToken)
    {
        // Pass 1 (syntax, and the referenced kernel libraries' symbols): the names that make a
        // file worth binding — the atomic ops members, delegate types marked [AtomicContext]
        // (Kernel.Mm's *_fn and the user's), and members and methods typed with them; and the
        // names of methods marked [AtomicContext].
        var triggers = new HashSet<string>(AtomicMemberNames, StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in _atomicMembers.Concat(_nonBlockableMembers))
        {
            // An interval notifier's member is just `invalidate`, a common word: its table's type names it.
            triggers.Add(SymbolEqualityComparer.Default.Equals(member, _symbols.IntervalOpsInvalidate) ? member.ContainingType.Name : member.Name);
            triggers.Add(member.Type.Name);
        }

        foreach (var assembly in _compilation.SourceModule.ReferencedAssemblySymbols)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (KnownSymbols.UsesRuntimeOrAnnotations(assembly))
            {
                AddReferenced(assembly.GlobalNamespace, triggers, names);
            }
        }

        foreach (var tree in _compilation.SyntaxTrees)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var member in TypeLevelMembers.Of(tree, cancellationToken))
            {
                if (member.Kind == TypeLevelMemberKind.Delegate && member.HasAttribute(Annotations.AtomicContext))
                {
                    triggers.UnionWith(member.Names);
                }
            }
        }

        foreach (var tree in _compilation.SyntaxTrees)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var member in TypeLevelMembers.Of(tree, cancellationToken))
            {
                switch (member.Kind)
                {
                    case TypeLevelMemberKind.Method:
                        if (member.HasAttribute(Annotations.AtomicContext))
                        {
                            names.UnionWith(member.Names);
                        }

                        foreach (var type in member.TypeNames)
                        {
                            if (triggers.Contains(type))
                            {
                                triggers.UnionWith(member.Names);
                            }
                        }

                        break;
                    case TypeLevelMemberKind.Property or TypeLevelMemberKind.Field or TypeLevelMemberKind.EventField when triggers.Contains(member.TypeNames[0]):
                        triggers.UnionWith(member.Names);
                        break;
                }
            }
        }

        return new TriggerSets(triggers, names);
    }

    // The names a callback can have — marked [AtomicContext], or referenced without a call (a method
    // group) inside a member that names a trigger — each with the files where it is such a reference.
    // Syntax only (the per-file scans are reused across an editor's compilations). Binding a name's
    // conversions visits only its files: visiting every file for every name asked about made the
    // rules that ask for every body they analyse (MMU014) quadratic in the compilation's size.
    private Dictionary<string, List<SyntaxTree>> CallbackNames(CancellationToken cancellationToken) =>
        LazyInitializer.EnsureInitialized(ref _callbackNames, ref _callbackNamesReady, ref _callbackNamesGate, () =>
        {
            var collected = new Dictionary<string, List<SyntaxTree>>(StringComparer.Ordinal);
            foreach (var name in TriggerNames(cancellationToken).Declared)
            {
                collected[name] = new List<SyntaxTree>();
            }

            foreach (var tree in _compilation.SyntaxTrees)
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var name in CandidatesOf(tree, cancellationToken).MembersByName.Keys)
                {
                    if (!collected.TryGetValue(name, out var trees))
                    {
                        collected[name] = trees = new List<SyntaxTree>();
                    }

                    trees.Add(tree);
                }
            }

            return collected;
        })!;

    private TreeCandidates CandidatesOf(SyntaxTree tree, CancellationToken cancellationToken) =>
        Candidates.Get(tree, TriggerNames(cancellationToken).Triggers, (scanned, triggers) => ScanCandidates(scanned, triggers, cancellationToken));

    private TreeCandidates ScanCandidates(SyntaxTree tree, HashSet<string> triggers, CancellationToken cancellationToken)
    {
        var byName = new Dictionary<string, List<SyntaxNode>>(StringComparer.Ordinal);
        var members = MembersMentioning(tree, triggers, cancellationToken);
        foreach (var member in members)
        {
            foreach (var name in member.DescendantNodes().OfType<SimpleNameSyntax>())
            {
                var expression = name.Parent is MemberAccessExpressionSyntax access && access.Name == name ? (ExpressionSyntax)access : name;
                if (expression.Parent is InvocationExpressionSyntax invocation && invocation.Expression == expression)
                {
                    continue;
                }

                var text = name.Identifier.ValueText;
                if (!byName.TryGetValue(text, out var list))
                {
                    byName[text] = list = new List<SyntaxNode>();
                }

                if (!list.Contains(member))
                {
                    list.Add(member);
                }
            }
        }

        return new TreeCandidates(members.Count > 0, byName);
    }

    // Binds the members where a method group of this name can be converted to an atomic delegate,
    // and records each conversion: only when a callback of that name is asked about.
    private Dictionary<IMethodSymbol, List<AtomicUse>> BindConversions(string name, CancellationToken cancellationToken)
    {
        var uses = new Dictionary<IMethodSymbol, List<AtomicUse>>(SymbolEqualityComparer.Default);
        if (!CallbackNames(cancellationToken).TryGetValue(name, out var trees))
        {
            return uses;
        }

        foreach (var tree in trees)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!CandidatesOf(tree, cancellationToken).MembersByName.TryGetValue(name, out var members))
            {
                continue;
            }

            var model = GetModel(tree);
            foreach (var member in members)
            {
                foreach (var part in MemberBodies.Parts(member))
                {
                    if (model.GetOperation(part, cancellationToken) is not { } operation)
                    {
                        continue;
                    }

                    foreach (var descendant in operation.DescendantsAndSelf())
                    {
                        if (descendant is IDelegateCreationOperation { Target: IMethodReferenceOperation reference } creation
                            && reference.Method.Name == name
                            && Describe(creation) is { } use)
                        {
                            var method = reference.Method.OriginalDefinition;
                            if (!uses.TryGetValue(method, out var list))
                            {
                                uses[method] = list = new List<AtomicUse>();
                            }

                            list.Add(use);
                        }
                    }
                }
            }
        }

        return uses;
    }

    // The referenced kernel library's atomic delegate types, the members and methods typed with
    // them, and its methods marked [AtomicContext] (an interface a driver implements).
    private static void AddReferenced(INamespaceOrTypeSymbol container, HashSet<string> triggers, HashSet<string> names)
    {
        foreach (var member in container.GetMembers())
        {
            switch (member)
            {
                case INamespaceSymbol ns:
                    AddReferenced(ns, triggers, names);
                    break;
                case INamedTypeSymbol { TypeKind: TypeKind.Delegate } type when Annotations.Has(type, Annotations.AtomicContext):
                    triggers.Add(type.Name);
                    break;
                case INamedTypeSymbol type:
                    foreach (var typeMember in type.GetMembers())
                    {
                        switch (typeMember)
                        {
                            case IMethodSymbol method:
                                if (Annotations.Has(method, Annotations.AtomicContext))
                                {
                                    names.Add(method.Name);
                                }

                                foreach (var parameter in method.Parameters)
                                {
                                    if (IsAtomicDelegate(parameter.Type))
                                    {
                                        triggers.Add(method.Name);
                                    }
                                }

                                break;
                            case IPropertySymbol property when IsAtomicDelegate(property.Type):
                                triggers.Add(property.Name);
                                break;
                            case IFieldSymbol field when IsAtomicDelegate(field.Type):
                                triggers.Add(field.Name);
                                break;
                        }
                    }

                    AddReferenced(type, triggers, names);
                    break;
            }
        }
    }

    private static bool IsAtomicDelegate(ITypeSymbol type) =>
        type is INamedTypeSymbol { TypeKind: TypeKind.Delegate } && Annotations.Has(type, Annotations.AtomicContext);


    private static bool HasAtomicAttributeSyntax(SyntaxList<AttributeListSyntax> lists) =>
        Annotations.IsNamedInSyntax(lists, Annotations.AtomicContext);

    // The member declarations (or top-level statements) whose tokens name one of `names`, in order.
    private List<SyntaxNode> MembersMentioning(SyntaxTree tree, HashSet<string> names, CancellationToken cancellationToken)
    {
        var members = new List<SyntaxNode>();
        foreach (var token in MentionIndex.Get(_compilation, _symbols).Mentions(tree, cancellationToken))
        {
            if (names.Contains(token.ValueText)
                && token.Parent?.AncestorsAndSelf().FirstOrDefault(n => n is MemberDeclarationSyntax or AccessorDeclarationSyntax) is { } member
                && !members.Contains(member))
            {
                members.Add(member);
            }
        }

        return members;
    }

    [SuppressMessage(
        "MicrosoftCodeAnalysisCorrectness",
        "RS1030:Do not invoke Compilation.GetSemanticModel() method within a diagnostic analyzer",
        Justification = "The ops table that makes a method an atomic callback is usually in another file; only members that name a trigger and reference the asked name are bound.")]
    private SemanticModel GetModel(SyntaxTree tree) => _compilation.GetSemanticModel(tree);

    private sealed class TriggerSets
    {
        public TriggerSets(HashSet<string> triggers, HashSet<string> declared)
        {
            Triggers = triggers;
            Declared = declared;
        }

        public HashSet<string> Triggers { get; }

        public HashSet<string> Declared { get; }
    }

    /// <summary>What one file offers the index, from syntax alone.</summary>
    private sealed class TreeCandidates
    {
        public TreeCandidates(bool mentionsTrigger, Dictionary<string, List<SyntaxNode>> membersByName)
        {
            MentionsTrigger = mentionsTrigger;
            MembersByName = membersByName;
        }

        /// <summary>Whether the file names a trigger (so a lambda in it may become an atomic callback).</summary>
        public bool MentionsTrigger { get; }

        /// <summary>Per name referenced without a call, the trigger-naming members that reference it.</summary>
        public Dictionary<string, List<SyntaxNode>> MembersByName { get; }
    }
}
