using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU003 fix: seed 004's convention. Declares <c>mmun_start</c> / <c>mmun_end</c> (a second
/// range in the function gets <c>mmun_start2</c> / <c>mmun_end2</c>, and so on) initialised with
/// the start's own arguments, and passes them, with the start's mm, to the start and to every
/// _end of that range in the function (see <see cref="RangeArgumentsCapture"/>). The locals go
/// right before the start, or before the if / loop whose branch holds a conditional start when
/// nothing on the way there changes what its arguments read. Not offered for the 4.20 range form.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RangeArgumentsChangedCodeFix))]
[Shared]
public sealed class RangeArgumentsChangedCodeFix : GuardedCodeFixProvider
{
    /// <summary>The one key of every MMU003 fix (dotnet format fixes only the first action's key).</summary>
    public const string EquivalenceKey = "MMU003.CaptureRange";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(RuleIdentifiers.RangeArgumentsChanged);

    // BatchFixer merges edits computed on the original document: two ranges in one method would
    // both declare mmun_start. Fix the diagnostics one after another instead, as one by one does.
    public override FixAllProvider GetFixAllProvider() => FixAll(FixDocumentAsync);

    protected override async Task RegisterAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            // The checks run here; the rewrite and its compile check only when the action is asked for.
            if (Locate(root, diagnostic) is not var (start, end)
                || RangeArgumentsCapture.Check(model, start, end, context.CancellationToken) is not { } plan)
            {
                continue;
            }

            var document = context.Document;
            context.RegisterCodeFix(
                Fix(
                    "Capture the range in " + plan.StartName + "/" + plan.EndName + " and pass them to start and end",
                    document,
                    cancellationToken => Task.FromResult(RangeArgumentsCapture.Apply(root, model, plan, cancellationToken) is { } fixedRoot ? document.WithSyntaxRoot(fixedRoot) : null),
                    EquivalenceKey),
                diagnostic);
        }
    }

    /// <summary>The end the diagnostic is on and the start of its range (its first additional location).</summary>
    private static (InvocationExpressionSyntax Start, InvocationExpressionSyntax End)? Locate(SyntaxNode root, Diagnostic diagnostic)
    {
        if (diagnostic.AdditionalLocations.Count == 0
            || !root.FullSpan.Contains(diagnostic.Location.SourceSpan)
            || !root.FullSpan.Contains(diagnostic.AdditionalLocations[FixContract.RangeArgumentsChanged.StartLocation].SourceSpan)
            || root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true)?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } end
            || root.FindNode(diagnostic.AdditionalLocations[FixContract.RangeArgumentsChanged.StartLocation].SourceSpan, getInnermostNodeForTie: true)?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } start)
        {
            return null;
        }

        return (start, end);
    }

    /// <summary>
    /// Fix All in one document: the diagnostics in source order, each applied to the document the
    /// previous ones produced (so a second range sees the first one's mmun_ names, as it does one
    /// by one). The diagnostics were computed on the original document (dotnet format does not
    /// recompute them), so their calls are marked first and found again after each step; an end
    /// an earlier capture already rewrote (another end of the same range) is skipped.
    /// </summary>
    private static async Task<Document?> FixDocumentAsync(FixAllContext context, Document document, ImmutableArray<Diagnostic> diagnostics)
    {
        // No key: dotnet format's first diagnostic offered nothing; this is still the fix asked for.
        if (context.CodeActionEquivalenceKey is not (null or EquivalenceKey))
        {
            return null;
        }

        var root = await document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return null;
        }

        var pairs = new List<(SyntaxAnnotation Start, SyntaxAnnotation End)>();
        var marks = new Dictionary<SyntaxNode, List<SyntaxAnnotation>>();
        foreach (var diagnostic in InSourceOrder(diagnostics))
        {
            if (Locate(root, diagnostic) is not var (start, end))
            {
                continue;
            }

            var pair = (new SyntaxAnnotation("MMU003.FixAll.Start"), new SyntaxAnnotation("MMU003.FixAll.End"));
            pairs.Add(pair);
            Mark(marks, start, pair.Item1);
            Mark(marks, end, pair.Item2);
        }

        if (pairs.Count == 0)
        {
            return null;
        }

        root = root.ReplaceNodes(marks.Keys, (original, current) => current.WithAdditionalAnnotations(marks[original]));
        document = document.WithSyntaxRoot(root);
        var changed = false;
        foreach (var (startMark, endMark) in pairs)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            root = (await document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false))!;
            var model = await document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
            if (model is null
                || root.GetAnnotatedNodes(startMark).OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } start
                || root.GetAnnotatedNodes(endMark).OfType<InvocationExpressionSyntax>().FirstOrDefault() is not { } end
                || end.HasAnnotation(RangeArgumentsCapture.Captured)
                || RangeArgumentsCapture.Check(model, start, end, context.CancellationToken) is not { } plan
                || RangeArgumentsCapture.Apply(root, model, plan, context.CancellationToken) is not { } fixedRoot)
            {
                continue;
            }

            document = document.WithSyntaxRoot(fixedRoot);
            changed = true;
        }

        return changed ? document : null;
    }

    private static void Mark(Dictionary<SyntaxNode, List<SyntaxAnnotation>> marks, SyntaxNode node, SyntaxAnnotation annotation)
    {
        if (!marks.TryGetValue(node, out var list))
        {
            marks[node] = list = new List<SyntaxAnnotation>();
        }

        list.Add(annotation);
    }
}
