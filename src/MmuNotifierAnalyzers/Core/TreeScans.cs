using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// The result of a syntactic scan of one file for a set of names, kept with the tree: an editor
/// forks the compilation at every keystroke and every file but the edited one is the same tree, so
/// its scan is reused while the names asked for are the same.
/// </summary>
internal sealed class TreeScans<T>
    where T : class
{
    private readonly ConditionalWeakTable<SyntaxTree, StrongBox<Entry?>> _scans = new();

    public T Get(SyntaxTree tree, HashSet<string> names, Func<SyntaxTree, HashSet<string>, T> scan)
    {
        var holder = _scans.GetValue(tree, _ => new StrongBox<Entry?>());
        if (Volatile.Read(ref holder.Value) is { } previous && previous.Names.SetEquals(names))
        {
            return previous.Value;
        }

        var value = scan(tree, names);
        Volatile.Write(ref holder.Value, new Entry(names, value));
        return value;
    }

    private sealed class Entry
    {
        public Entry(HashSet<string> names, T value)
        {
            Names = names;
            Value = value;
        }

        public HashSet<string> Names { get; }

        public T Value { get; }
    }
}
