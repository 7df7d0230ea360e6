using System;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>How a <see cref="DiagnosticLocation"/> is compared with a reported location.</summary>
[Flags]
public enum DiagnosticLocationOptions
{
    /// <summary>Path, start and end must match.</summary>
    None = 0,

    /// <summary>Only path and start are compared (<see cref="DiagnosticResult.WithLocation(int, int)"/>).</summary>
    IgnoreLength = 1,
}

/// <summary>One expected location: a resolved span, or a markup key (<c>{|#0:..|}</c>) resolved
/// when the test runs.</summary>
public readonly struct DiagnosticLocation
{
    public DiagnosticLocation(FileLinePositionSpan span, DiagnosticLocationOptions options)
    {
        Span = span;
        Options = options;
        MarkupKey = null;
    }

    private DiagnosticLocation(int markupKey, DiagnosticLocationOptions options)
    {
        Span = default;
        Options = options;
        MarkupKey = markupKey;
    }

    public FileLinePositionSpan Span { get; }

    public DiagnosticLocationOptions Options { get; }

    /// <summary>The <c>#n</c> of a <c>{|#n:..|}</c> marker not resolved yet, or null.</summary>
    public int? MarkupKey { get; }

    public static DiagnosticLocation ForMarkup(int markupKey, DiagnosticLocationOptions options) => new(markupKey, options);

    public override string ToString() => MarkupKey is int key
        ? "{|#" + key.ToString(CultureInfo.InvariantCulture) + ":..|}"
        : DiagnosticResult.FormatSpan(Span, Options);
}

