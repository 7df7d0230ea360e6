using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// Fix All that applies a document's fixes one after another, each on the document the previous
/// one left, as fixing one by one does. For fixes that edit the same place for different
/// diagnostics (two call sites of one function both declare locals at its top, two allocations
/// move before the same lock), where merging fixes computed on the unchanged document must drop
/// all but one. Each diagnostic's node and its additional locations in the document are tracked
/// by annotation; a diagnostic whose node a previous fix removed is skipped.
/// </summary>
internal static class SequentialFixAll
{
    private const string Kind = "MmuNotifierAnalyzers.SequentialFixAll";

    /// <summary>
    /// Applies <paramref name="provider"/>'s fix of each diagnostic, in the order given (source
    /// order: callers pass <c>InSourceOrder</c>). Each diagnostic gets its action of the asked key
    /// when it offers one, else its first action, else the next that changes the document: <c>dotnet format</c> asks with the key of whichever
    /// diagnostic it listed first, and one run must still fix the diagnostics that do not offer
    /// that repair.
    /// </summary>
    public static async Task<Document?> ApplyAsync(CodeFixProvider provider, FixAllContext context, Document document, IReadOnlyList<Diagnostic> diagnostics)
    {
        var cancellationToken = context.CancellationToken;
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || diagnostics.Count == 0)
        {
            return null;
        }

        // Mark every diagnostic's node (and its additional locations here) before anything changes.
        var marks = new Dictionary<SyntaxNode, List<SyntaxAnnotation>>();
        void Mark(Location location, string data)
        {
            if (location.SourceTree == root.SyntaxTree && location.SourceSpan.End <= root.FullSpan.End)
            {
                var node = root.FindNode(location.SourceSpan, getInnermostNodeForTie: true);
                if (!marks.TryGetValue(node, out var list))
                {
                    marks[node] = list = new List<SyntaxAnnotation>();
                }

                list.Add(new SyntaxAnnotation(Kind, data));
            }
        }

        for (var i = 0; i < diagnostics.Count; i++)
        {
            Mark(diagnostics[i].Location, Data(i, -1));
            for (var j = 0; j < diagnostics[i].AdditionalLocations.Count; j++)
            {
                Mark(diagnostics[i].AdditionalLocations[j], Data(i, j));
            }
        }

        var current = document.WithSyntaxRoot(root.ReplaceNodes(marks.Keys, (original, rewritten) => rewritten.WithAdditionalAnnotations(marks[original])));
        var changed = false;
        for (var i = 0; i < diagnostics.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var now = await current.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            var diagnostic = diagnostics[i];
            if (now is null || Find(now, Data(i, -1)) is not { } node)
            {
                continue;
            }

            var additional = new List<Location>();
            for (var j = 0; j < diagnostic.AdditionalLocations.Count; j++)
            {
                var original = diagnostic.AdditionalLocations[j];
                additional.Add(original.SourceTree != root.SyntaxTree
                    ? original
                    : Find(now, Data(i, j)) is { } moved ? Location.Create(now.SyntaxTree, moved.Span) : Location.None);
            }

            // The message's arguments are not public; the fixes read properties and locations only.
            var relocated = Diagnostic.Create(diagnostic.Descriptor, Location.Create(now.SyntaxTree, node.Span), additional, diagnostic.Properties, Enumerable.Repeat((object)string.Empty, 8).ToArray());
            var offered = new List<CodeAction>();
            await provider.RegisterCodeFixesAsync(new CodeFixContext(current, relocated, (action, _) => offered.Add(action), cancellationToken)).ConfigureAwait(false);
            foreach (var chosen in GuardedCodeFixProvider.Candidates(offered, context.CodeActionEquivalenceKey, keysAreAlternatives: false))
            {
                var applied = false;
                foreach (var operation in await chosen.GetOperationsAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (operation is ApplyChangesOperation { ChangedSolution: var solution } && solution.GetDocument(current.Id) is { } next
                        && !(await next.GetTextAsync(cancellationToken).ConfigureAwait(false)).ContentEquals(await current.GetTextAsync(cancellationToken).ConfigureAwait(false)))
                    {
                        current = next;
                        changed = applied = true;
                        break;
                    }
                }

                if (applied)
                {
                    break;
                }
            }
        }

        return changed ? current : null;
    }

    private static string Data(int diagnostic, int additional) =>
        diagnostic.ToString(CultureInfo.InvariantCulture) + ":" + additional.ToString(CultureInfo.InvariantCulture);

    private static SyntaxNode? Find(SyntaxNode root, string data) =>
        root.GetAnnotatedNodes(Kind).FirstOrDefault(n => n.GetAnnotations(Kind).Any(a => a.Data == data));
}
