using System;
using System.Runtime.CompilerServices;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// A <see cref="ConditionalWeakTable{TKey, TValue}"/> lookup that allocates nothing when the value
/// is there. A lambda that captures an argument allocates its closure on entry to the method that
/// writes it, found or not; these lookups run for every body, every rule and every call site.
/// </summary>
internal static class WeakCache
{
    public static TValue GetOrCreate<TKey, TValue, TArgument>(this ConditionalWeakTable<TKey, TValue> table, TKey key, TArgument argument, Func<TKey, TArgument, TValue> create)
        where TKey : class
        where TValue : class =>
        table.TryGetValue(key, out var value) ? value : Create(table, key, argument, create);

    private static TValue Create<TKey, TValue, TArgument>(ConditionalWeakTable<TKey, TValue> table, TKey key, TArgument argument, Func<TKey, TArgument, TValue> create)
        where TKey : class
        where TValue : class =>
        table.GetValue(key, k => create(k, argument));
}
