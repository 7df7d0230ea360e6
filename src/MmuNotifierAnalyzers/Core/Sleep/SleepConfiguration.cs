using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Core.Sleep;

/// <summary>What a configuration line says about the methods it names.</summary>
internal enum ConfiguredSleep
{
    /// <summary>No line names the method.</summary>
    Unknown,

    /// <summary>A line names it: it may sleep.</summary>
    MaySleep,

    /// <summary>A <c>!</c> line names it: it never sleeps (wins over a may-sleep line).</summary>
    NeverSleeps,
}

/// <summary>One line of a configuration file that could not be used (reported as MMU900).</summary>
internal sealed class ConfigurationError
{
    public ConfigurationError(string path, TextSpan span, LinePositionSpan lineSpan, string text, string problem)
    {
        Path = path;
        Span = span;
        LineSpan = lineSpan;
        Text = text;
        Problem = problem;
    }

    public string Path { get; }

    public TextSpan Span { get; }

    public LinePositionSpan LineSpan { get; }

    /// <summary>The offending text as written (the id, or the whole line).</summary>
    public string Text { get; }

    /// <summary>What is wrong, in words for the diagnostic message.</summary>
    public string Problem { get; }

    public Location Location => Location.Create(Path, Span, LineSpan);
}

/// <summary>One usable line: a documentation-comment id, possibly ending in <c>*</c>.</summary>
internal sealed class ConfigurationEntry
{
    public ConfigurationEntry(string path, TextSpan span, LinePositionSpan lineSpan, char kind, string id, bool isPrefix, bool neverSleeps)
    {
        Path = path;
        Span = span;
        LineSpan = lineSpan;
        Kind = kind;
        Id = id;
        IsPrefix = isPrefix;
        NeverSleeps = neverSleeps;
    }

    public string Path { get; }

    public TextSpan Span { get; }

    public LinePositionSpan LineSpan { get; }

    /// <summary><c>M</c>, <c>P</c> or <c>T</c>.</summary>
    public char Kind { get; }

    /// <summary>The id with its <c>K:</c> prefix, without <c>!</c>, the <c>*</c> or blanks.</summary>
    public string Id { get; }

    /// <summary>The id ended in <c>*</c>: it matches every id that starts with <see cref="Id"/>.</summary>
    public bool IsPrefix { get; }

    public bool NeverSleeps { get; }

    /// <summary>An <c>M:</c> id written without a parameter list names every overload.</summary>
    public bool IsOverloadGroup => Kind == 'M' && !IsPrefix && Id.IndexOf('(') < 0;
}

/// <summary>
/// The may-sleep lists: every <c>AdditionalFiles</c> item whose file name ends with
/// <c>MmuNotifier.Sleep.txt</c>, merged. One documentation-comment id per line
/// (<c>M:Driver.Dev.flush_dev_tlb(System.UInt64)</c>, <c>T:Driver.Dev</c>, <c>P:...</c>),
/// <c>*</c> at the end matches every id with that prefix, <c>!</c> in front says "never sleeps",
/// <c>#</c> starts a comment. Matching is by id text, so it needs no symbol lookup; checking
/// that each id names something (<see cref="Validate"/>) is done once, for MMU900.
/// </summary>
internal sealed class SleepConfiguration
{
    public const string FileNameSuffix = "MmuNotifier.Sleep.txt";

    public static readonly SleepConfiguration Empty = new(ImmutableArray<ConfigurationEntry>.Empty, ImmutableArray<ConfigurationError>.Empty);

    private readonly Dictionary<string, ConfigurationEntry> _exactNever = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ConfigurationEntry> _exactMay = new(StringComparer.Ordinal);
    private readonly List<ConfigurationEntry> _prefixes = new();
    private Validated? _validated;

