using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;

namespace MmuNotifierAnalyzers.Core.Flow.Engine;

/// <summary>Whether a fact is certainly there on the path, or only on some of the paths merged
/// into this state (the disjunct cap was reached).</summary>
internal enum Certainty
{
    Certain,
    Maybe,
}

/// <summary>A fact that can be weakened to "on some of the merged paths".</summary>
internal interface IUncertainFact<out TFact>
{
    Certainty Certainty { get; }

    TFact WithCertainty(Certainty certainty);
}

/// <summary>
/// One kind of property fact a path carries (open ranges, held locks, cleared entries, atomic
/// context), with its own equality and the join used when paths with different facts must be
/// merged. Paths with equal facts in every domain share a disjunct; the engine never looks inside.
/// </summary>
internal abstract class FactDomain
{
    protected FactDomain(int index)
    {
        Index = index;
    }

    /// <summary>The slot of this domain's value in a path's property state.</summary>
    public int Index { get; }

    public abstract object EmptyValue { get; }

    public abstract bool SameValue(object a, object b);

    public abstract int HashValue(object value);

    /// <summary>The value of paths with different facts merged into one (over the disjunct cap).</summary>
    public abstract object MergeValues(IReadOnlyList<object> values);
}

/// <summary>A domain whose values are <typeparamref name="T"/>.</summary>
internal abstract class FactDomain<T> : FactDomain
    where T : notnull
{
    protected FactDomain(int index)
        : base(index)
    {
    }

    public abstract T Empty { get; }

    public override object EmptyValue => Empty;

    public abstract bool Same(T a, T b);

    public abstract int Hash(T value);

    public abstract T Merge(IReadOnlyList<T> values);

    public override bool SameValue(object a, object b) => Same((T)a, (T)b);

    public override int HashValue(object value) => Hash((T)value);

    public override object MergeValues(IReadOnlyList<object> values) => Merge(values.Select(v => (T)v).ToList());
}

/// <summary>A set of facts (order does not matter); merged, a fact not on every path becomes <see cref="Certainty.Maybe"/>.</summary>
internal sealed class FactSetDomain<TFact> : FactDomain<ImmutableArray<TFact>>
    where TFact : class, IUncertainFact<TFact>
{
    public FactSetDomain(int index)
        : base(index)
    {
    }

    public override ImmutableArray<TFact> Empty => ImmutableArray<TFact>.Empty;

    public override bool Same(ImmutableArray<TFact> a, ImmutableArray<TFact> b)
    {
        if (a == b)
        {
            return true;
        }

        if (a.Length != b.Length)
        {
            return false;
        }

        foreach (var fact in a)
        {
            if (!b.Contains(fact))
            {
                return false;
            }
        }

        return true;
    }

    public override int Hash(ImmutableArray<TFact> value)
    {
        var h = value.Length;
        foreach (var fact in value)
        {
            h ^= fact.GetHashCode();
        }

        return h;
    }

    public override ImmutableArray<TFact> Merge(IReadOnlyList<ImmutableArray<TFact>> values)
    {
        var merged = ImmutableArray.CreateBuilder<TFact>();
        foreach (var value in values)
        {
            foreach (var fact in value)
            {
                var inAll = values.All(v => v.Contains(fact));
                var kept = inAll ? fact : fact.WithCertainty(Certainty.Maybe);
                if (!merged.Contains(kept))
                {
                    merged.Add(kept);
                }
            }
        }

        return merged.ToImmutable();
    }
}
