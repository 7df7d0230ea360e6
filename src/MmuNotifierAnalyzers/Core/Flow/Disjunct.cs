using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;

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
/// One disjunct of the ESP-style abstract state: the property state (open ranges, held locks,
/// atomic context) and the data that lets branches be decided (values of variables, facts
/// about values). Disjuncts with the same property state are merged at joins; different
/// property states stay apart, up to <see cref="FlowAnalysis.MaxDisjuncts"/>.
/// </summary>
internal sealed class Disjunct
{
    public static readonly ImmutableDictionary<ISymbol, Value> EmptyVariables =
        ImmutableDictionary.Create<ISymbol, Value>(SymbolEqualityComparer.Default);

    public static readonly ImmutableDictionary<ISymbol, Value> EmptyVersions =
        ImmutableDictionary.Create<ISymbol, Value>(SymbolEqualityComparer.Default);

    public Disjunct(
        ImmutableArray<RangeFact> ranges,
        ImmutableArray<LockFact> locks,
        bool atomic,
        ImmutableDictionary<ISymbol, Value> variables,
        ImmutableDictionary<CaptureId, Value> captures,
        ImmutableDictionary<ISymbol, Value> versions,
        ImmutableDictionary<Value, Known> facts)
    {
        Ranges = ranges;
        Locks = locks;
        Atomic = atomic;
        Variables = variables;
        Captures = captures;
        Versions = versions;
        Facts = facts;
    }

    public ImmutableArray<RangeFact> Ranges { get; }

    public ImmutableArray<LockFact> Locks { get; }

    public bool Atomic { get; }

    public ImmutableDictionary<ISymbol, Value> Variables { get; }

    public ImmutableDictionary<CaptureId, Value> Captures { get; }

    /// <summary>The last write of each field/property written in this method (heap versions).</summary>
    public ImmutableDictionary<ISymbol, Value> Versions { get; }

    public ImmutableDictionary<Value, Known> Facts { get; }

    public static Disjunct Empty(bool atomic) => new(
        ImmutableArray<RangeFact>.Empty,
        ImmutableArray<LockFact>.Empty,
        atomic,
        EmptyVariables,
        ImmutableDictionary<CaptureId, Value>.Empty,
        EmptyVersions,
        ImmutableDictionary<Value, Known>.Empty);

    public Disjunct With(
        ImmutableArray<RangeFact>? ranges = null,
        ImmutableArray<LockFact>? locks = null,
        ImmutableDictionary<ISymbol, Value>? variables = null,
        ImmutableDictionary<CaptureId, Value>? captures = null,
        ImmutableDictionary<ISymbol, Value>? versions = null,
        ImmutableDictionary<Value, Known>? facts = null) =>
        new(ranges ?? Ranges, locks ?? Locks, Atomic, variables ?? Variables, captures ?? Captures, versions ?? Versions, facts ?? Facts);

    public Value VariableValue(ISymbol symbol)
    {
        if (Variables.TryGetValue(symbol, out var value))
        {
            return value;
        }

        return symbol is IParameterSymbol p ? Value.Parameter(p) : Value.Initial(symbol);
    }

    public Value? VersionOf(ISymbol member) => Versions.TryGetValue(member, out var v) ? v : null;

    public bool SamePropertyState(Disjunct other) =>
        Atomic == other.Atomic
        && Ranges.Length == other.Ranges.Length
        && Locks.Length == other.Locks.Length
        && Ranges.All(r => other.Ranges.Contains(r))
        && Locks.All(l => other.Locks.Contains(l));

    public int PropertyHash()
    {
        var h = Atomic ? 1 : 0;
        foreach (var r in Ranges)
        {
            h ^= r.GetHashCode();
        }

        foreach (var l in Locks)
        {
            h ^= l.GetHashCode() * 7;
        }

        return h;
    }

