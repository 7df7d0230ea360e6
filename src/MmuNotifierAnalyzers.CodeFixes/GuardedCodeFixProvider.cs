using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Text;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// Base of every provider here: a fix never throws to the host. In an IDE an exception from a
/// provider is a yellow bar and a dead light bulb, in <c>dotnet format</c> a run that silently fixes
/// less; on code the rewrites were not written for (half-typed, unusual shapes) the right answer is
/// "no fix". Registration runs one diagnostic at a time and its actions reach the host only when it
/// completed; an action's lazy change (<see cref="Fix(string, Document, Func{CancellationToken, Task{Document}}, string)"/>)
/// and a Fix All (<see cref="FixAll"/>) that fail leave the document as it was. Only the exceptions
/// a rewrite's wrong assumption about the tree raises are caught: cancellation always propagates.
/// </summary>
/// <remarks>
/// Registration is cheap: a provider decides from the diagnostic's <c>FixContract</c> properties and
/// a re-check of the tree whether to offer an action, and the rewrite (binding, plans, the check that
/// the result compiles) runs in the action. Where only that rewrite can tell that a shape is beyond
/// it, the action is offered and then leaves the document as it is (<see cref="Fix(string, Document, Func{CancellationToken, Task{Document}}, string)"/>
/// returns the original document for null). What that costs, host by host: <c>dotnet format</c>
/// never applies a diagnostic's own action: it registers the first diagnostic only to read the
/// first action's equivalence key, then runs the Fix All, so a lazy no-op only decides the key. The
/// Fix Alls here (<see cref="MergedFixAll"/>, <c>SequentialFixAll</c>) try a diagnostic's actions in
/// turn (<see cref="Candidates"/>) until one changes the document, so a no-op never hides another
/// repair, and a diagnostic no action repairs is left as it would be had none been offered. In an IDE
/// the cost is a light-bulb entry that does nothing on such rare shapes, and in the test framework an
/// iteration: the price of not planning every rewrite for every diagnostic the host lists.
/// Where a refusal is decided by checks that read the current tree (MMU002's regions, MMU003's
/// hoist, MMU006/MMU009's lock bracket, MMU010's bracket-then-notify), registration runs those checks
/// and the action only writes, so a refusal offers nothing. One exception: MMU005's inlining of a
/// notifier wrapper (<c>SleepUnderSpinlockWrapper</c>) decides on the inlined document whether the
/// bracket can be proved, so it still builds that rewrite in registration; it runs only for a call to
/// such a wrapper under a spinlock.
/// </remarks>
public abstract class GuardedCodeFixProvider : CodeFixProvider
{
    /// <summary>
    /// Sees each failure the guard turns into "no fix", in the async flow that set it. A host never
    /// sets it; the robustness tests do, so an exception a fix swallows still fails them.
    /// </summary>
    internal static readonly AsyncLocal<Action<Exception>?> SwallowedFailures = new();

