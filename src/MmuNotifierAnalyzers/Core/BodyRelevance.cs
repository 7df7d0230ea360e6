using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// Which member declarations are worth binding for the rules over a body: those whose tokens name
/// a method the analyses model (a range, a notification, a lock, a clear, a release, a
/// <c>[MustHoldLock]</c> callee) or one of the annotations that make a method so. A syntactic
/// over-approximation of <see cref="FlowCache"/>'s relevance, decided before any operation tree
/// is built, so that ordinary methods cost a token scan and nothing else.
/// </summary>
/// <remarks>
/// The names come from the runtime's <c>Linux</c> class (by symbol, through <see cref="ApiModel"/>),
/// from referenced assemblies that use the annotations or the runtime, and from the source's own
/// annotated methods (found by attribute name). C# cannot rename a method at a call, so a call
/// of a modelled method always spells one of these names.
/// </remarks>
internal sealed class BodyRelevance
{
    private static readonly ConditionalWeakTable<Compilation, BodyRelevance> Cache = new();

    private static readonly ConditionalWeakTable<INamedTypeSymbol, StrongBox<ReferencedNames?>> Referenced = new();

    private static readonly string[] EffectAnnotations =
    {
        Annotations.AcquiresLock,
        Annotations.ReleasesLock,
        Annotations.MustHoldLock,
        Annotations.OpensInvalidationRange,
        Annotations.ClosesInvalidationRange,
        Annotations.ReleasesPage,
        Annotations.SequenceRead,
        Annotations.SequenceRetryCheck,
        Annotations.EstablishesSecondaryMapping,
        Annotations.LooksUpPages,
    };

    private readonly Compilation _compilation;
    private readonly ApiModel _api;
    private readonly ConcurrentDictionary<SyntaxTree, HashSet<SyntaxNode>> _relevant = new();
    private object? _gate;
    private bool _namesReady;
    private HashSet<string>? _names;

    private BodyRelevance(Compilation compilation, ApiModel api)
    {
        _compilation = compilation;
        _api = api;
    }

    public static BodyRelevance Get(Compilation compilation, KnownSymbols symbols) =>
        Cache.GetOrCreate(compilation, symbols, static (c, s) => new BodyRelevance(c, FlowCache.Api(c, s)));

    /// <summary>Whether <paramref name="declaration"/> (a member declaration) names anything the analyses model.</summary>
    public bool IsRelevant(SyntaxNode declaration, CancellationToken cancellationToken) =>
        (_relevant.TryGetValue(declaration.SyntaxTree, out var relevant) ? relevant : ScanOnce(declaration.SyntaxTree, cancellationToken)).Contains(declaration);

    // Apart from IsRelevant, which every rule asks for every declaration: its lambda would allocate a closure on each call.
    private HashSet<SyntaxNode> ScanOnce(SyntaxTree tree, CancellationToken cancellationToken) =>
        _relevant.GetOrAdd(tree, t => Scan(t, cancellationToken));

    /// <summary>The member declaration a token belongs to, as the analyzer driver groups bodies.</summary>
    public static SyntaxNode? DeclarationOf(SyntaxNode? node)
    {
        for (; node is not null; node = node.Parent)
        {
            switch (node)
            {
                case BaseMethodDeclarationSyntax or AccessorDeclarationSyntax or BaseFieldDeclarationSyntax or BasePropertyDeclarationSyntax:
                    return node;
                case GlobalStatementSyntax:
                    return node.Parent;
                case BaseTypeDeclarationSyntax or BaseNamespaceDeclarationSyntax:
                    return null;
            }
        }

        return null;
    }

    private HashSet<SyntaxNode> Scan(SyntaxTree tree, CancellationToken cancellationToken)
    {
        var names = Names(cancellationToken);
        var relevant = new HashSet<SyntaxNode>();
        foreach (var token in MentionIndex.Get(_compilation, _api.Symbols).Mentions(tree, cancellationToken))
        {
            if (names.Contains(token.ValueText) && DeclarationOf(token.Parent) is { } declaration)
            {
                relevant.Add(declaration);
            }
        }

        return relevant;
    }

    /// <summary>The names of every modelled method and effect annotation.</summary>
    public HashSet<string> Names(CancellationToken cancellationToken) =>
        LazyInitializer.EnsureInitialized(ref _names, ref _namesReady, ref _gate, () => Collect(cancellationToken))!;

