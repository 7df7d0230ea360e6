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
/// lock is taken, where sleeping is allowed) and, where the table sets no
/// <c>invalidate_range_end</c>, its end too (same legacy <c>(mn, mm, start, end)</c> signature): the
/// callback then drops the secondary mappings before the update and again after it, where
/// <c>invalidate_range</c> ran, and the table is no start without end (MMU011). Only when the
/// callback is no sequence scheme itself (the analyzer's <see cref="FixContract.SleepInAtomicCallback.AlsoEnd"/>):
/// a scheme's start must not run twice; such a table gets the start alone. Only the ops
/// initializer changes — it may be in another file than the callback. Not offered for
/// <c>change_pte</c>, <c>clear_flush_young</c> or <c>test_young</c> (no sleepable twin), for
/// <c>[AtomicContext]</c> methods, for an assignment outside an initializer, or when the table
/// already sets <c>invalidate_range_start</c> or a member of the 4.20 range form
/// (<c>invalidate_range_start_range</c>/<c>_end_range</c> take <c>(mn, range)</c>: the forms would mix).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(SleepInAtomicCallbackCodeFix))]
[Shared]
public sealed class SleepInAtomicCallbackCodeFix : GuardedCodeFixProvider
{
    public const string EquivalenceKey = "MMU004.MoveToInvalidateRangeStart";
    private const string Title = "Make the callback invalidate_range_start (it may sleep there)";
    private const string TitleWithEnd = "Make the callback invalidate_range_start and _end (it may sleep there)";
    private const string OldMember = "invalidate_range";
    private const string NewMember = "invalidate_range_start";
    private const string EndMember = "invalidate_range_end";

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

