using System;
using System.Collections.Generic;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// Finds the identifier tokens of a file that spell one of a set of names, by reading the file's
/// characters rather than walking its tree: each maximal run of identifier characters is hashed as
/// it is read, and only a run that hashes like a name is looked up as a token
/// (<see cref="SyntaxNode.FindToken(int, bool)"/>). On code that names none of them no node is
/// visited; a walk of every token (which also allocates) cost more than the rest of our work there.
/// </summary>
/// <remarks>
/// The answer is exactly what a walk of <see cref="SyntaxNode.DescendantTokens(Func{SyntaxNode, bool}?, bool)"/>
/// keeping the identifier tokens whose <see cref="SyntaxToken.ValueText"/> is a name would give, in
/// the same order. A run inside a comment, a string or disabled text finds a token that does not
/// span it and is dropped; a verbatim identifier's run starts after its <c>@</c>, inside the token.
/// The two spellings where the source differs from the value are checked through the tree too: a
/// run with a character outside ASCII (a formatting character is part of an identifier but not of
/// its value), and a Unicode escape that is part of an identifier, which sends the file to the walk.
/// </remarks>
internal sealed class NameFinder
{
    private const int BufferLength = 4096;

    // FNV-1a, 32 bits: the run's hash as it is read must equal the name's.
    private const uint FnvOffset = 2166136261;
    private const uint FnvPrime = 16777619;

    [ThreadStatic]
    private static char[]? t_buffer;

    private readonly Dictionary<uint, List<string>> _byHash = new();
    private readonly bool[] _firstAscii = new bool[128];
    private readonly int _minLength = int.MaxValue;
    private readonly int _maxLength;

    public NameFinder(HashSet<string> names)
    {
        Names = names;
        foreach (var name in names)
        {
            if (name.Length == 0)
            {
                continue;
            }

            _minLength = Math.Min(_minLength, name.Length);
            _maxLength = Math.Max(_maxLength, name.Length);
            if (name[0] < 128)
            {
                _firstAscii[name[0]] = true;
            }

            uint hash = Hash(name);
            if (!_byHash.TryGetValue(hash, out var bucket))
            {
                _byHash[hash] = bucket = new List<string>(1);
            }

            bucket.Add(name);
        }
    }

    public HashSet<string> Names { get; }

    /// <summary>The identifier tokens of <paramref name="tree"/> whose value is one of the names, in order.</summary>
    public List<SyntaxToken> Find(SyntaxTree tree, CancellationToken cancellationToken)
    {
        var mentions = new List<SyntaxToken>();
        if (Names.Count == 0)
        {
            return mentions;
        }

        var text = tree.GetText(cancellationToken);
        var root = tree.GetRoot(cancellationToken);
        var matcher = new Matcher(this, text, root, mentions);
        if (ScanRuns(text, ref matcher, cancellationToken) && HasEscapedIdentifier(root, text))
        {
            return Walk(root);
        }

        return mentions;
    }

    /// <summary>The FNV-1a hash of <paramref name="name"/>, as <see cref="ScanRuns"/> hashes a run spelling it.</summary>
    internal static uint Hash(string name)
    {
        uint hash = FnvOffset;
        foreach (char c in name)
        {
            hash = HashStep(hash, c);
        }

        return hash;
    }

    /// <summary>
    /// Hands every maximal run of identifier characters of <paramref name="text"/> to
    /// <paramref name="sink"/> with its hash and whether it is all ASCII; true when the text has a
    /// <c>\u</c> or <c>\U</c>, which may be an escape inside an identifier (a run then need not
    /// spell the token's value).
    /// </summary>
    internal static bool ScanRuns<TSink>(SourceText text, ref TSink sink, CancellationToken cancellationToken)
        where TSink : struct, IRunSink
    {
        var buffer = t_buffer ??= new char[BufferLength];

        // The current run of identifier characters: where it starts, its hash, whether it is all ASCII.
        int runStart = -1;
        uint hash = 0;
        bool ascii = true;
        bool escaped = false;
        char previous = '\0';
        int length = text.Length;
        for (int chunk = 0; chunk < length; chunk += BufferLength)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(BufferLength, length - chunk);
            text.CopyTo(chunk, buffer, 0, count);
            for (int i = 0; i < count; i++)
            {
                char c = buffer[i];

                // `\u0073pin_lock` spells spin_lock: only the tree knows whether an escape is in an identifier.
                escaped |= previous == '\\' && (c == 'u' || c == 'U');
                previous = c;
                bool part = c < 128 ? IsAsciiIdentifierPart(c) : SyntaxFacts.IsIdentifierPartCharacter(c);
                if (part)
                {
                    if (runStart < 0)
                    {
                        runStart = chunk + i;
                        hash = FnvOffset;
                        ascii = true;
                    }

                    hash = HashStep(hash, c);
                    ascii &= c < 128;
                }
                else if (runStart >= 0)
                {
                    sink.Run(runStart, chunk + i, hash, ascii);
                    runStart = -1;
                }
            }
        }

        if (runStart >= 0)
        {
            sink.Run(runStart, length, hash, ascii);
        }

        return escaped;
    }

    /// <summary>What <see cref="ScanRuns"/> hands each run to (a struct, so the call is direct).</summary>
    internal interface IRunSink
    {
        void Run(int start, int end, uint hash, bool ascii);
    }

    private struct Matcher : IRunSink
    {
        private readonly NameFinder _finder;
        private readonly SourceText _text;
        private readonly SyntaxNode _root;
        private readonly List<SyntaxToken> _mentions;

        public Matcher(NameFinder finder, SourceText text, SyntaxNode root, List<SyntaxToken> mentions)
        {
            _finder = finder;
            _text = text;
            _root = root;
            _mentions = mentions;
        }

        public readonly void Run(int start, int end, uint hash, bool ascii)
        {
            int runLength = end - start;
            if (ascii)
            {
                if (runLength < _finder._minLength || runLength > _finder._maxLength || !_finder._firstAscii[_text[start]]
                    || !_finder._byHash.TryGetValue(hash, out var bucket) || !Spells(bucket, _text, start, runLength))
                {
                    return;
                }
            }

            var token = _root.FindToken(start);
            if (token.IsKind(SyntaxKind.IdentifierToken) && token.Span.Contains(start) && _finder.Names.Contains(token.ValueText)
                && (_mentions.Count == 0 || _mentions[_mentions.Count - 1] != token))
            {
                _mentions.Add(token);
            }
        }
    }

    private List<SyntaxToken> Walk(SyntaxNode root)
    {
        var mentions = new List<SyntaxToken>();
        foreach (var token in root.DescendantTokens())
        {
            if (token.IsKind(SyntaxKind.IdentifierToken) && Names.Contains(token.ValueText))
            {
                mentions.Add(token);
            }
        }

        return mentions;
    }

    private static bool HasEscapedIdentifier(SyntaxNode root, SourceText text)
    {
        for (int i = 1; i < text.Length; i++)
        {
            if (text[i - 1] == '\\' && (text[i] == 'u' || text[i] == 'U'))
            {
                var token = root.FindToken(i);
                if (token.IsKind(SyntaxKind.IdentifierToken) && token.Span.Contains(i))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool Spells(List<string> bucket, SourceText text, int start, int length)
    {
        foreach (var name in bucket)
        {
            if (name.Length != length)
            {
                continue;
            }

            int k = 0;
            while (k < length && text[start + k] == name[k])
            {
                k++;
            }

            if (k == length)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsAsciiIdentifierPart(char c) =>
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';

    private static uint HashStep(uint hash, char c) => (hash ^ c) * FnvPrime;
}