    private HashSet<string> Collect(CancellationToken cancellationToken)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var annotation in EffectAnnotations)
        {
            Annotations.AddSpellings(names, annotation);
        }

        // The runtime, and any referenced kernel library written against it or the annotations.
        names.UnionWith(FromReferences(cancellationToken));

        // An interval notifier's ->invalidate is known by its parameter types (MMU012 checks it
        // calls mmu_interval_set_seq): its declaration names the notifier type.
        if (_api.Symbols.MmuIntervalInvalidateFn is not null && _api.Symbols.MmuIntervalNotifier is { } intervalNotifier)
        {
            names.Add(intervalNotifier.Name);
        }

        // The source's own annotated methods, by attribute name (a call elsewhere names the method).
        foreach (var tree in _compilation.SyntaxTrees)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var member in TypeLevelMembers.Of(tree, cancellationToken))
            {
                if ((member.Kind == TypeLevelMemberKind.Method && HasEffectAttribute(member))
                    || (member.Kind is TypeLevelMemberKind.Field or TypeLevelMemberKind.Property && member.HasAttribute(Annotations.SequenceRead)))
                {
                    names.UnionWith(member.Names);
                }
            }
        }

        return names;
    }

    /// <summary>
    /// The modelled names the runtime and the referenced kernel libraries declare: a judgement of
    /// every method they declare. It is kept with the runtime's <c>Linux</c> type for the next
    /// compilation that resolves the same referenced types and walks the same libraries (an
    /// editor's, at every keystroke: judging them again cost it about 3 ms). Nothing from source is
    /// kept, so no compilation is held by it.
    /// </summary>
    private HashSet<string> FromReferences(CancellationToken cancellationToken)
    {
        var walked = new List<IAssemblySymbol>();
        foreach (var assembly in _compilation.SourceModule.ReferencedAssemblySymbols)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (KnownSymbols.UsesRuntimeOrAnnotations(assembly))
            {
                walked.Add(assembly);
            }
        }

        var symbols = _api.Symbols;
        var kept = symbols.Linux is { } key && !symbols.ReferencedTypes.IsDefault && !walked.Exists(a => a is ISourceAssemblySymbol)
            ? Referenced.GetValue(key, static _ => new StrongBox<ReferencedNames?>())
            : null;
        if (kept is not null && Volatile.Read(ref kept.Value) is { } known && known.Matches(symbols.ReferencedTypes, walked))
        {
            return known.Names;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        if (symbols.Linux is { } linux)
        {
            AddModelled(linux, names);
        }

        foreach (var assembly in walked)
        {
            cancellationToken.ThrowIfCancellationRequested();
            AddTypes(assembly.GlobalNamespace, names);
        }

        if (kept is not null)
        {
            Volatile.Write(ref kept.Value, new ReferencedNames(symbols.ReferencedTypes, walked, names));
        }

        return names;
    }

    private void AddTypes(INamespaceOrTypeSymbol container, HashSet<string> names)
    {
        foreach (var member in container.GetMembers())
        {
            switch (member)
            {
                case INamespaceSymbol ns:
                    AddTypes(ns, names);
                    break;
                case INamedTypeSymbol type:
                    AddModelled(type, names);
                    AddTypes(type, names);
                    break;
            }
        }
    }

    private void AddModelled(INamedTypeSymbol type, HashSet<string> names)
    {
        foreach (var member in type.GetMembers())
        {
            // The rwsem functions alone give no finding (MMU015 needs a registration call in the
            // body, itself a name here): a body that only takes mmap_sem is not bound for them.
            if (member is IMethodSymbol method && !names.Contains(method.Name)
                && _api.Get(method) is { } effects && (effects.MarksBody || !effects.MustHold.IsEmpty))
            {
                names.Add(method.Name);
            }
            else if (member is IFieldSymbol or IPropertySymbol && _api.IsSequenceMember(member))
            {
                names.Add(member.Name);
            }
        }
    }

    private static bool HasEffectAttribute(TypeLevelMember member)
    {
        foreach (var annotation in EffectAnnotations)
        {
            if (member.HasAttribute(annotation))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>What <see cref="FromReferences"/> found, and what it was found from.</summary>
    private sealed class ReferencedNames
    {
        private readonly ImmutableArray<INamedTypeSymbol?> _types;
        private readonly List<IAssemblySymbol> _walked;

        public ReferencedNames(ImmutableArray<INamedTypeSymbol?> types, List<IAssemblySymbol> walked, HashSet<string> names)
        {
            _types = types;
            _walked = walked;
            Names = names;
        }

        public HashSet<string> Names { get; }

        public bool Matches(ImmutableArray<INamedTypeSymbol?> types, List<IAssemblySymbol> walked)
        {
            if (walked.Count != _walked.Count || types.Length != _types.Length)
            {
                return false;
            }

            for (int i = 0; i < types.Length; i++)
            {
                if (!ReferenceEquals(types[i], _types[i]))
                {
                    return false;
                }
            }

            for (int i = 0; i < walked.Count; i++)
            {
                if (!ReferenceEquals(walked[i], _walked[i]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
