using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// The registration every rule over a method body shares: concurrent, generated code skipped,
/// and nothing registered in a compilation that references neither Kernel.Mm nor our annotations.
/// </summary>
public abstract class OperationBlockRuleAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public sealed override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var symbols = KnownSymbols.Get(start.Compilation);
            if (IsEnabled(symbols))
            {
                start.RegisterOperationBlockAction(block => AnalyzeBlock(block, symbols));
            }
        });
    }

    /// <summary>Whether the compilation has what the rule looks for.</summary>
    private protected virtual bool IsEnabled(KnownSymbols symbols) => !symbols.IsEmpty;

    private protected abstract void AnalyzeBlock(OperationBlockAnalysisContext context, KnownSymbols symbols);
}
