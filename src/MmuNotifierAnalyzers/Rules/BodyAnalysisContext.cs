using System.Collections.Immutable;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>One member body handed to a rule: what an operation-block context offers, for a body
/// whose operation tree was requested only because it names the API.</summary>
internal readonly struct BodyAnalysisContext
{
    private readonly SyntaxNodeAnalysisContext _context;

    public BodyAnalysisContext(SyntaxNodeAnalysisContext context, ISymbol owningSymbol, ImmutableArray<IOperation> operationBlocks)
    {
        _context = context;
        OwningSymbol = owningSymbol;
        OperationBlocks = operationBlocks;
    }

    public ISymbol OwningSymbol { get; }

    public ImmutableArray<IOperation> OperationBlocks { get; }

    public Compilation Compilation => _context.Compilation;

    /// <summary>The model of the member's tree (the operations of a control-flow graph carry none).</summary>
    public SemanticModel SemanticModel => _context.SemanticModel;

    public AnalyzerOptions Options => _context.Options;

    public CancellationToken CancellationToken => _context.CancellationToken;

    public void ReportDiagnostic(Diagnostic diagnostic) => _context.ReportDiagnostic(diagnostic);
}
