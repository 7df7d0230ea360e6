using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace MmuNotifierAnalyzers.IntegrationTests.Infrastructure;

/// <summary>One diagnostic as MSBuild prints it on the console:
/// <c>/path/File.cs(12,9): warning MMU001: message [/path/Consumer.csproj]</c>.</summary>
public sealed partial record BuildDiagnostic(string File, int Line, int Column, string Severity, string Id, string Message)
{
    public string FileName => Path.GetFileName(File);

    public static IReadOnlyList<BuildDiagnostic> Parse(string output)
    {
        var diagnostics = new List<BuildDiagnostic>();
        foreach (var line in output.Split('\n'))
        {
            var match = DiagnosticLine().Match(line.TrimEnd('\r'));
            if (!match.Success)
            {
                continue;
            }

            diagnostics.Add(new BuildDiagnostic(
                match.Groups["file"].Value.Trim(),
                int.Parse(match.Groups["line"].Value, CultureInfo.InvariantCulture),
                int.Parse(match.Groups["column"].Value, CultureInfo.InvariantCulture),
                match.Groups["severity"].Value,
                match.Groups["id"].Value,
                match.Groups["message"].Value.Trim()));
        }

        // MSBuild may print a diagnostic twice (per target, or again in a summary).
        return diagnostics.Distinct().ToList();
    }

    public override string ToString() => $"{FileName}({Line},{Column}): {Severity} {Id}: {Message}";

    [GeneratedRegex(@"^\s*(?<file>[^(]+?)\((?<line>\d+),(?<column>\d+)(?:,\d+,\d+)?\): (?<severity>warning|error|info) (?<id>[A-Z]+\d+): (?<message>.*?)(?: \[[^\]]+\])?$")]
    private static partial Regex DiagnosticLine();
}
