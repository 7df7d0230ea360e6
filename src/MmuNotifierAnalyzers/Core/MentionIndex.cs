using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using MmuNotifierAnalyzers.Core.Sleep;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// One scan per file for every syntactic pre-check: the identifier tokens that spell a name
/// the flow rules model (<see cref="BodyRelevance"/>), that can make a function an atomic
/// callback (<see cref="AtomicCallbacks"/>), or that change a page-table entry (MMU013's
/// carriers), and the ops members and attributes other rules look for by name. Finding them is most
/// of what the analyzers cost on code that never calls the API, so it is done once, for all of them,
/// and from the file's characters (<see cref="NameFinder"/>).
/// </summary>
internal sealed class MentionIndex
{
    private static readonly ConditionalWeakTable<Compilation, MentionIndex> Cache = new();
    private static readonly TreeScans<List<SyntaxToken>> Scans = new();

    private readonly Compilation _compilation;
    private readonly KnownSymbols _symbols;
    private readonly ConcurrentDictionary<SyntaxTree, List<SyntaxToken>> _mentions = new();
    private object? _gate;
    private bool _finderReady;
    private NameFinder? _finder;
    private StrongBox<bool>? _anyMention;

    private MentionIndex(Compilation compilation, KnownSymbols symbols)
    {
        _compilation = compilation;
        _symbols = symbols;
    }

    public static MentionIndex Get(Compilation compilation, KnownSymbols symbols) =>
        Cache.GetOrCreate(compilation, symbols, static (c, s) => new MentionIndex(c, s));

    /// <summary>The identifier tokens of <paramref name="tree"/> that spell a watched name, in order.</summary>
    public IReadOnlyList<SyntaxToken> Mentions(SyntaxTree tree, CancellationToken cancellationToken) =>
        _mentions.GetOrAdd(tree, t =>
        {
            var finder = Finder(cancellationToken);
            return Scans.Get(t, finder.Names, (scanned, _) => finder.Find(scanned, cancellationToken));
        });

    /// <summary>
    /// Whether any file of the compilation names anything a rule looks for. When none does, no rule
    /// can report, and the rules register no syntax action at all: what a do-nothing syntax-node
    /// analyzer costs the driver (a callback per declaration, per rule) is then not paid either.
    /// </summary>
    public bool AnyMention(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _anyMention) is { } known)
        {
            return known.Value;
        }

        bool any = false;
        foreach (var tree in _compilation.SyntaxTrees)
        {
            if (Mentions(tree, cancellationToken).Count > 0)
            {
                any = true;
                break;
            }
        }

        Volatile.Write(ref _anyMention, new StrongBox<bool>(any));
        return any;
    }

    private NameFinder Finder(CancellationToken cancellationToken) =>
        LazyInitializer.EnsureInitialized(ref _finder, ref _finderReady, ref _gate, () =>
        {
            var union = new HashSet<string>(BodyRelevance.Get(_compilation, _symbols).Names(cancellationToken), StringComparer.Ordinal);
            var callbacks = AtomicCallbacks.Get(_compilation);
            union.UnionWith(callbacks.Triggers(cancellationToken));

            // MMU004 and MMU014 also find a callback by its own name or attribute (an override of an
            // [AtomicContext] method names nothing else).
            union.UnionWith(callbacks.DeclaredNames(cancellationToken));
            foreach (var annotation in Annotations.All)
            {
                Annotations.AddSpellings(union, annotation);
            }

            // MMU001 and MMU011 look at these ops members where a table sets them.
            foreach (var member in new[] { _symbols.OpsInvalidatePage, _symbols.OpsInvalidateRange, _symbols.OpsInvalidateRangeStart, _symbols.OpsInvalidateRangeStartRange, _symbols.OpsInvalidateRangeEnd, _symbols.OpsInvalidateRangeEndRange })
            {
                if (member is not null)
                {
                    union.Add(member.Name);
                }
            }

            foreach (var method in _symbols.InvalidatePage)
            {
                union.Add(method.Name);
            }

            // MMU013's carriers start from the entry changes (EntryChangeDuty).
            foreach (var api in _symbols.EntryChanges)
            {
                union.Add(api.Name);
            }

            return new NameFinder(union);
        })!;
}
