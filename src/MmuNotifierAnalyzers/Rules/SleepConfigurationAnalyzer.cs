using System;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Sleep;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// MMU900: a line of a <c>MmuNotifier.Sleep.txt</c> may-sleep list that is not a valid
/// documentation-comment id, or an id that names nothing. Reported at that line of the file
/// (an additional-file action: live in the IDE), never thrown.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class SleepConfigurationAnalyzer : DiagnosticAnalyzer
{
    internal static readonly DiagnosticDescriptor Rule = new(
        RuleIdentifiers.InvalidConfiguration,
        title: "Invalid line in a may-sleep configuration file",
        messageFormat: "'{0}' in {1} is ignored: {2}",
        category: RuleIdentifiers.ConfigurationCategory,
        defaultSeverity: DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Each line of MmuNotifier.Sleep.txt is a documentation-comment id (M:, P: or T:, '*' allowed at the end), "
            + "'!' in front for methods that never sleep, or a '#' comment. A line that is not, or that names nothing, is ignored.",
        helpLinkUri: RuleIdentifiers.GetHelpUri(RuleIdentifiers.InvalidConfiguration));

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            if (KnownSymbols.Get(start.Compilation).IsEmpty)
            {
                return;
            }

            start.RegisterAdditionalFileAction(file =>
            {
                string? path = file.AdditionalFile.Path;
                if (path is null || !SleepConfiguration.IsConfigurationFile(path))
                {
                    return;
                }

                var oracle = SleepOracle.Get(file.Compilation, file.Options);
                foreach (var error in oracle.Configuration.Validate(file.Compilation, file.CancellationToken))
                {
                    if (string.Equals(error.Path, path, StringComparison.Ordinal))
                    {
                        file.ReportDiagnostic(Diagnostic.Create(Rule, error.Location, error.Text, FileName(path), error.Problem));
                    }
                }
            });
        });
    }

    private static string FileName(string path)
    {
        int slash = Math.Max(path.LastIndexOf('/'), path.LastIndexOf('\\'));
        return slash >= 0 ? path.Substring(slash + 1) : path;
    }
}
