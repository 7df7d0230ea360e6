using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>A harness check failed: the message says what and shows the source.</summary>
public sealed class VerificationException : Xunit.Sdk.XunitException
{
    public VerificationException(string message)
        : base(message)
    {
    }
}

/// <summary>Compares expected with actual diagnostics and, on a mismatch, fails with the source
/// printed with line numbers and carets under every actual (^) and expected (~) diagnostic.</summary>
public static class DiagnosticVerifier
{
    public static void FailOnAnalyzerExceptions(string context, ImmutableArray<string> exceptions)
    {
        if (!exceptions.IsEmpty)
        {
            throw new VerificationException(context + ": an analyzer threw (AD0001). Analyzers must never throw.\n" + string.Join("\n\n", exceptions));
        }
    }

    public static void Verify(
        string context,
        IReadOnlyList<DiagnosticResult> expected,
        IReadOnlyList<Diagnostic> actual,
        IReadOnlyDictionary<string, string> files)
    {
        var unmatchedActual = actual.ToList();
        var unmatchedExpected = new List<DiagnosticResult>();
        foreach (var result in expected)
        {
            var index = unmatchedActual.FindIndex(d => Matches(result, d, out _));
            if (index >= 0)
            {
                unmatchedActual.RemoveAt(index);
            }
            else
            {
                unmatchedExpected.Add(result);
            }
        }

        if (unmatchedActual.Count == 0 && unmatchedExpected.Count == 0)
        {
            return;
        }

        var message = new StringBuilder();
        message.Append(context).Append(": diagnostics do not match.\n");
        var compileErrors = unmatchedActual.Where(d => d.Severity == DiagnosticSeverity.Error && d.Id.StartsWith("CS", StringComparison.Ordinal)).ToList();
        if (compileErrors.Count > 0)
        {
            message.Append("The source does not compile (list the errors with DiagnosticResult.CompilerError if that is intended):\n");
            foreach (var error in compileErrors)
            {
                message.Append("  ").Append(Describe(error)).Append('\n');
            }
        }

        foreach (var missing in unmatchedExpected)
        {
            message.Append("Missing (expected, not reported): ").Append(missing).Append('\n');
            foreach (var near in unmatchedActual.Where(d => d.Id == missing.Id))
            {
                if (LocationMatches(missing, near))
                {
                    Matches(missing, near, out var why);
                    message.Append("    a reported ").Append(near.Id).Append(" at the same location differs: ").Append(why).Append('\n');
                }
            }
        }

        foreach (var extra in unmatchedActual)
        {
            message.Append("Unexpected (reported, not expected): ").Append(Describe(extra)).Append('\n');
        }

        message.Append("\nAll reported diagnostics, as a test would expect them:\n");
        foreach (var diagnostic in actual)
        {
            message.Append("  ").Append(ToResult(diagnostic)).Append(",\n");
        }

        message.Append('\n').Append(Render(files, expected, actual));
        throw new VerificationException(message.ToString());
    }

    public static bool Matches(DiagnosticResult expected, Diagnostic actual, out string difference)
    {
        difference = string.Empty;
        if (expected.Id != actual.Id)
        {
            difference = "id " + actual.Id;
            return false;
        }

        if (!LocationMatches(expected, actual))
        {
            difference = "location " + FormatLocation(actual.Location);
            return false;
        }

        if (expected.Severity is DiagnosticSeverity severity && severity != actual.Severity)
        {
            difference = "severity is " + actual.Severity + ", expected " + severity;
            return false;
        }

        var message = expected.ExpectedMessage();
        var actualMessage = actual.GetMessage(CultureInfo.InvariantCulture);
        if (message is not null && message != actualMessage)
        {
            difference = "message is \"" + actualMessage + "\", expected \"" + message + "\"";
            return false;
        }

        return true;
    }

