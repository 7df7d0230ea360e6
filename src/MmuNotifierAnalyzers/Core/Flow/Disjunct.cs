using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;
using MmuNotifierAnalyzers.Core.Flow.Engine;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>A fact the path knows about a value (from a constant, or from a branch it took).</summary>
internal enum Known
{
    True,
    False,
    Null,
    NonNull,
    Zero,
    NonZero,
}

/// <summary>
/// One disjunct of the ESP-style abstract state: the property state (one value per
/// <see cref="Domains"/> entry: open ranges, held locks, cleared entries) and the data that lets
/// branches be decided (values of variables, facts about values). Disjuncts with the same
/// property state are merged at joins; different property states stay apart, up to
/// <see cref="FlowAnalysis.MaxDisjuncts"/>.
/// </summary>
internal sealed class Disjunct
{
    private static readonly PathMap<ISymbol, Value> EmptySymbolMap = PathMap<ISymbol, Value>.Empty(SymbolEqualityComparer.Default);

    private static readonly ImmutableArray<object> EmptyProperties = Domains.All.Select(d => d.EmptyValue).ToImmutableArray();

    private readonly ImmutableArray<object> _properties;

    private Disjunct(
        ImmutableArray<object> properties,
        PathMap<ISymbol, Value> variables,
        PathMap<CaptureId, Value> captures,
        PathMap<ISymbol, Value> versions,
        PathMap<Value, Known> facts)
    {
        _properties = properties;
        Variables = variables;
        Captures = captures;
        Versions = versions;
        Facts = facts;
    }

    public static Disjunct Empty { get; } = new(
        EmptyProperties,
        EmptySymbolMap,
        PathMap<CaptureId, Value>.Empty(EqualityComparer<CaptureId>.Default),
        EmptySymbolMap,
        PathMap<Value, Known>.Empty(EqualityComparer<Value>.Default));

    public ImmutableArray<RangeFact> Ranges => Get(Domains.Ranges);

    public ImmutableArray<LockFact> Locks => Get(Domains.Locks);

    public PathMap<ISymbol, Value> Variables { get; }

    public PathMap<CaptureId, Value> Captures { get; }

    /// <summary>The last write of each field/property written in this method (heap versions).</summary>
    public PathMap<ISymbol, Value> Versions { get; }

    public PathMap<Value, Known> Facts { get; }

    /// <summary>This path's value in <paramref name="domain"/>.</summary>
    public T Get<T>(FactDomain<T> domain)
        where T : notnull => (T)_properties[domain.Index];

    /// <summary>This path with <paramref name="value"/> in <paramref name="domain"/>.</summary>
    public Disjunct With<T>(FactDomain<T> domain, T value)
        where T : notnull =>
        EqualityComparer<T>.Default.Equals(Get(domain), value)
            ? this
            : new(_properties.SetItem(domain.Index, value), Variables, Captures, Versions, Facts);

    public Disjunct With(
        PathMap<ISymbol, Value>? variables = null,
        PathMap<CaptureId, Value>? captures = null,
        PathMap<ISymbol, Value>? versions = null,
        PathMap<Value, Known>? facts = null)
    {
        variables ??= Variables;
        captures ??= Captures;
        versions ??= Versions;
        facts ??= Facts;

        // A write that changed nothing (the same value again) keeps the path as it is.
        return ReferenceEquals(variables, Variables) && ReferenceEquals(captures, Captures) && ReferenceEquals(versions, Versions) && ReferenceEquals(facts, Facts)
            ? this
            : new(_properties, variables, captures, versions, facts);
    }

    /// <summary>The property state alone (one value per domain): what an observation keeps of a
    /// path, so that the path's variables and facts are not held for as long as the result is.</summary>
    internal ImmutableArray<object> PropertyValues => _properties;

    /// <summary>Whether two property states (<see cref="PropertyValues"/>) are the same.</summary>
    internal static bool SameProperties(ImmutableArray<object> a, ImmutableArray<object> b)
    {
        if (a == b)
        {
            return true;
        }

        foreach (var domain in Domains.All)
        {
            if (!domain.SameValue(a[domain.Index], b[domain.Index]))
            {
                return false;
            }
        }

        return true;
    }

    public Value VariableValue(ISymbol symbol)
    {
        if (Variables.TryGetValue(symbol, out var value))
        {
            return value;
        }

        return symbol is IParameterSymbol p ? Value.Parameter(p) : Value.Initial(symbol);
    }

    public Value? VersionOf(ISymbol member) => Versions.TryGetValue(member, out var v) ? v : null;

