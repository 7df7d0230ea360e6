using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;

namespace MmuNotifierAnalyzers.Tests.Verifiers;

/// <summary>
/// dotnet format's diagnostic provider for Fix All: the diagnostics computed once, before any fix,
/// handed over in the order given (every diagnostic of ours has a source location, so a project has
/// none of its own).
/// </summary>
public sealed class ListedDiagnostics : FixAllContext.DiagnosticProvider
{
    private readonly IReadOnlyList<Diagnostic> _diagnostics;

    public ListedDiagnostics(IReadOnlyList<Diagnostic> diagnostics) => _diagnostics = diagnostics;

    public override Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken) =>
        Task.FromResult(_diagnostics.Where(d => d.Location.SourceTree?.FilePath == document.FilePath));

    public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
        Task.FromResult(Enumerable.Empty<Diagnostic>());

    public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
        Task.FromResult<IEnumerable<Diagnostic>>(_diagnostics);
}
