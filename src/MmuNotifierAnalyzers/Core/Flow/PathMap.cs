using System;
using System.Collections.Generic;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>
/// An immutable map of one path's data: a method's variables, its flow captures, the members it
/// wrote and the facts a branch taught it. These hold a handful of entries (a method's locals at
/// most), and a path writes one of them at nearly every operation, so parallel arrays searched by
/// hash cost far less than <see cref="System.Collections.Immutable.ImmutableDictionary{TKey, TValue}"/>'s
/// tree of nodes: a write to a known key copies the values alone, and the keys and hashes stay
/// shared with every map the path came from.
/// </summary>
internal sealed class PathMap<TKey, TValue>
    where TKey : notnull
{
    private readonly TKey[] _keys;
    private readonly int[] _hashes;
    private readonly TValue[] _values;
    private readonly IEqualityComparer<TKey> _comparer;

    private PathMap(TKey[] keys, int[] hashes, TValue[] values, IEqualityComparer<TKey> comparer)
    {
        _keys = keys;
        _hashes = hashes;
        _values = values;
        _comparer = comparer;
    }

    /// <summary>The empty map whose keys compare with <paramref name="comparer"/>.</summary>
    public static PathMap<TKey, TValue> Empty(IEqualityComparer<TKey> comparer) =>
        new(Array.Empty<TKey>(), Array.Empty<int>(), Array.Empty<TValue>(), comparer);

    public bool TryGetValue(TKey key, out TValue value)
    {
        var index = IndexOf(key, _comparer.GetHashCode(key));
        if (index < 0)
        {
            value = default!;
            return false;
        }

        value = _values[index];
        return true;
    }

    public bool ContainsKey(TKey key) => IndexOf(key, _comparer.GetHashCode(key)) >= 0;

    /// <summary>This map with <paramref name="key"/> mapped to <paramref name="value"/>; the same
    /// instance when it already is (so an unchanged path stays the same path).</summary>
    public PathMap<TKey, TValue> SetItem(TKey key, TValue value)
    {
        var hash = _comparer.GetHashCode(key);
        var index = IndexOf(key, hash);
        if (index >= 0)
        {
            if (EqualityComparer<TValue>.Default.Equals(_values[index], value))
            {
                return this;
            }

            var values = new TValue[_values.Length];
            Array.Copy(_values, values, values.Length);
            values[index] = value;
            return new(_keys, _hashes, values, _comparer);
        }

        var count = _keys.Length;
        var keys = new TKey[count + 1];
        var hashes = new int[count + 1];
        var grown = new TValue[count + 1];
        Array.Copy(_keys, keys, count);
        Array.Copy(_hashes, hashes, count);
        Array.Copy(_values, grown, count);
        keys[count] = key;
        hashes[count] = hash;
        grown[count] = value;
        return new(keys, hashes, grown, _comparer);
    }

    /// <summary>This map without <paramref name="key"/>; the same instance when it has no such key.</summary>
    public PathMap<TKey, TValue> Remove(TKey key)
    {
        var index = IndexOf(key, _comparer.GetHashCode(key));
        if (index < 0)
        {
            return this;
        }

        var count = _keys.Length - 1;
        var keys = new TKey[count];
        var hashes = new int[count];
        var values = new TValue[count];
        Array.Copy(_keys, keys, index);
        Array.Copy(_hashes, hashes, index);
        Array.Copy(_values, values, index);
        Array.Copy(_keys, index + 1, keys, index, count - index);
        Array.Copy(_hashes, index + 1, hashes, index, count - index);
        Array.Copy(_values, index + 1, values, index, count - index);
        return new(keys, hashes, values, _comparer);
    }

    /// <summary>Whether both maps hold the same keys with equal values (in any order).</summary>
    public bool SameAs(PathMap<TKey, TValue> other)
    {
        if (ReferenceEquals(this, other))
        {
            return true;
        }

        if (_keys.Length != other._keys.Length)
        {
            return false;
        }

        // Keys are added in execution order, so maps of one method nearly always list them alike.
        var sameKeys = ReferenceEquals(_keys, other._keys);
        for (var i = 0; i < _keys.Length; i++)
        {
            var j = sameKeys ? i : other.IndexOf(_keys[i], _hashes[i]);
            if (j < 0 || !EqualityComparer<TValue>.Default.Equals(_values[i], other._values[j]))
            {
                return false;
            }
        }

        return true;
    }

    public Enumerator GetEnumerator() => new(this);

    /// <summary>Collects several writes to this map and makes one map of them (a join writes a
    /// phi for every variable the paths disagree on).</summary>
    public Editor Edit() => new(this);

    private int IndexOf(TKey key, int hash)
    {
        var hashes = _hashes;
        for (var i = 0; i < hashes.Length; i++)
        {
            if (hashes[i] == hash && _comparer.Equals(_keys[i], key))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Writes to a map, copied once however many there are.</summary>
    public struct Editor
    {
        private readonly PathMap<TKey, TValue> _source;
        private TValue[]? _values;
        private List<(TKey Key, int Hash, TValue Value)>? _added;

        internal Editor(PathMap<TKey, TValue> source)
        {
            _source = source;
            _values = null;
            _added = null;
        }

        public void Set(TKey key, TValue value)
        {
            var hash = _source._comparer.GetHashCode(key);
            var index = _source.IndexOf(key, hash);
            if (index >= 0)
            {
                if (!EqualityComparer<TValue>.Default.Equals((_values ?? _source._values)[index], value))
                {
                    if (_values is null)
                    {
                        _values = new TValue[_source._values.Length];
                        Array.Copy(_source._values, _values, _values.Length);
                    }

                    _values[index] = value;
                }

                return;
            }

            _added ??= new();
            for (var i = 0; i < _added.Count; i++)
            {
                if (_added[i].Hash == hash && _source._comparer.Equals(_added[i].Key, key))
                {
                    _added[i] = (key, hash, value);
                    return;
                }
            }

            _added.Add((key, hash, value));
        }

        public readonly PathMap<TKey, TValue> ToMap()
        {
            if (_added is null)
            {
                return _values is null ? _source : new(_source._keys, _source._hashes, _values, _source._comparer);
            }

            var count = _source._keys.Length;
            var keys = new TKey[count + _added.Count];
            var hashes = new int[keys.Length];
            var values = new TValue[keys.Length];
            Array.Copy(_source._keys, keys, count);
            Array.Copy(_source._hashes, hashes, count);
            Array.Copy(_values ?? _source._values, values, count);
            for (var i = 0; i < _added.Count; i++)
            {
                (keys[count + i], hashes[count + i], values[count + i]) = _added[i];
            }

            return new(keys, hashes, values, _source._comparer);
        }
    }

    /// <summary>The entries in the order their keys were added.</summary>
    public struct Enumerator
    {
        private readonly PathMap<TKey, TValue> _map;
        private int _index;

        internal Enumerator(PathMap<TKey, TValue> map)
        {
            _map = map;
            _index = -1;
        }

        public readonly KeyValuePair<TKey, TValue> Current => new(_map._keys[_index], _map._values[_index]);

        public bool MoveNext() => ++_index < _map._keys.Length;
    }
}