            var locations = diagnostic.AdditionalLocations.Select(l => (l, AlsoEnd(diagnostic)));
            var solution = context.Document.Project.Solution;
            context.RegisterCodeFix(Fix(AlsoEnd(diagnostic) ? TitleWithEnd : Title, solution, async ct => await RenameAsync(solution, locations, ct).ConfigureAwait(false), EquivalenceKey), diagnostic);
        }

        return Task.CompletedTask;
    }

    private static bool IsFixable(Diagnostic diagnostic) =>
        FixContract.Proves(diagnostic, FixContract.SleepInAtomicCallback.CanMoveToStart)
        && diagnostic.AdditionalLocations.Count > 0;

    private static bool AlsoEnd(Diagnostic diagnostic) =>
        FixContract.Proves(diagnostic, FixContract.SleepInAtomicCallback.AlsoEnd);

    // Renames every `invalidate_range` named by the locations, each once, whatever the document;
    // with alsoEnd, a table that sets no invalidate_range_end gets the same callback as its end.
    private static async Task<Solution> RenameAsync(Solution solution, IEnumerable<(Location Location, bool AlsoEnd)> locations, CancellationToken cancellationToken)
    {
        var byDocument = new Dictionary<DocumentId, Dictionary<TextSpan, bool>>();
        foreach (var (location, alsoEnd) in locations)
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
                byDocument[document.Id] = spans = new Dictionary<TextSpan, bool>();
            }

            spans[location.SourceSpan] = alsoEnd || (spans.TryGetValue(location.SourceSpan, out var already) && already);
        }

        foreach (var pair in byDocument)
        {
            var document = solution.GetDocument(pair.Key);
            if (document is null || await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false) is not { } root)
            {
                continue;
            }

            var names = new Dictionary<IdentifierNameSyntax, bool>();
            foreach (var span in pair.Value)
            {
                if (span.Key.End <= root.FullSpan.End
                    && root.FindNode(span.Key, getInnermostNodeForTie: true) is IdentifierNameSyntax { Identifier.ValueText: OldMember } name)
                {
                    names[name] = span.Value;
                }
            }

            if (names.Count == 0)
            {
                continue;
            }

            // The tables that get an end too: an initializer that sets no invalidate_range_end.
            var withEnd = names
                .Where(n => n.Value && n.Key.Parent is AssignmentExpressionSyntax { Parent: InitializerExpressionSyntax table } assignment && assignment.Left == n.Key && !SetsEnd(table))
                .Select(n => (AssignmentExpressionSyntax)n.Key.Parent!)
                .ToList();
            var newRoot = root.ReplaceNodes(
                names.Keys.Cast<SyntaxNode>().Concat(withEnd.Select(a => a.Parent!)),
                (original, current) => current switch
                {
                    IdentifierNameSyntax name => name.WithIdentifier(SyntaxFactory.Identifier(name.Identifier.LeadingTrivia, NewMember, name.Identifier.TrailingTrivia)),
                    InitializerExpressionSyntax table => AddEnd(table, withEnd.Where(a => a.Parent == original).Select(a => ((InitializerExpressionSyntax)original).Expressions.IndexOf(a))),
                    _ => current,
                });
            solution = solution.WithDocumentSyntaxRoot(pair.Key, newRoot);
        }

        return solution;
    }

    private static bool SetsEnd(InitializerExpressionSyntax table) =>
        table.Expressions.Any(e => e is AssignmentExpressionSyntax { Left: IdentifierNameSyntax { Identifier.ValueText: EndMember } });

    // `invalidate_range_end = <the callback>` right after each renamed member, on its own line as the table writes it.
    private static InitializerExpressionSyntax AddEnd(InitializerExpressionSyntax table, IEnumerable<int> indices)
    {
        var items = new List<SyntaxNodeOrToken>();
        var expressions = table.Expressions;
        var after = new HashSet<int>(indices);
        for (var i = 0; i < expressions.Count; i++)
        {
            var member = (AssignmentExpressionSyntax)expressions[i];
            var hasSeparator = i < expressions.SeparatorCount;
            if (!after.Contains(i))
            {
                items.Add(member);
                if (hasSeparator)
                {
                    items.Add(expressions.GetSeparator(i));
                }

                continue;
            }

            // The member's indentation and line end, not its comments.
            var indentation = member.GetLeadingTrivia().TakeWhile(t => t.IsKind(SyntaxKind.WhitespaceTrivia));
            var end = member
                .WithLeft(SyntaxFactory.IdentifierName(EndMember).WithTrailingTrivia(SyntaxFactory.Space))
                .WithLeadingTrivia(indentation)
                .WithTrailingTrivia();
            if (hasSeparator)
            {
                var separator = expressions.GetSeparator(i);
                items.Add(member);
                items.Add(separator);
                items.Add(end);
                items.Add(SyntaxFactory.Token(SyntaxKind.CommaToken).WithTrailingTrivia(LineEnd(separator.TrailingTrivia)));
            }
            else
            {
                // The last member, with no comma after it: the comma goes between, the line's end after the new one.
                items.Add(member.WithTrailingTrivia());
                items.Add(SyntaxFactory.Token(SyntaxKind.CommaToken).WithTrailingTrivia(member.GetTrailingTrivia()));
                items.Add(end.WithTrailingTrivia(LineEnd(member.GetTrailingTrivia())));
            }
        }

        return table.WithExpressions(SyntaxFactory.SeparatedList<ExpressionSyntax>(items));
    }

    // The end of line in trivia, or one space when the table is on one line.
    private static SyntaxTriviaList LineEnd(SyntaxTriviaList trivia) =>
        trivia.FirstOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia)) is { RawKind: not 0 } eol
            ? SyntaxFactory.TriviaList(eol)
            : SyntaxFactory.TriviaList(SyntaxFactory.Space);

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

            var locations = diagnostics.Where(IsFixable).SelectMany(d => d.AdditionalLocations.Select(l => (l, AlsoEnd(d)))).ToList();
            if (locations.Count == 0)
            {
                return null;
            }

            var solution = fixAllContext.Solution;
            return Fix(locations.Any(l => l.Item2) ? TitleWithEnd : Title, solution, async ct => await RenameAsync(solution, locations, ct).ConfigureAwait(false), EquivalenceKey);
        }
    }
}