    public sealed override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        foreach (var diagnostic in context.Diagnostics)
        {
            var offered = new List<(CodeAction Action, ImmutableArray<Diagnostic> Diagnostics)>();
            var one = new CodeFixContext(context.Document, diagnostic.Location.SourceSpan, ImmutableArray.Create(diagnostic), (action, fixes) => offered.Add((action, fixes)), context.CancellationToken);
            if (!await SucceedsAsync(() => RegisterAsync(one)).ConfigureAwait(false))
            {
                continue;
            }

            foreach (var (action, fixes) in offered)
            {
                context.RegisterCodeFix(action, fixes);
            }
        }
    }

    /// <summary>Registers the fixes of <paramref name="context"/>'s one diagnostic (what <see cref="RegisterCodeFixesAsync"/> is elsewhere).</summary>
    protected abstract Task RegisterAsync(CodeFixContext context);

    /// <summary>An action whose change is computed when the host asks for it; null or a failure leaves <paramref name="document"/> as it is.</summary>
    protected static CodeAction Fix(string title, Document document, Func<CancellationToken, Task<Document?>> change, string equivalenceKey) =>
        CodeAction.Create(title, async cancellationToken => await GuardAsync(() => change(cancellationToken)).ConfigureAwait(false) ?? document, equivalenceKey);

    /// <summary>As <see cref="Fix(string, Document, Func{CancellationToken, Task{Document}}, string)"/>, for a change across documents.</summary>
    protected static CodeAction Fix(string title, Solution solution, Func<CancellationToken, Task<Solution?>> change, string equivalenceKey) =>
        CodeAction.Create(title, async cancellationToken => await GuardAsync(() => change(cancellationToken)).ConfigureAwait(false) ?? solution, equivalenceKey);

    /// <summary>A Fix All that rewrites each document on its own; a document whose rewrite fails stays as it was.</summary>
    protected static FixAllProvider FixAll(Func<FixAllContext, Document, ImmutableArray<Diagnostic>, Task<Document?>> fixDocument) =>
        FixAllProvider.Create((context, document, diagnostics) => GuardAsync(() => fixDocument(context, document, diagnostics)));

    /// <summary>
    /// Fix All for fixes computed one diagnostic at a time on the unchanged document (what
    /// <c>WellKnownFixAllProviders.BatchFixer</c> does), deterministic whatever the host's order:
    /// the diagnostics in <see cref="InSourceOrder"/>, each diagnostic's changes kept whole or
    /// dropped whole when they overlap changes kept before (the next run, or the next Fix All pass,
    /// fixes it on the changed code). dotnet format asks with the key of the first action of
    /// whichever diagnostic comes first, and with none when that one offered nothing: without a key
    /// each diagnostic gets its first action, and so it does for any key when
    /// <paramref name="keysAreAlternatives"/> is false (the keys name kinds of the one fix, never two
    /// fixes of one diagnostic); otherwise only actions of the asked key are applied.
    /// </summary>
    protected FixAllProvider MergedFixAll(bool keysAreAlternatives) =>
        FixAll((context, document, diagnostics) => MergeAsync(context, document, diagnostics, keysAreAlternatives));

    private async Task<Document?> MergeAsync(FixAllContext context, Document document, ImmutableArray<Diagnostic> diagnostics, bool keysAreAlternatives)
    {
        var key = context.CodeActionEquivalenceKey;
        var kept = new List<TextChange>();
        foreach (var diagnostic in InSourceOrder(diagnostics))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var offered = new List<CodeAction>();
            await RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => offered.Add(action), context.CancellationToken)).ConfigureAwait(false);
            var changes = new List<TextChange>();
            foreach (var chosen in Candidates(offered, key, keysAreAlternatives))
            {
                Document? changed = null;
                foreach (var operation in await chosen.GetOperationsAsync(context.CancellationToken).ConfigureAwait(false))
                {
                    changed ??= (operation as ApplyChangesOperation)?.ChangedSolution.GetDocument(document.Id);
                }

                changes = changed is null ? new List<TextChange>() : (await changed.GetTextChangesAsync(document, context.CancellationToken).ConfigureAwait(false)).ToList();
                if (changes.Count > 0)
                {
                    break;
                }
            }

            var fresh = changes.Where(c => !kept.Contains(c)).ToList();
            if (fresh.Count > 0 && !fresh.Any(c => kept.Any(k => Conflict(k.Span, c.Span))))
            {
                kept.AddRange(fresh);
            }
        }

        if (kept.Count == 0)
        {
            return null;
        }

        var text = await document.GetTextAsync(context.CancellationToken).ConfigureAwait(false);
        return document.WithText(text.WithChanges(kept.OrderBy(c => c.Span.Start)));
    }

    /// <summary>
    /// The actions a Fix All tries for one diagnostic, in order, until one changes the document: those
    /// of the asked key, then (no key, or keys that are not alternatives) the others. An action whose
    /// lazy rewrite turns out impossible changes nothing, and must not hide the next one.
    /// </summary>
    internal static IEnumerable<CodeAction> Candidates(IReadOnlyList<CodeAction> offered, string? key, bool keysAreAlternatives) =>
        offered.Where(a => a.EquivalenceKey == key)
            .Concat(key is null || !keysAreAlternatives ? offered.Where(a => a.EquivalenceKey != key) : Enumerable.Empty<CodeAction>());

    /// <summary>Two edits that cannot both apply: overlapping, at the same place, or an insertion inside a replaced span.</summary>
    private static bool Conflict(TextSpan a, TextSpan b) =>
        a.OverlapsWith(b) || a.Start == b.Start
        || (a.IsEmpty && b.Start < a.Start && a.Start < b.End)
        || (b.IsEmpty && a.Start < b.Start && b.Start < a.End);

    /// <summary>
    /// Diagnostics in one total source order, for the Fix Alls that apply them one after another:
    /// hosts hand them over in whatever order the (concurrent) analysis produced them, and two on
    /// the same span must not be fixed in a different order from one run to the next.
    /// </summary>
    protected static IEnumerable<Diagnostic> InSourceOrder(IEnumerable<Diagnostic> diagnostics) =>
        diagnostics
            .OrderBy(d => d.Location.SourceTree?.FilePath, StringComparer.Ordinal)
            .ThenBy(d => d.Location.SourceSpan.Start)
            .ThenBy(d => d.Location.SourceSpan.End)
            .ThenBy(d => d.Id, StringComparer.Ordinal)
            .ThenBy(d => string.Join(",", d.AdditionalLocations.Select(l => l.SourceSpan.Start)), StringComparer.Ordinal)
            .ThenBy(d => d.GetMessage(CultureInfo.InvariantCulture), StringComparer.Ordinal);

    /// <summary>The result of <paramref name="run"/>, or null when it failed on a tree it did not expect.</summary>
    protected static async Task<T?> GuardAsync<T>(Func<Task<T?>> run)
        where T : class
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (Exception e) when (IsRewriteFailure(e))
        {
            SwallowedFailures.Value?.Invoke(e);
            return null;
        }
    }

    private static async Task<bool> SucceedsAsync(Func<Task> run)
    {
        try
        {
            await run().ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (IsRewriteFailure(e))
        {
            SwallowedFailures.Value?.Invoke(e);
            return false;
        }
    }

    /// <summary>
    /// What a syntax rewrite throws when the tree is not the shape it assumed: a node that is not
    /// there (null, a tracked node gone, "GetCurrentNode returned null"), a cast, an index, an
    /// argument the syntax API refuses. Not cancellation, not out-of-memory and the like.
    /// </summary>
    private static bool IsRewriteFailure(Exception exception) =>
        exception is NullReferenceException or InvalidCastException or IndexOutOfRangeException or KeyNotFoundException or ArgumentException
            or (InvalidOperationException and not ObjectDisposedException);
}
