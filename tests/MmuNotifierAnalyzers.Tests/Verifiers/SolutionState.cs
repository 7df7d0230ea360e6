using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>Files as (name, content). <c>Add(content)</c> takes the default name.</summary>
public sealed class SourceFileList : List<(string FileName, string Content)>
{
    public void Add(string content) => Add((string.Empty, content));

    public void Add((string FileName, SourceText Content) file) => Add((file.FileName, file.Content.ToString()));
}

/// <summary>Which compiler diagnostics take part in the comparison.</summary>
public enum CompilerDiagnostics
{
    /// <summary>None: the test does not care whether the source compiles.</summary>
    None,

    /// <summary>Errors (the default): a test source that does not compile fails the test unless
    /// the errors are expected (<see cref="DiagnosticResult.CompilerError"/>).</summary>
    Errors,

    /// <summary>Errors and warnings.</summary>
    Warnings,
}

[Flags]
public enum TestBehaviors
{
    None = 0,

    /// <summary>Do not re-run with <c>// &lt;auto-generated/&gt;</c> prepended.</summary>
    SkipGeneratedCodeCheck = 1,

    /// <summary>Do not re-run with <c>#pragma warning disable</c> prepended.</summary>
    SkipSuppressionCheck = 2,
}

[Flags]
public enum CodeFixTestBehaviors
{
    None = 0,
    SkipFixAllInDocumentCheck = 1,
    SkipFixAllInProjectCheck = 2,
    SkipFixAllInSolutionCheck = 4,
    SkipFixAllCheck = SkipFixAllInDocumentCheck | SkipFixAllInProjectCheck | SkipFixAllInSolutionCheck,

    /// <summary>Apply one code action only (the first fixable diagnostic) instead of iterating.</summary>
    FixOne = 8,
}

/// <summary>The files of the test project and the diagnostics expected in them
/// (Microsoft.CodeAnalysis.Testing's <c>SolutionState</c>).</summary>
public sealed class SolutionState
{
    /// <summary>C# sources; default names <c>/0/Test0.cs</c>, <c>/0/Test1.cs</c>, ... Markup allowed.</summary>
    public SourceFileList Sources { get; } = new();

    /// <summary>Additional files (name, text); a name without a directory goes under <c>/0/</c>.
    /// Markup is parsed in them too (a diagnostic on a configuration line), unless
    /// <see cref="MarkupInAdditionalFiles"/> is false.</summary>
    public SourceFileList AdditionalFiles { get; } = new();

    /// <summary>.editorconfig / .globalconfig files (name, text); <c>.editorconfig</c> without a
    /// directory goes to <c>/.editorconfig</c> so that it applies to every source. No markup.</summary>
    public SourceFileList AnalyzerConfigFiles { get; } = new();

    public List<DiagnosticResult> ExpectedDiagnostics { get; } = new();

    public bool MarkupInAdditionalFiles { get; set; } = true;
}