    private SleepConfiguration(ImmutableArray<ConfigurationEntry> entries, ImmutableArray<ConfigurationError> syntaxErrors)
    {
        Entries = entries;
        SyntaxErrors = syntaxErrors;
        foreach (var entry in entries)
        {
            if (entry.IsPrefix)
            {
                _prefixes.Add(entry);
            }
            else
            {
                var map = entry.NeverSleeps ? _exactNever : _exactMay;
                if (!map.ContainsKey(entry.Id))
                {
                    map.Add(entry.Id, entry);
                }
            }
        }
    }

    public ImmutableArray<ConfigurationEntry> Entries { get; }

    /// <summary>Lines that are not a valid id (found without looking at the compilation).</summary>
    public ImmutableArray<ConfigurationError> SyntaxErrors { get; }

    public bool IsEmpty => Entries.IsEmpty;

    public static bool IsConfigurationFile(string path)
    {
        int slash = Math.Max(path.LastIndexOf('/'), path.LastIndexOf('\\'));
        string name = slash >= 0 ? path.Substring(slash + 1) : path;
        return name.EndsWith(FileNameSuffix, StringComparison.OrdinalIgnoreCase);
    }

    public static SleepConfiguration Parse(IEnumerable<(string Path, SourceText Text)> files)
    {
        var entries = ImmutableArray.CreateBuilder<ConfigurationEntry>();
        var errors = ImmutableArray.CreateBuilder<ConfigurationError>();
        foreach (var (path, text) in files)
        {
            foreach (var line in text.Lines)
            {
                ParseLine(path, text, line, entries, errors);
            }
        }

        return entries.Count == 0 && errors.Count == 0
            ? Empty
            : new SleepConfiguration(entries.ToImmutable(), errors.ToImmutable());
    }

    /// <summary>The configured fact for <paramref name="method"/> (an original definition);
    /// a never-sleeps line wins over a may-sleep line.</summary>
    public ConfiguredSleep Lookup(IMethodSymbol method)
    {
        if (IsEmpty)
        {
            return ConfiguredSleep.Unknown;
        }

        var ids = new List<(char Kind, string Id)>(4);
        if (method.GetDocumentationCommentId() is { } methodId)
        {
            ids.Add(('M', methodId));
        }

        if (method.AssociatedSymbol is IPropertySymbol property && property.GetDocumentationCommentId() is { } propertyId)
        {
            ids.Add(('P', propertyId));
        }

        if (method.ContainingType?.OriginalDefinition.GetDocumentationCommentId() is { } typeId)
        {
            ids.Add(('T', typeId));
        }

        bool may = false;
        foreach (var (kind, id) in ids)
        {
            if (_exactNever.ContainsKey(id))
            {
                return ConfiguredSleep.NeverSleeps;
            }

            may |= _exactMay.ContainsKey(id);
            if (kind == 'M')
            {
                int paren = id.IndexOf('(');
                if (paren > 0)
                {
                    string group = id.Substring(0, paren);
                    if (_exactNever.ContainsKey(group))
                    {
                        return ConfiguredSleep.NeverSleeps;
                    }

                    may |= _exactMay.ContainsKey(group);
                }
            }

            foreach (var prefix in _prefixes)
            {
                if (id.StartsWith(prefix.Id, StringComparison.Ordinal))
                {
                    if (prefix.NeverSleeps)
                    {
                        return ConfiguredSleep.NeverSleeps;
                    }

                    may = true;
                }
            }
        }

        return may ? ConfiguredSleep.MaySleep : ConfiguredSleep.Unknown;
    }

    /// <summary>Every problem: the syntax errors, and each id that names nothing in
    /// <paramref name="compilation"/> (or its references).</summary>
    public ImmutableArray<ConfigurationError> Validate(Compilation compilation, CancellationToken cancellationToken)
    {
        if (IsEmpty)
        {
            return SyntaxErrors;
        }

        // One configuration belongs to one oracle, hence one compilation: validate once for
        // all the files it merges.
        var cached = Volatile.Read(ref _validated);
        if (cached is not null && ReferenceEquals(cached.Compilation, compilation))
        {
            return cached.Errors;
        }

        var result = ValidateCore(compilation, cancellationToken);
        Volatile.Write(ref _validated, new Validated(compilation, result));
        return result;
    }

