using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU013: bracket the un-notified change with <c>mmu_notifier_invalidate_range_start</c> before the
/// page-table lock and <c>_end</c> after its release on every exit, over the page (or the 2 MiB pmd)
/// it changes. The analyzer gives a direct change MMU006's properties with MMU006's meaning, so the
/// bracket is MMU006's own (<see cref="NotificationBracketCodeFix"/>, asked for the one diagnostic);
/// a call down a chain (the change is in a callee or a walk callback: no one page to bracket) and a
/// hugetlb entry (its size is the hstate's) get no fix.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(EntryChangedWithoutInvalidationCodeFix)), Shared]
public sealed class EntryChangedWithoutInvalidationCodeFix : GuardedCodeFixProvider
{
    private static readonly NotificationBracketCodeFix Bracket = new();

    public override ImmutableArray<string> FixableDiagnosticIds =>
        ImmutableArray.Create(RuleIdentifiers.EntryChangedWithoutInvalidation);

    // As MMU006's: one function's bracket a fix; a second change there is bracketed on the next pass.
    public override FixAllProvider GetFixAllProvider() => MergedFixAll(keysAreAlternatives: false);

    protected override Task RegisterAsync(CodeFixContext context)
    {
        var diagnostics = context.Diagnostics
            .Where(d => FixContract.Proves(d, FixContract.Notification.OnePage)
                && !FixContract.Proves(d, FixContract.EntryChange.Chain)
                && !FixContract.Proves(d, FixContract.EntryChange.HugeTlb))
            .ToImmutableArray();
        return diagnostics.IsEmpty
            ? Task.CompletedTask
            : Bracket.RegisterCodeFixesAsync(new CodeFixContext(context.Document, context.Span, diagnostics, context.RegisterCodeFix, context.CancellationToken));
    }
}
