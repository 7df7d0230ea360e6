using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MmuNotifierAnalyzers.Core.Sleep;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// One token scan per file for every syntactic pre-check: the identifier tokens that spell a name
/// the flow rules model (<see cref="BodyRelevance"/>), that can make a function an atomic
/// callback (<see cref="AtomicCallbacks"/>), or that change a page-table entry (MMU013's
/// carriers). Finding them is most of what the analyzers cost on code that never calls the API, so
/// it is done once, for all of them, and from the file's characters (<see cref="NameFinder"/>).
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

    private MentionIndex(Compilation compilation, KnownSymbols symbols)
    {
        _compilation = compilation;
        _symbols = symbols;
    }

    public static MentionIndex Get(Compilation compilation, KnownSymbols symbols) =>
        Cache.GetValue(compilation, c => new MentionIndex(c, symbols));

    /// <summary>The identifier tokens of <paramref name="tree"/> that spell a watched name, in order.</summary>
    public IReadOnlyList<SyntaxToken> Mentions(SyntaxTree tree, CancellationToken cancellationToken) =>
        _mentions.GetOrAdd(tree, t =>
        {
            var finder = Finder(cancellationToken);
            return Scans.Get(t, finder.Names, (scanned, _) => finder.Find(scanned, cancellationToken));
        });

    private NameFinder Finder(CancellationToken cancellationToken) =>
        LazyInitializer.EnsureInitialized(ref _finder, ref _finderReady, ref _gate, () =>
        {
            var union = new HashSet<string>(BodyRelevance.Get(_compilation, _symbols).Names(cancellationToken), StringComparer.Ordinal);
            union.UnionWith(AtomicCallbacks.Get(_compilation).Triggers(cancellationToken));

            // MMU013's carriers start from the entry changes (EntryChangeDuty).
            foreach (var api in _symbols.EntryChanges)
            {
                union.Add(api.Name);
            }

            return new NameFinder(union);
        })!;
}