    private ImmutableArray<ConfigurationError> ValidateCore(Compilation compilation, CancellationToken cancellationToken)
    {
        var errors = SyntaxErrors.ToBuilder();
        foreach (var entry in Entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!Resolves(compilation, entry, cancellationToken))
            {
                errors.Add(new ConfigurationError(
                    entry.Path,
                    entry.Span,
                    entry.LineSpan,
                    (entry.NeverSleeps ? "!" : string.Empty) + entry.Id + (entry.IsPrefix ? "*" : string.Empty),
                    entry.IsPrefix ? "no symbol's id starts with it" : "it names no " + KindName(entry.Kind) + " in the compilation or its references"));
            }
        }

        return errors.ToImmutable();
    }

    private static string KindName(char kind) => kind switch
    {
        'M' => "method",
        'P' => "property",
        _ => "type",
    };

    private static void ParseLine(
        string path,
        SourceText text,
        TextLine line,
        ImmutableArray<ConfigurationEntry>.Builder entries,
        ImmutableArray<ConfigurationError>.Builder errors)
    {
        string raw = text.ToString(line.Span);

        // A comment starts at a '#' that begins the line or follows a blank; '#' inside an id
        // (M:Driver.Dev.#ctor) is part of the id.
        int end = raw.Length;
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '#' && (i == 0 || char.IsWhiteSpace(raw[i - 1])))
            {
                end = i;
                break;
            }
        }

        int start = 0;
        while (start < end && char.IsWhiteSpace(raw[start]))
        {
            start++;
        }

        while (end > start && char.IsWhiteSpace(raw[end - 1]))
        {
            end--;
        }

        if (start == end)
        {
            return;
        }

        var span = new TextSpan(line.Start + start, end - start);
        var lineSpan = text.Lines.GetLinePositionSpan(span);
        string content = raw.Substring(start, end - start);

        bool never = false;
        string id = content;
        if (id[0] == '!')
        {
            never = true;
            id = id.Substring(1).TrimStart();
        }

        string? problem = Check(ref id, out char kind, out bool isPrefix);
        if (problem is not null)
        {
            errors.Add(new ConfigurationError(path, span, lineSpan, content, problem));
            return;
        }

        entries.Add(new ConfigurationEntry(path, span, lineSpan, kind, id, isPrefix, never));
    }

    // Returns null when the id is well formed (and normalises it), else the problem.
    private static string? Check(ref string id, out char kind, out bool isPrefix)
    {
        kind = '\0';
        isPrefix = false;
        if (id.Length < 3 || id[1] != ':')
        {
            return "expected a documentation-comment id such as 'M:Driver.Dev.flush_dev_tlb(System.UInt64)' or 'T:Driver.Dev'";
        }

        kind = id[0];
        if (kind != 'M' && kind != 'T' && kind != 'P')
        {
            return "'" + kind + ":' ids name no method: use 'M:', 'P:' (a property's accessors) or 'T:' (every method of a type)";
        }

        // Blanks are allowed only between parameters: "M:A.B.f(System.Int32, System.Int32)".
        var builder = new StringBuilder(id.Length);
        int depth = 0;
        for (int i = 0; i < id.Length; i++)
        {
            char c = id[i];
            if (c == '(')
            {
                depth++;
            }
            else if (c == ')')
            {
                depth--;
                if (depth < 0)
                {
                    return "unbalanced parentheses in the parameter list";
                }
            }

            if (char.IsWhiteSpace(c))
            {
                if (depth <= 0)
                {
                    return "blanks are not allowed in an id (one id per line)";
                }

                continue;
            }

            builder.Append(c);
        }

        if (depth != 0)
        {
            return "unbalanced parentheses in the parameter list";
        }

        string normalized = builder.ToString();
        int star = normalized.IndexOf('*');
        if (star >= 0)
        {
            if (star != normalized.Length - 1)
            {
                return "'*' is allowed only at the end of an id";
            }

            isPrefix = true;
            normalized = normalized.Substring(0, normalized.Length - 1);
        }

        if (normalized.Length <= 2 && !isPrefix)
        {
            return "the id after '" + kind + ":' is empty";
        }

        if (normalized.EndsWith(".", StringComparison.Ordinal) && !isPrefix)
        {
            return "the id ends with '.'";
        }

        id = normalized;
        return null;
    }

    private static bool Resolves(Compilation compilation, ConfigurationEntry entry, CancellationToken cancellationToken)
    {
        if (!entry.IsPrefix)
        {
            if (entry.IsOverloadGroup)
            {
                int dot = entry.Id.LastIndexOf('.');
                if (dot <= 2)
                {
                    return false;
                }

                var type = DocumentationCommentId.GetFirstSymbolForDeclarationId("T:" + entry.Id.Substring(2, dot - 2), compilation) as INamedTypeSymbol;
                string name = entry.Id.Substring(dot + 1).Replace('#', '.');
                if (type is null)
                {
                    return false;
                }

                foreach (var member in type.GetMembers(name))
                {
                    if (member is IMethodSymbol)
                    {
                        return true;
                    }
                }

                return false;
            }

            return DocumentationCommentId.GetFirstSymbolForDeclarationId(entry.Id, compilation) is not null;
        }

        // A prefix: find the deepest namespace or type the prefix surely lies in, then look
        // for one symbol under it whose id starts with the prefix.
        string body = entry.Id.Substring(2);
        int cut = body.IndexOf('(');
        if (cut >= 0)
        {
            body = body.Substring(0, cut);
        }

        var parts = body.Split('.');
        INamespaceOrTypeSymbol container = compilation.GlobalNamespace;
        for (int i = 0; i < parts.Length - 1; i++)
        {
            INamespaceOrTypeSymbol? next = null;
            foreach (var member in container.GetMembers(parts[i]))
            {
                if (member is INamespaceOrTypeSymbol nested)
                {
                    next = nested;
                    break;
                }
            }

            if (next is null)
            {
                break;
            }

            container = next;
        }

        var stack = new Stack<INamespaceOrTypeSymbol>();
        stack.Push(container);
        while (stack.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var current = stack.Pop();
            foreach (var member in current.GetMembers())
            {
                if (member is INamespaceOrTypeSymbol nested)
                {
                    stack.Push(nested);
                }

                bool kindMatches = entry.Kind switch
                {
                    'M' => member is IMethodSymbol,
                    'P' => member is IPropertySymbol,
                    _ => member is INamedTypeSymbol,
                };
                if (kindMatches
                    && member.GetDocumentationCommentId() is { } id
                    && id.StartsWith(entry.Id, StringComparison.Ordinal))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>The configuration files among <paramref name="options"/>' additional files.</summary>
    public static List<(string Path, SourceText Text)> ReadFiles(AnalyzerOptions? options, CancellationToken cancellationToken)
    {
        var files = new List<(string, SourceText)>();
        if (options is null)
        {
            return files;
        }

        foreach (var file in options.AdditionalFiles)
        {
            if (file.Path is { } path && IsConfigurationFile(path) && file.GetText(cancellationToken) is { } text)
            {
                files.Add((path, text));
            }
        }

        return files;
    }

    private sealed class Validated
    {
        public Validated(Compilation compilation, ImmutableArray<ConfigurationError> errors)
        {
            Compilation = compilation;
            Errors = errors;
        }

        public Compilation Compilation { get; }

        public ImmutableArray<ConfigurationError> Errors { get; }
    }
}