    private static bool LocationMatches(DiagnosticResult expected, Diagnostic actual)
    {
        if (!expected.HasLocation)
        {
            return !actual.Location.IsInSource && actual.Location.Kind != LocationKind.ExternalFile;
        }

        if (!SpanMatches(expected.Spans[0], actual.Location))
        {
            return false;
        }

        if (expected.Spans.Length == 1)
        {
            // One expected location: additional locations are not compared.
            return true;
        }

        if (actual.AdditionalLocations.Count != expected.Spans.Length - 1)
        {
            return false;
        }

        for (var i = 1; i < expected.Spans.Length; i++)
        {
            if (!SpanMatches(expected.Spans[i], actual.AdditionalLocations[i - 1]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool SpanMatches(DiagnosticLocation expected, Location actual)
    {
        if (actual == Location.None)
        {
            return false;
        }

        var span = actual.GetLineSpan();
        return span.Path == expected.Span.Path
            && span.StartLinePosition == expected.Span.StartLinePosition
            && ((expected.Options & DiagnosticLocationOptions.IgnoreLength) != 0 || span.EndLinePosition == expected.Span.EndLinePosition);
    }

    public static string Describe(Diagnostic diagnostic) =>
        diagnostic.Id + " " + diagnostic.Severity + " " + FormatLocation(diagnostic.Location) + ": " + diagnostic.GetMessage(CultureInfo.InvariantCulture);

    public static string FormatLocation(Location location) =>
        location == Location.None ? "(no location)" : DiagnosticResult.FormatSpan(location.GetLineSpan(), DiagnosticLocationOptions.None);

    /// <summary>The expected-diagnostic C# for an actual diagnostic.</summary>
    public static DiagnosticResult ToResult(Diagnostic diagnostic)
    {
        var result = new DiagnosticResult(diagnostic.Id, diagnostic.Severity);
        if (diagnostic.Location == Location.None)
        {
            result = result.WithNoLocation();
        }
        else
        {
            result = result.WithSpan(diagnostic.Location.GetLineSpan());
        }

        return result.WithMessage(diagnostic.GetMessage(CultureInfo.InvariantCulture));
    }

    /// <summary>Every file that has a diagnostic, with line numbers, and under each line a caret
    /// line per diagnostic starting there: <c>^</c> for reported, <c>~</c> for expected.</summary>
    public static string Render(IReadOnlyDictionary<string, string> files, IReadOnlyList<DiagnosticResult> expected, IReadOnlyList<Diagnostic> actual)
    {
        var marks = new List<(string Path, LinePositionSpan Span, string Label, char Caret)>();
        foreach (var diagnostic in actual.Where(d => d.Location != Location.None))
        {
            var span = diagnostic.Location.GetLineSpan();
            marks.Add((span.Path, span.Span, "reported " + diagnostic.Id + ": " + diagnostic.GetMessage(CultureInfo.InvariantCulture), '^'));
        }

        foreach (var result in expected.Where(r => r.HasLocation))
        {
            var location = result.Spans[0];
            var span = location.Span.Span;
            if ((location.Options & DiagnosticLocationOptions.IgnoreLength) != 0)
            {
                span = new LinePositionSpan(span.Start, new LinePosition(span.Start.Line, span.Start.Character + 1));
            }

            marks.Add((location.Span.Path, span, "expected " + result.Id, '~'));
        }

        var text = new StringBuilder();
        foreach (var (path, content) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var fileMarks = marks.Where(m => m.Path == path).ToList();
            if (fileMarks.Count == 0 && files.Count > 1)
            {
                continue;
            }

            text.Append("--- ").Append(path).Append('\n');
            var lines = SourceText.From(content).Lines;
            for (var line = 0; line < lines.Count; line++)
            {
                var lineText = lines[line].ToString();
                text.Append((line + 1).ToString(CultureInfo.InvariantCulture).PadLeft(4)).Append(" | ").Append(lineText).Append('\n');
                foreach (var mark in fileMarks.Where(m => m.Span.Start.Line == line))
                {
                    var start = Math.Min(mark.Span.Start.Character, lineText.Length);
                    var end = mark.Span.End.Line == line ? mark.Span.End.Character : lineText.Length;
                    var width = Math.Max(1, end - start);
                    text.Append("     | ").Append(' ', start).Append(mark.Caret, width).Append(' ').Append(mark.Label).Append('\n');
                }
            }
        }

        foreach (var mark in actual.Where(d => d.Location == Location.None))
        {
            text.Append("(no location) reported ").Append(Describe(mark)).Append('\n');
        }

        return text.ToString();
    }
}
