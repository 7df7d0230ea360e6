using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>One marked span of a markup source: <c>[|..|]</c> (Name is empty),
/// <c>{|MMU001:..|}</c> (Name is the id) or <c>{|#0:..|}</c> (Name is "#0").</summary>
public readonly record struct MarkupSpan(string Name, TextSpan Span);

/// <summary>
/// The markup of Microsoft.CodeAnalysis.Testing: <c>[|..|]</c> marks a diagnostic of the
/// analyzer's only id, <c>{|ID:..|}</c> a diagnostic with that id, <c>{|#n:..|}</c> a location
/// that an expected diagnostic refers to with <c>WithLocation(n)</c>. Spans may nest.
/// </summary>
public static class TestMarkup
{
    public static (string Text, ImmutableArray<MarkupSpan> Spans) Parse(string markup)
    {
        var output = new System.Text.StringBuilder(markup.Length);
        var open = new Stack<(string Name, int Start, char Close, int MarkupOffset)>();
        var spans = ImmutableArray.CreateBuilder<MarkupSpan>();
        var i = 0;
        while (i < markup.Length)
        {
            if (At(markup, i, "[|"))
            {
                open.Push((string.Empty, output.Length, ']', i));
                i += 2;
            }
            else if (At(markup, i, "{|") && TryReadName(markup, i + 2, out var name, out var next))
            {
                open.Push((name, output.Length, '}', i));
                i = next;
            }
            else if (At(markup, i, "|]") || At(markup, i, "|}"))
            {
                var close = markup[i + 1];
                if (open.Count == 0 || open.Peek().Close != close)
                {
                    throw new FormatException($"Markup: '|{close}' at offset {i} does not close the innermost open span.");
                }

                var span = open.Pop();
                spans.Add(new MarkupSpan(span.Name, TextSpan.FromBounds(span.Start, output.Length)));
                i += 2;
            }
            else
            {
                output.Append(markup[i]);
                i++;
            }
        }

        if (open.Count > 0)
        {
            throw new FormatException($"Markup: span opened at offset {open.Peek().MarkupOffset} is never closed.");
        }

        spans.Sort((a, b) => a.Span.Start != b.Span.Start ? a.Span.Start.CompareTo(b.Span.Start) : a.Span.End.CompareTo(b.Span.End));
        return (output.ToString(), spans.ToImmutable());
    }

    /// <summary>True when the text contains something that looks like markup.</summary>
    public static bool HasMarkup(string text) =>
        text.Contains("[|", StringComparison.Ordinal) || text.Contains("{|", StringComparison.Ordinal);

    private static bool At(string text, int index, string token) =>
        string.CompareOrdinal(text, index, token, 0, token.Length) == 0;

    // {|ID: or {|#n: — an id is letters and digits (CS0103, MMU001), a marker is # and digits.
    private static bool TryReadName(string text, int index, out string name, out int next)
    {
        var end = index;
        while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '#' || text[end] == '_'))
        {
            end++;
        }

        if (end > index && end < text.Length && text[end] == ':')
        {
            name = text.Substring(index, end - index);
            next = end + 1;
            return true;
        }

        name = string.Empty;
        next = index;
        return false;
    }
}