    /// <summary>Same property state and same data: used to detect the fixed point.</summary>
    public bool SameAs(Disjunct other) =>
        SamePropertyState(other)
        && SameMap(Variables, other.Variables)
        && SameMap(Captures, other.Captures)
        && SameMap(Versions, other.Versions)
        && SameMap(Facts, other.Facts);

    /// <summary>Merges the data of disjuncts that have the same property state: values that
    /// differ become a phi of the block, facts that are not shared are dropped.</summary>
    public static Disjunct MergeData(IReadOnlyList<Disjunct> group, int blockOrdinal)
    {
        var first = group[0];
        if (group.Count == 1)
        {
            return first;
        }

        var variables = MergeMap(group, d => d.Variables, blockOrdinal, static (d, k) => d.VariableValue(k), EmptyVariables);
        var captures = MergeMap(group, d => d.Captures, blockOrdinal, static (d, k) => d.Captures.TryGetValue(k, out var v) ? v : null, ImmutableDictionary<CaptureId, Value>.Empty);
        var versions = MergeMap(group, d => d.Versions, blockOrdinal, static (d, k) => d.VersionOf(k), EmptyVersions);
        var facts = first.Facts;
        foreach (var d in group.Skip(1))
        {
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

        var ranges = first.Ranges;
        var locks = first.Locks;
        return new Disjunct(ranges, locks, first.Atomic, variables, captures, versions, facts);
    }

    /// <summary>Merges disjuncts with different property states (over the cap): what is not in all of
    /// them becomes <see cref="Certainty.Maybe"/>; the data is merged as for equal states.</summary>
    public static Disjunct MergeProperties(IReadOnlyList<Disjunct> group, int blockOrdinal)
    {
        var ranges = new List<RangeFact>();
        var locks = new List<LockFact>();
        foreach (var d in group)
        {
            foreach (var r in d.Ranges)
            {
                var inAll = group.All(o => o.Ranges.Contains(r));
                var fact = inAll ? r : r.WithCertainty(Certainty.Maybe);
                if (!ranges.Contains(fact))
                {
                    ranges.Add(fact);
                }
            }

            foreach (var l in d.Locks)
            {
                var inAll = group.All(o => o.Locks.Contains(l));
                var fact = inAll ? l : l.WithCertainty(Certainty.Maybe);
                if (!locks.Contains(fact))
                {
                    locks.Add(fact);
                }
            }
        }

        var data = MergeData(group, blockOrdinal);
        return new Disjunct(ranges.ToImmutableArray(), locks.ToImmutableArray(), group.Any(d => d.Atomic), data.Variables, data.Captures, data.Versions, data.Facts);
    }

    private static ImmutableDictionary<TKey, Value> MergeMap<TKey>(
        IReadOnlyList<Disjunct> group,
        System.Func<Disjunct, ImmutableDictionary<TKey, Value>> map,
        int blockOrdinal,
        System.Func<Disjunct, TKey, Value?> lookup,
        ImmutableDictionary<TKey, Value> empty)
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

        var keys = new HashSet<TKey>(empty.KeyComparer);
        foreach (var d in group)
        {
            keys.UnionWith(map(d).Keys);
        }

        var builder = empty.ToBuilder();
        foreach (var key in keys)
        {
            var v0 = lookup(group[0], key);
            var same = true;
            for (var i = 1; i < group.Count && same; i++)
            {
                same = Equals(v0, lookup(group[i], key));
            }

            if (same)
            {
                if (v0 is not null)
                {
                    builder[key] = v0;
                }
            }
            else
            {
                builder[key] = Value.Phi(key, blockOrdinal);
            }
        }

        return builder.ToImmutable();
    }

    private static bool SameMap<TKey, TValue>(ImmutableDictionary<TKey, TValue> a, ImmutableDictionary<TKey, TValue> b)
        where TKey : notnull
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var pair in a)
        {
            if (!b.TryGetValue(pair.Key, out var other) || !EqualityComparer<TValue>.Default.Equals(pair.Value, other))
            {
                return false;
            }
        }

        return true;
    }
}