/// <summary>
/// An expected diagnostic, shaped like Microsoft.CodeAnalysis.Testing's <c>DiagnosticResult</c>:
/// an id, locations (the first is the primary one, any further ones are compared with the
/// diagnostic's additional locations), a severity and a message (literal, or the descriptor's
/// format applied to <see cref="WithArguments"/>). Unset parts are not compared.
/// </summary>
public readonly struct DiagnosticResult
{
    private readonly ImmutableArray<DiagnosticLocation> _locations;

    private DiagnosticResult(
        string id,
        DiagnosticSeverity? severity,
        ImmutableArray<DiagnosticLocation> locations,
        bool noLocation,
        string? message,
        LocalizableString? messageFormat,
        object?[]? arguments,
        bool isCompilerDiagnostic)
    {
        Id = id;
        Severity = severity;
        _locations = locations;
        HasNoLocation = noLocation;
        Message = message;
        MessageFormat = messageFormat;
        MessageArguments = arguments;
        IsCompilerDiagnostic = isCompilerDiagnostic;
    }

    public DiagnosticResult(string id, DiagnosticSeverity severity)
        : this(id, severity, ImmutableArray<DiagnosticLocation>.Empty, false, null, null, null, id.StartsWith("CS", StringComparison.Ordinal))
    {
    }

    public DiagnosticResult(DiagnosticDescriptor descriptor)
        : this(descriptor.Id, descriptor.DefaultSeverity, ImmutableArray<DiagnosticLocation>.Empty, false, null, descriptor.MessageFormat, null, false)
    {
    }

    public string Id { get; }

    /// <summary>The expected severity; null: not compared.</summary>
    public DiagnosticSeverity? Severity { get; }

    public ImmutableArray<DiagnosticLocation> Spans => _locations.IsDefault ? ImmutableArray<DiagnosticLocation>.Empty : _locations;

    public bool HasLocation => !Spans.IsEmpty;

    /// <summary>Set by <see cref="WithNoLocation"/>: the diagnostic must have no source location.</summary>
    public bool HasNoLocation { get; }

    public string? Message { get; }

    public LocalizableString? MessageFormat { get; }

    public object?[]? MessageArguments { get; }

    /// <summary>A CSxxxx diagnostic from the compiler rather than from the analyzer.</summary>
    public bool IsCompilerDiagnostic { get; }

    public static DiagnosticResult CompilerError(string id) => new(id, DiagnosticSeverity.Error);

    public static DiagnosticResult CompilerWarning(string id) => new(id, DiagnosticSeverity.Warning);

    public DiagnosticResult WithSeverity(DiagnosticSeverity severity) =>
        new(Id, severity, Spans, HasNoLocation, Message, MessageFormat, MessageArguments, IsCompilerDiagnostic);

    /// <summary>Do not compare the severity (useful when an .editorconfig changes it).</summary>
    public DiagnosticResult WithAnySeverity() =>
        new(Id, null, Spans, HasNoLocation, Message, MessageFormat, MessageArguments, IsCompilerDiagnostic);

    public DiagnosticResult WithArguments(params object?[] arguments) =>
        new(Id, Severity, Spans, HasNoLocation, Message, MessageFormat, arguments, IsCompilerDiagnostic);

    public DiagnosticResult WithMessage(string message) =>
        new(Id, Severity, Spans, HasNoLocation, message, MessageFormat, MessageArguments, IsCompilerDiagnostic);

    public DiagnosticResult WithMessageFormat(LocalizableString messageFormat) =>
        new(Id, Severity, Spans, HasNoLocation, Message, messageFormat, MessageArguments, IsCompilerDiagnostic);

    /// <summary>The diagnostic is reported without a source location (Location.None).</summary>
    public DiagnosticResult WithNoLocation() =>
        new(Id, Severity, ImmutableArray<DiagnosticLocation>.Empty, true, Message, MessageFormat, MessageArguments, IsCompilerDiagnostic);

    /// <summary>The location of the <c>{|#n:..|}</c> marker with this key (first call: primary location).</summary>
    public DiagnosticResult WithLocation(int markupKey) =>
        AppendLocation(DiagnosticLocation.ForMarkup(markupKey, DiagnosticLocationOptions.None));

    /// <summary>Start position only, in the first source file (1-based line and column).</summary>
    public DiagnosticResult WithLocation(int line, int column) => WithLocation(string.Empty, line, column);

    /// <summary>Start position only (1-based line and column).</summary>
    public DiagnosticResult WithLocation(string path, int line, int column)
    {
        var position = new LinePosition(line - 1, column - 1);
        return AppendLocation(new DiagnosticLocation(new FileLinePositionSpan(path, position, position), DiagnosticLocationOptions.IgnoreLength));
    }

    /// <summary>A span in the first source file (1-based lines and columns, end exclusive).</summary>
    public DiagnosticResult WithSpan(int startLine, int startColumn, int endLine, int endColumn) =>
        WithSpan(string.Empty, startLine, startColumn, endLine, endColumn);

    public DiagnosticResult WithSpan(string path, int startLine, int startColumn, int endLine, int endColumn) =>
        WithSpan(new FileLinePositionSpan(path, new LinePosition(startLine - 1, startColumn - 1), new LinePosition(endLine - 1, endColumn - 1)));

    public DiagnosticResult WithSpan(FileLinePositionSpan span) =>
        AppendLocation(new DiagnosticLocation(span, DiagnosticLocationOptions.None));

    /// <summary>Gives locations written without a path the path of the default source file.</summary>
    public DiagnosticResult WithDefaultPath(string path)
    {
        var locations = Spans.Select(l => l.MarkupKey is null && l.Span.Path.Length == 0
            ? new DiagnosticLocation(new FileLinePositionSpan(path, l.Span.Span), l.Options)
            : l).ToImmutableArray();
        return new(Id, Severity, locations, HasNoLocation, Message, MessageFormat, MessageArguments, IsCompilerDiagnostic);
    }

    internal DiagnosticResult WithResolvedLocations(ImmutableArray<DiagnosticLocation> locations) =>
        new(Id, Severity, locations, HasNoLocation, Message, MessageFormat, MessageArguments, IsCompilerDiagnostic);

    /// <summary>The message this result expects, or null when the message is not compared.</summary>
    public string? ExpectedMessage()
    {
        if (Message is not null)
        {
            return Message;
        }

        if (MessageArguments is not null && MessageFormat is not null)
        {
            return string.Format(CultureInfo.InvariantCulture, MessageFormat.ToString(CultureInfo.InvariantCulture), MessageArguments);
        }

        return null;
    }

    private DiagnosticResult AppendLocation(DiagnosticLocation location) =>
        new(Id, Severity, Spans.Add(location), false, Message, MessageFormat, MessageArguments, IsCompilerDiagnostic);

    internal static string FormatSpan(FileLinePositionSpan span, DiagnosticLocationOptions options)
    {
        var start = span.StartLinePosition;
        var end = span.EndLinePosition;
        var prefix = span.Path.Length == 0 ? string.Empty : span.Path + " ";
        return (options & DiagnosticLocationOptions.IgnoreLength) != 0
            ? string.Format(CultureInfo.InvariantCulture, "{0}({1},{2})", prefix, start.Line + 1, start.Character + 1)
            : string.Format(CultureInfo.InvariantCulture, "{0}({1},{2})-({3},{4})", prefix, start.Line + 1, start.Character + 1, end.Line + 1, end.Character + 1);
    }

    /// <summary>C# that builds this result, as a test would write it.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(IsCompilerDiagnostic ? "DiagnosticResult.CompilerError(\"" : "Diagnostic(\"").Append(Id).Append("\")");
        foreach (var location in Spans)
        {
            if (location.MarkupKey is int key)
            {
                text.Append(".WithLocation(").Append(key.ToString(CultureInfo.InvariantCulture)).Append(')');
                continue;
            }

            var span = location.Span;
            var path = span.Path.Length == 0 ? string.Empty : "\"" + span.Path + "\", ";
            if ((location.Options & DiagnosticLocationOptions.IgnoreLength) != 0)
            {
                text.AppendFormat(CultureInfo.InvariantCulture, ".WithLocation({0}{1}, {2})", path, span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1);
            }
            else
            {
                text.AppendFormat(
                    CultureInfo.InvariantCulture,
                    ".WithSpan({0}{1}, {2}, {3}, {4})",
                    path,
                    span.StartLinePosition.Line + 1,
                    span.StartLinePosition.Character + 1,
                    span.EndLinePosition.Line + 1,
                    span.EndLinePosition.Character + 1);
            }
        }

        if (HasNoLocation)
        {
            text.Append(".WithNoLocation()");
        }

        if (Severity is DiagnosticSeverity severity)
        {
            text.Append(".WithSeverity(DiagnosticSeverity.").Append(severity).Append(')');
        }

        if (Message is not null)
        {
            text.Append(".WithMessage(\"").Append(Message.Replace("\"", "\\\"")).Append("\")");
        }
        else if (MessageArguments is not null)
        {
            text.Append(".WithArguments(")
                .Append(string.Join(", ", MessageArguments.Select(a => a is string s ? "\"" + s.Replace("\"", "\\\"") + "\"" : Convert.ToString(a, CultureInfo.InvariantCulture))))
                .Append(')');
        }

        return text.ToString();
    }
}