    public bool SamePropertyState(Disjunct other) => SameProperties(_properties, other._properties);

    /// <summary>Same property state and same data: used to detect the fixed point.</summary>
    public bool SameAs(Disjunct other) =>
        SamePropertyState(other)
        && Variables.SameAs(other.Variables)
        && Captures.SameAs(other.Captures)
        && Versions.SameAs(other.Versions)
        && Facts.SameAs(other.Facts);

    /// <summary>Merges the data of disjuncts that have the same property state: values that
    /// differ become a phi of the block, facts that are not shared are dropped.</summary>
    public static Disjunct MergeData(IReadOnlyList<Disjunct> group, int blockOrdinal)
    {
        var first = group[0];
        if (group.Count == 1)
        {
            return first;
        }

        var variables = MergeMap(group, static d => d.Variables, blockOrdinal, static (d, k) => d.VariableValue(k), SymbolEqualityComparer.Default);
        var captures = MergeMap(group, static d => d.Captures, blockOrdinal, static (d, k) => d.Captures.TryGetValue(k, out var v) ? v : null, EqualityComparer<CaptureId>.Default);
        var versions = MergeMap(group, static d => d.Versions, blockOrdinal, static (d, k) => d.VersionOf(k), SymbolEqualityComparer.Default);
        var facts = first.Facts;
        for (var i = 1; i < group.Count; i++)
        {
            var d = group[i];
            if (ReferenceEquals(facts, d.Facts))
            {
                continue;
            }

            foreach (var pair in facts)
            {
                if (!d.Facts.TryGetValue(pair.Key, out var k) || k != pair.Value)
                {
                    facts = facts.Remove(pair.Key);
                }
            }
        }

        return new Disjunct(first._properties, variables, captures, versions, facts);
    }

    /// <summary>Merges disjuncts with different property states (over the cap): each domain joins
    /// its values (what is not on every path becomes <see cref="Certainty.Maybe"/>); the data is
    /// merged as for equal states.</summary>
    public static Disjunct MergeProperties(IReadOnlyList<Disjunct> group, int blockOrdinal)
    {
        var properties = Domains.All
            .Select(domain => domain.MergeValues(group.Select(d => d._properties[domain.Index]).ToList()))
            .ToImmutableArray();
        var data = MergeData(group, blockOrdinal);
        return new Disjunct(properties, data.Variables, data.Captures, data.Versions, data.Facts);
    }

    private static PathMap<TKey, Value> MergeMap<TKey>(
        IReadOnlyList<Disjunct> group,
        System.Func<Disjunct, PathMap<TKey, Value>> map,
        int blockOrdinal,
        System.Func<Disjunct, TKey, Value?> lookup,
        IEqualityComparer<TKey> keyComparer)
        where TKey : notnull
    {
        // Branches rarely write variables: most joins meet the very same map.
        var firstMap = map(group[0]);
        var allSame = true;
        for (var i = 1; i < group.Count && allSame; i++)
        {
            allSame = ReferenceEquals(firstMap, map(group[i]));
        }

        if (allSame)
        {
            return firstMap;
        }

        // Only keys where the maps disagree change: start from the first map and write those. A key
        // the first map holds is compared with every other's value; a key only others hold is
        // compared with what the first path reads for it (a variable's initial value, or nothing).
        var merged = firstMap.Edit();
        foreach (var pair in firstMap)
        {
            for (var i = 1; i < group.Count; i++)
            {
                if (!ReferenceEquals(map(group[i]), firstMap) && !Equals(pair.Value, lookup(group[i], pair.Key)))
                {
                    merged.Set(pair.Key, Value.Phi(pair.Key, blockOrdinal));
                    break;
                }
            }
        }

        HashSet<TKey>? decided = null;
        for (var m = 1; m < group.Count; m++)
        {
            var other = map(group[m]);
            if (ReferenceEquals(other, firstMap))
            {
                continue;
            }

            foreach (var pair in other)
            {
                if (firstMap.ContainsKey(pair.Key) || !(decided ??= new HashSet<TKey>(keyComparer)).Add(pair.Key))
                {
                    continue;
                }

                var v0 = lookup(group[0], pair.Key);
                var same = true;
                for (var i = 1; i < group.Count && same; i++)
                {
                    same = Equals(v0, lookup(group[i], pair.Key));
                }

                if (!same)
                {
                    merged.Set(pair.Key, Value.Phi(pair.Key, blockOrdinal));
                }
                else if (v0 is not null)
                {
                    merged.Set(pair.Key, v0);
                }
            }
        }

        return merged.ToMap();
    }
}
