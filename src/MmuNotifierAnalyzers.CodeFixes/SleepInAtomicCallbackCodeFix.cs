using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU004 fix: an <c>invalidate_range</c> callback that sleeps becomes the table's
/// <c>invalidate_range_start</c> (same signature; the kernel calls it before the page-table
/// lock is taken, where sleeping is allowed). Only the member name in the ops initializer
/// changes — it may be in another file than the callback. No <c>invalidate_range_end</c> is
/// added: the callback keeps doing the same work, and whether the driver must also block
/// re-faults until the end is its own design (the kvm sequence-count pattern). Not offered
/// for <c>change_pte</c>, <c>clear_flush_young</c> or <c>test_young</c> (no sleepable twin),
/// for <c>[AtomicContext]</c> methods, or when the table already sets <c>invalidate_range_start</c>.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(SleepInAtomicCallbackCodeFix))]
[Shared]
public sealed class SleepInAtomicCallbackCodeFix : GuardedCodeFixProvider
{
    public const string EquivalenceKey = "MMU004.MoveToInvalidateRangeStart";
    private const string Title = "Make the callback invalidate_range_start (it may sleep there)";
    private const string OldMember = "invalidate_range";
    private const string NewMember = "invalidate_range_start";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.SleepInAtomicCallback);

    public override FixAllProvider GetFixAllProvider() => MoveToStartFixAll.Instance;

    protected override Task RegisterAsync(CodeFixContext context)
    {
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!IsFixable(diagnostic))
            {
                continue;
            }

            var locations = diagnostic.AdditionalLocations;
            var solution = context.Document.Project.Solution;
            context.RegisterCodeFix(Fix(Title, solution, async ct => await RenameAsync(solution, locations, ct).ConfigureAwait(false), EquivalenceKey), diagnostic);
        }

        return Task.CompletedTask;
    }

    private static bool IsFixable(Diagnostic diagnostic) =>
        diagnostic.Properties.TryGetValue(FixContract.SleepInAtomicCallback.CanMoveToStart, out var value)
        && value == FixContract.True
        && diagnostic.AdditionalLocations.Count > 0;

    // Renames every `invalidate_range` named by the locations, each once, whatever the document.
    private static async Task<Solution> RenameAsync(Solution solution, IEnumerable<Location> locations, CancellationToken cancellationToken)
    {
        var byDocument = new Dictionary<DocumentId, HashSet<TextSpan>>();
        foreach (var location in locations)
        {
            if (location.SourceTree is not { } tree)
            {
                continue;
            }

            var document = solution.GetDocument(tree)
                ?? solution.GetDocumentIdsWithFilePath(tree.FilePath).Select(solution.GetDocument).FirstOrDefault(d => d is not null);
            if (document is null)
            {
                continue;
            }

            if (!byDocument.TryGetValue(document.Id, out var spans))
            {
                byDocument[document.Id] = spans = new HashSet<TextSpan>();
            }

            spans.Add(location.SourceSpan);
        }

        foreach (var pair in byDocument)
        {
            var document = solution.GetDocument(pair.Key);
            if (document is null || await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false) is not { } root)
            {
                continue;
            }

            var names = new List<IdentifierNameSyntax>();
            foreach (var span in pair.Value)
            {
                if (span.End <= root.FullSpan.End
                    && root.FindNode(span, getInnermostNodeForTie: true) is IdentifierNameSyntax { Identifier.ValueText: OldMember } name)
                {
                    names.Add(name);
                }
            }

            if (names.Count == 0)
            {
                continue;
            }

            var newRoot = root.ReplaceNodes(
                names,
                (original, _) => original.WithIdentifier(SyntaxFactory.Identifier(original.Identifier.LeadingTrivia, NewMember, original.Identifier.TrailingTrivia)));
            solution = solution.WithDocumentSyntaxRoot(pair.Key, newRoot);
        }

        return solution;
    }

    // BatchFixer merges each diagnostic's text changes per document, but every call that sleeps
    // in one callback carries the same rename (possibly in another document): collect the
    // member locations of all diagnostics in scope and rename each once.
    private sealed class MoveToStartFixAll : FixAllProvider
    {
        public static readonly MoveToStartFixAll Instance = new();

        public override IEnumerable<FixAllScope> GetSupportedFixAllScopes() =>
            new[] { FixAllScope.Document, FixAllScope.Project, FixAllScope.Solution };

        public override Task<CodeAction?> GetFixAsync(FixAllContext fixAllContext) => GuardAsync(() => CollectAsync(fixAllContext));

        private static async Task<CodeAction?> CollectAsync(FixAllContext fixAllContext)
        {
            // No key: dotnet format's first diagnostic offered nothing; this is still the fix asked for.
            if (fixAllContext.CodeActionEquivalenceKey is not (null or EquivalenceKey))
            {
                return null;
            }

            var diagnostics = new List<Diagnostic>();
            switch (fixAllContext.Scope)
            {
                case FixAllScope.Document when fixAllContext.Document is { } document:
                    diagnostics.AddRange(await fixAllContext.GetDocumentDiagnosticsAsync(document).ConfigureAwait(false));
                    break;
                case FixAllScope.Project:
                    diagnostics.AddRange(await fixAllContext.GetAllDiagnosticsAsync(fixAllContext.Project).ConfigureAwait(false));
                    break;
                case FixAllScope.Solution:
                    foreach (var project in fixAllContext.Solution.Projects)
                    {
                        diagnostics.AddRange(await fixAllContext.GetAllDiagnosticsAsync(project).ConfigureAwait(false));
                    }

                    break;
                default:
                    return null;
            }

            var locations = diagnostics.Where(IsFixable).SelectMany(d => d.AdditionalLocations).ToList();
            if (locations.Count == 0)
            {
                return null;
            }

            var solution = fixAllContext.Solution;
            return Fix(Title, solution, async ct => await RenameAsync(solution, locations, ct).ConfigureAwait(false), EquivalenceKey);
        }
    }
}
