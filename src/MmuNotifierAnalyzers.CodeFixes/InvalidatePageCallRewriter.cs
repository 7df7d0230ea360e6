using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Editing;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// Rewrites a <c>mmu_notifier_invalidate_page(mm, address)</c> statement the way the 4.13
/// conversion of <c>try_to_unmap_one</c>/<c>page_mkclean_one</c> did (seed 001): start before the
/// page-table lock is taken, end on every exit after it, <c>mmu_notifier_invalidate_range</c>
/// under the lock. Shapes it cannot prove correct get the simple rewrite: start + end over the
/// page range in place of the call.
/// </summary>
internal static partial class InvalidatePageCallRewriter
{
    public static bool IsStatementContext(ExpressionStatementSyntax statement) =>
        FunctionBody(statement) is not null
        && statement.Parent is BlockSyntax or SwitchSectionSyntax or IfStatementSyntax or ElseClauseSyntax or LabeledStatementSyntax
            or WhileStatementSyntax or DoStatementSyntax or ForStatementSyntax or ForEachStatementSyntax or LockStatementSyntax
            or UsingStatementSyntax or FixedStatementSyntax;

    public static async Task<Document> FixAsync(Document document, ExpressionStatementSyntax callStatement, CancellationToken cancellationToken) =>
        await RewriteAsync(document, callStatement, fallback: true, cancellationToken).ConfigureAwait(false) ?? document;

    /// <summary>
    /// The full rewrite only (start before the lock, end on every exit, invalidate_range under
    /// it); null when the shape is beyond it. MMU005's fix uses it on an inlined 2012
    /// <c>ptep_clear_flush_notify</c>, where the in-place start/end would stay under the lock.
    /// </summary>
    internal static Task<Document?> TryBracketLockAsync(Document document, ExpressionStatementSyntax callStatement, CancellationToken cancellationToken) =>
        RewriteAsync(document, callStatement, fallback: false, cancellationToken);

    /// <summary>
    /// MMU006/MMU009: brackets a notification call that runs outside start/end. The range is the
    /// call's own [start, end), or one page at its address (<paramref name="onePage"/>: [address &amp;
    /// PAGE_MASK, + PAGE_SIZE), or 2 MiB with <paramref name="hugePage"/>, <c>pmdp_huge_clear_flush_notify</c>); the mm is its first
    /// argument or that vma's <c>vm_mm</c>. Start goes before the lock held at the call (or before the
    /// first page-table change leading to it), end after the lock is released on every exit; the call
    /// stays. Null when the shape is beyond the rewrite.
    /// </summary>
    internal static async Task<Document?> BracketNotificationAsync(Document document, ExpressionStatementSyntax callStatement, InvocationExpressionSyntax invocation, bool onePage, bool hugePage, bool mmOfVma, InvocationExpressionSyntax? provenAcquisition, CancellationToken cancellationToken) =>
        await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false) is { } model
            && PlanBracketNotification(model, document, callStatement, invocation, onePage, hugePage, mmOfVma, provenAcquisition, cancellationToken) is { } apply
            ? await apply(cancellationToken).ConfigureAwait(false)
            : null;

    /// <summary>
    /// <see cref="BracketNotificationAsync"/> in two steps, for a fix that decides in registration:
    /// every check runs here, on <paramref name="model"/> (<paramref name="document"/>'s); what is
    /// returned writes the bracket when the action is applied. Null when the shape is beyond the rewrite.
    /// </summary>
    internal static Func<CancellationToken, Task<Document>>? PlanBracketNotification(SemanticModel model, Document document, ExpressionStatementSyntax callStatement, InvocationExpressionSyntax invocation, bool onePage, bool hugePage, bool mmOfVma, InvocationExpressionSyntax? provenAcquisition, CancellationToken cancellationToken)
    {
        var body = FunctionBody(callStatement);
        if (model is null || body is null || !callStatement.Span.Contains(invocation.Span)
            || model.GetOperation(invocation, cancellationToken) is not IInvocationOperation operation)
        {
            return null;
        }

        var first = Argument(operation, 0);
        var start = Argument(operation, 1);
        var end = onePage ? null : Argument(operation, 2);
        if (first is null || start is null || (!onePage && end is null))
        {
            return null;
        }

        var symbols = KnownSymbols.Get(model.Compilation);
        var arguments = end is null ? new[] { first, start } : new[] { first, start, end };

        // First with the range as written; then, when it reads locals declared on the way (the
        // 'haddr' MMU008's fix declares right before the call), with their initializers in their place.
        // Inline as few locals as needed, the ones declared nearest the call first, so the result is
        // the same whether MMU008's fix declared 'haddr' before this fix runs or after.
        var attempts = new List<Dictionary<ISymbol, ExpressionSyntax>> { new(SymbolEqualityComparer.Default) };
        var nearestFirst = InlinableLocals(model, body, arguments, cancellationToken).OrderByDescending(p => p.Value.SpanStart).ToList();
        for (var count = 1; count <= nearestFirst.Count; count++)
        {
            var inlined = new Dictionary<ISymbol, ExpressionSyntax>(SymbolEqualityComparer.Default);
            foreach (var pair in nearestFirst.Take(count))
            {
                inlined[pair.Key] = pair.Value;
            }

            attempts.Add(inlined);
        }

        foreach (var inlined in attempts)
        {
            ExpressionSyntax Node(ExpressionSyntax e) => Inline(model, e, inlined, cancellationToken);
            string Text(ExpressionSyntax e) => (Node(e) is ParenthesizedExpressionSyntax whole ? whole.Expression : Node(e)).ToString();
            var qualifier = invocation.Expression is MemberAccessExpressionSyntax access ? access.Expression.WithoutTrivia().ToString() + "." : string.Empty;
            var mm = mmOfVma ? Parenthesize(Node(first)).ToString() + ".vm_mm" : Text(first);
            var huge = onePage && hugePage;
            var taken = new HashSet<string>(FunctionNode(body)!.DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText));
            var rank = BracketRank(model, symbols, body, invocation, cancellationToken);
            var plan = new Plan(qualifier, mm, Parenthesize(Node(start)).ToString(), null, LocalNames.Fresh("mmun_start", taken, rank), LocalNames.Fresh("mmun_end", taken, rank), LineEndings.Of(callStatement))
            {
                // [start, end) as the call passes it; a 2 MiB clear is already at its aligned haddr.
                StartText = onePage && !huge ? null : Text(start),
                EndText = end is null ? null : Text(end),
                Size = huge ? qualifier + "HPAGE_PMD_SIZE" : null,
                Called = LocalNames.Fresh("mmun_called", taken, rank),
            };

            var inputs = arguments.Concat(inlined.Values).ToList();
            var edits = new StatementEdits();
            if (TryBracketLock(model, symbols, body, callStatement, inputs, plan, edits, keepCall: true, cancellationToken, provenAcquisition, inlined.Keys))
            {
                InsertDeclarations(body, plan, edits);
                return async ct =>
                {
                    var editor = await DocumentEditor.CreateAsync(document, ct).ConfigureAwait(false);
                    edits.Apply(editor);
                    return editor.GetChangedDocument();
                };
            }
        }

        return null;
    }

    /// <summary>Locals the range reads that are declared with an initializer and never written again.</summary>
    private static Dictionary<ISymbol, ExpressionSyntax> InlinableLocals(SemanticModel model, BlockSyntax body, IEnumerable<ExpressionSyntax> arguments, CancellationToken cancellationToken)
    {
        var locals = new Dictionary<ISymbol, ExpressionSyntax>(SymbolEqualityComparer.Default);
        foreach (var name in arguments.SelectMany(a => a.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>()))
        {
            if (model.GetSymbolInfo(name, cancellationToken).Symbol is ILocalSymbol local
                && local.DeclaringSyntaxReferences.Length == 1
                && local.DeclaringSyntaxReferences[0].GetSyntax(cancellationToken) is VariableDeclaratorSyntax { Initializer.Value: { } value }
                && body.Span.Contains(value.Span)
                && !IsWritten(model, body, local, cancellationToken))
            {
                locals[local] = value;
            }
        }

        return locals;
    }

    private static bool IsWritten(SemanticModel model, BlockSyntax body, ILocalSymbol local, CancellationToken cancellationToken) =>
        body.DescendantNodes().OfType<IdentifierNameSyntax>()
            .Where(n => n.Identifier.ValueText == local.Name && SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(n, cancellationToken).Symbol, local))
            .Any(n => n.Parent switch
            {
                AssignmentExpressionSyntax assignment => assignment.Left == n,
                PrefixUnaryExpressionSyntax or PostfixUnaryExpressionSyntax => n.Parent.IsKind(SyntaxKind.PreIncrementExpression) || n.Parent.IsKind(SyntaxKind.PreDecrementExpression)
                    || n.Parent.IsKind(SyntaxKind.PostIncrementExpression) || n.Parent.IsKind(SyntaxKind.PostDecrementExpression),
                ArgumentSyntax argument => !argument.RefKindKeyword.IsKind(SyntaxKind.None),
                _ => false,
            });

    /// <summary>The expression with each inlined local replaced by its parenthesized initializer.</summary>
    private static ExpressionSyntax Inline(SemanticModel model, ExpressionSyntax expression, IReadOnlyDictionary<ISymbol, ExpressionSyntax> inlined, CancellationToken cancellationToken)
    {
        if (inlined.Count == 0)
        {
            return expression.WithoutTrivia();
        }

        var replaced = expression.ReplaceNodes(
            expression.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>()
                .Where(n => model.GetSymbolInfo(n, cancellationToken).Symbol is { } symbol && inlined.ContainsKey(symbol)),
            (original, _) => Parenthesize(inlined[model.GetSymbolInfo(original, cancellationToken).Symbol!]));
        return replaced.WithoutTrivia();
    }

    private static async Task<Document?> RewriteAsync(Document document, ExpressionStatementSyntax callStatement, bool fallback, CancellationToken cancellationToken)
    {
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var body = FunctionBody(callStatement);
        if (model is null || body is null || callStatement.Expression is not InvocationExpressionSyntax invocation
            || model.GetOperation(invocation, cancellationToken) is not IInvocationOperation operation)
        {
            return fallback ? document : null;
        }

        var mm = Argument(operation, 0);
        var address = Argument(operation, 1);
        if (mm is null || address is null)
        {
            return fallback ? document : null;
        }

        var symbols = KnownSymbols.Get(model.Compilation);
        var qualifier = invocation.Expression is MemberAccessExpressionSyntax access ? access.Expression.WithoutTrivia().ToString() + "." : string.Empty;
        var taken = new HashSet<string>(FunctionNode(body)!.DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText));
        var rank = BracketRank(model, symbols, body, invocation, cancellationToken);
        var plan = new Plan(
            qualifier,
            mm.WithoutTrivia().ToString(),
            Parenthesize(address).ToString(),
            FindPage(model, callStatement, body, symbols, cancellationToken),
            LocalNames.Fresh("mmun_start", taken, rank),
            LocalNames.Fresh("mmun_end", taken, rank),
            LineEndings.Of(callStatement));

        var editor = await DocumentEditor.CreateAsync(document, cancellationToken).ConfigureAwait(false);
        var edits = new StatementEdits();
        if (!TryBracketLock(model, symbols, body, callStatement, new[] { mm, address }, plan, edits, keepCall: false, cancellationToken))
        {
            if (!fallback)
            {
                return null;
            }

            edits = new StatementEdits();
            ReplaceWithStartEnd(callStatement, plan, edits);
        }

        InsertDeclarations(body, plan, edits);
        edits.Apply(editor);
        return editor.GetChangedDocument();
    }

    /// <summary>The full rewrite; false when the shape is beyond it (nothing is changed then).</summary>
    /// <remarks>
    /// <paramref name="keepCall"/> (MMU006/MMU009): the call stays where it is, and where no lock is
    /// held at it the start goes before the first statement of the enclosing blocks that changes
    /// the page table on the way to it. Where a jump enters the bracketed region from before the
    /// start, the end runs after each unlock under a <c>mmun_called</c> flag, as seed 002 did in
    /// <c>do_wp_page</c>.
    /// </remarks>
    private static bool TryBracketLock(
        SemanticModel model,
        KnownSymbols symbols,
        BlockSyntax body,
        ExpressionStatementSyntax callStatement,
        IReadOnlyList<ExpressionSyntax> inputs,
        Plan plan,
        StatementEdits edits,
        bool keepCall,
        CancellationToken cancellationToken,
        InvocationExpressionSyntax? provenAcquisition = null,
        IEnumerable<ISymbol>? inlined = null)
    {
        var function = FunctionNode(body)!;
        var lockOps = OwnNodes(body).OfType<InvocationExpressionSyntax>()
            .Select(i => (Node: i, Kind: LockBracket.LockKind(model, i, cancellationToken)))
            .Where(p => p.Kind != 0)
            .ToList();

        // The lock taken before the call: the last acquisition textually before it whose
        // statement sits in a block that also holds the call.
        StatementSyntax? acquire = null;
        InvocationExpressionSyntax? acquireCall = null;
        foreach (var (node, kind) in lockOps.Where(p => p.Kind == 1 && p.Node.SpanStart < callStatement.SpanStart).Reverse())
        {
            acquire = node.Ancestors().OfType<StatementSyntax>()
                .FirstOrDefault(s => s.Parent is BlockSyntax block && block.Span.Contains(callStatement.Span) && body.Span.Contains(block.Span));
            if (acquire is not null)
            {
                acquireCall = node;
                break;
            }
        }

        // invalidate_range goes right after the last entry update under the lock (when
        // invalidate_page itself was called after the unlock).
        var updates = symbols.EntryUpdates;
        if (keepCall)
        {
            // The analysis says which lock is held at the call. None (a walk that took and dropped
            // it): the start goes before the first change on the way. One: it must be the lock this
            // rewrite brackets, or the tree has moved on and nothing is offered.
            if (provenAcquisition is null)
            {
                acquireCall = null;
                acquire = FirstChange(model, body, callStatement, updates, cancellationToken);
            }
            else if (acquireCall is null || acquireCall.Span != provenAcquisition.Span)
            {
                return false;
            }
        }

        if (acquire is null || acquire.Parent is not BlockSyntax lockBlock || (acquireCall is null && !keepCall))
        {
            return false;
        }

        var region = lockBlock.Statements.Skip(lockBlock.Statements.IndexOf(acquire)).ToList();
        var regionSpan = Microsoft.CodeAnalysis.Text.TextSpan.FromBounds(region[0].SpanStart, region[region.Count - 1].Span.End);
        var ownStatements = OwnNodes(body).OfType<StatementSyntax>().ToList();

        // Iterators, and jumps into the region from before it (they would skip the start).
        if (ownStatements.OfType<YieldStatementSyntax>().Any())
        {
            return false;
        }

        var enteredByJump = false;
        foreach (var jump in ownStatements.OfType<GotoStatementSyntax>().Where(g => !regionSpan.Contains(g.Span)))
        {
            if (JumpTarget(jump) is { } target && regionSpan.Contains(target.Span))
            {
                enteredByJump = true;
            }
        }

        // Flag mode puts the ends after the lock's releases, so the lock must be taken for sure;
        // one that may fail (page_check_address returning null, then 'goto out' past every release:
        // ksm's write_protect_page before v3.6) gets the kernel's own repair instead, an end at a
        // new label where the failure exit joins the unlocked path. A flag set once in a loop would
        // let a later turn that skips the start run the end again; a label would start it twice.
        var condition = acquireCall is not null
            && model.GetSymbolInfo(acquireCall, cancellationToken).Symbol is IMethodSymbol acquirer
            && Annotations.Find(acquirer.OriginalDefinition, Annotations.AcquiresLock) is { } acquires
            ? Annotations.AcquisitionCondition(acquires)
            : LockCondition.None;
        if (enteredByJump && (!keepCall || acquireCall is null
            || acquire.Ancestors().TakeWhile(a => a != body).Any(a => a is WhileStatementSyntax or DoStatementSyntax or ForStatementSyntax or ForEachStatementSyntax)))
        {
            return false;
        }

        // The range is computed before the lock: what it reads must not change in between and
        // must already be declared there.
        var callTop = region.First(s => s.Span.Contains(callStatement.Span));
        var flow = model.AnalyzeDataFlow(acquire, callTop);
        if (flow is null || !flow.Succeeded)
        {
            return false;
        }

        if (plan.PageSymbol is not null && (flow.WrittenInside.Contains(plan.PageSymbol, SymbolEqualityComparer.Default)
            || plan.PageSymbol.DeclaringSyntaxReferences.Any(r => r.Span.Start >= acquire.SpanStart)))
        {
            return false;
        }

        foreach (var input in inputs)
        {
            foreach (var name in input.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>())
            {
                var symbol = model.GetSymbolInfo(name, cancellationToken).Symbol;
                if (symbol is ILocalSymbol or IParameterSymbol
                    && !(inlined?.Contains(symbol, SymbolEqualityComparer.Default) ?? false)
                    && (flow.WrittenInside.Contains(symbol, SymbolEqualityComparer.Default)
                        || symbol.DeclaringSyntaxReferences.Any(r => r.Span.Start >= acquire.SpanStart)))
                {
                    return false;
                }
            }

            // A kept notification's own range may read the page (compound_order(page)): the
            // identifiers it reads are checked above, and its calls must be the runtime's.
            if (input.DescendantNodesAndSelf().Any(n => (n is InvocationExpressionSyntax call && !(keepCall && IsRuntimeCall(model, call, symbols, cancellationToken))) || n is AssignmentExpressionSyntax
                || n.IsKind(SyntaxKind.PostIncrementExpression) || n.IsKind(SyntaxKind.PreIncrementExpression)
                || n.IsKind(SyntaxKind.PostDecrementExpression) || n.IsKind(SyntaxKind.PreDecrementExpression)))
            {
                return false;
            }
        }

        if (enteredByJump && condition != LockCondition.None)
        {
            return TryJoinAtFailureExit(model, body, lockBlock, acquire, acquireCall!, condition, plan, edits, cancellationToken);
        }

        if (enteredByJump)
        {
            // Seed 002's do_wp_page: paths that jump past the start reach the same unlock, so the
            // end after each unlock runs only where the start did.
            edits.Before(acquire, plan.AssignStart(), plan.AssignEnd(), plan.SetCalled(), plan.Call("mmu_notifier_invalidate_range_start"));
            var releases = ownStatements.OfType<ExpressionStatementSyntax>()
                .Where(r => r.SpanStart > acquire.Span.End && IsReleaseOf(model, r, acquireCall!, cancellationToken))
                .ToList();
            if (releases.Count == 0)
            {
                return false;
            }

            foreach (var release in releases)
            {
                // unlock: pte_unmap_unlock(...); — the end goes after the labeled statement.
                StatementSyntax after = release.Parent is LabeledStatementSyntax label ? label : release;
                edits.After(after, plan.CallIfCalled("mmu_notifier_invalidate_range_end"));
            }

            plan.DeclareCalled = true;
            return true;
        }

        // Start right before the lock is taken.
        edits.Before(acquire, plan.AssignStart(), plan.AssignEnd(), plan.Call("mmu_notifier_invalidate_range_start"));

        // End on every way out of the region.
        foreach (var exit in ownStatements.Where(s => regionSpan.Contains(s.Span) && LeavesRegion(s, regionSpan)))
        {
            edits.Before(exit, plan.Call("mmu_notifier_invalidate_range_end"));
        }

        var reachable = model.AnalyzeControlFlow(lockBlock.Statements.First(), lockBlock.Statements.Last());
        if (reachable is not null && reachable.Succeeded && reachable.EndPointIsReachable)
        {
            edits.After(lockBlock.Statements.Last(), plan.Call("mmu_notifier_invalidate_range_end"));
        }

        if (keepCall)
        {
            return true;
        }

        // Under the lock or after it? The last lock operation before the call decides, except a
        // release on a branch that then leaves the region (`if (pte_none(*pte)) { unlock; continue; }`):
        // the call is still under the lock the straight line holds.
        var last = lockOps.Where(p => p.Node.SpanStart >= acquireCall!.SpanStart && p.Node.SpanStart < callStatement.SpanStart).Last();
        var underLock = last.Kind == 1
            || (LockBracket.HeldAt(model, body, callStatement, cancellationToken)?.Call == acquireCall
                && lockOps.Where(p => p.Kind == 2 && p.Node.SpanStart > acquireCall!.SpanStart && p.Node.SpanStart < callStatement.SpanStart)
                    .All(p => ReleaseThenLeaves(p.Node, callStatement, regionSpan)));
        if (underLock)
        {
            edits.Replace(callStatement, plan.Call("mmu_notifier_invalidate_range").WithTriviaFrom(callStatement));
        }
        else
        {
            edits.Remove(RemovalTarget(callStatement));
            var updateStatements = OwnNodes(body).OfType<InvocationExpressionSyntax>()
                .Where(i => i.SpanStart > acquireCall!.Span.End && i.SpanStart < last.Node.SpanStart)
                .Where(i => model.GetSymbolInfo(i, cancellationToken).Symbol is IMethodSymbol m && updates.Contains(m.OriginalDefinition))
                .Select(i => i.FirstAncestorOrSelf<StatementSyntax>())
                .Where(s => s is ExpressionStatementSyntax or LocalDeclarationStatementSyntax)
                .Distinct()
                .ToList();
            foreach (var group in updateStatements.GroupBy(s => s!.Parent))
            {
                edits.After(group.Last()!, plan.Call("mmu_notifier_invalidate_range"));
            }
        }

        return true;
    }

    /// <summary>
    /// A release statement followed, in its own block, by a jump out of the region (return, goto,
    /// break, continue): a branch that unlocks and leaves, which <paramref name="callStatement"/> is not on.
    /// </summary>
    private static bool ReleaseThenLeaves(InvocationExpressionSyntax release, StatementSyntax callStatement, Microsoft.CodeAnalysis.Text.TextSpan region) =>
        release.Parent is ExpressionStatementSyntax { Parent: BlockSyntax block } statement
        && !block.Span.Contains(callStatement.Span)
        && block.Statements.Skip(block.Statements.IndexOf(statement) + 1).Any(s => s is ReturnStatementSyntax or GotoStatementSyntax or BreakStatementSyntax or ContinueStatementSyntax && LeavesRegion(s, region));

    /// <summary>The simplest correct rewrite: start + end over the page range in place of the call.</summary>
    private static void ReplaceWithStartEnd(ExpressionStatementSyntax callStatement, Plan plan, StatementEdits edits)
    {
        var statements = new[]
        {
            plan.AssignStart().WithLeadingTrivia(callStatement.GetLeadingTrivia()),
            plan.AssignEnd(),
            plan.Call("mmu_notifier_invalidate_range_start"),
            plan.Call("mmu_notifier_invalidate_range_end").WithTrailingTrivia(callStatement.GetTrailingTrivia()),
        };
        edits.ReplaceMany(callStatement, statements);
    }

    /// <summary>
    /// Where the start goes when no lock is held at the call: before the first statement, in the
    /// outermost enclosing block that has one, that changes the page table or takes a lock on the
    /// way to the call (seed 003: the rmap walk before the invalidate_range after it); else the
    /// call's own statement.
    /// </summary>
    private static StatementSyntax? FirstChange(SemanticModel model, BlockSyntax body, StatementSyntax callStatement, ImmutableHashSet<IMethodSymbol> updates, CancellationToken cancellationToken)
    {
        StatementSyntax? found = null;
        StatementSyntax? innermost = null;
        foreach (var top in callStatement.AncestorsAndSelf().OfType<StatementSyntax>().Where(s => s.Parent is BlockSyntax && body.Span.Contains(s.Span)))
        {
            innermost ??= top;
            var block = (BlockSyntax)top.Parent!;
            foreach (var statement in block.Statements.TakeWhile(s => s != top))
            {
                var changes = statement.DescendantNodesAndSelf(n => n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax))
                    .OfType<InvocationExpressionSyntax>()
                    .Any(i => model.GetSymbolInfo(i, cancellationToken).Symbol is IMethodSymbol m
                        && (updates.Contains(m.OriginalDefinition) || LockBracket.LockKind(m) == 1));
                if (changes)
                {
                    found = statement;
                    break;
                }
            }

            if (block == body)
            {
                break;
            }
        }

        return found ?? innermost;
    }

    /// <summary>The runtime's pure size accessors a range may be computed from (<c>compound_order(page)</c>,
    /// <c>huge_page_size(h)</c>, ...), by symbol.</summary>
    private static bool IsRuntimeCall(SemanticModel model, InvocationExpressionSyntax call, KnownSymbols symbols, CancellationToken cancellationToken) =>
        model.GetSymbolInfo(call, cancellationToken).Symbol is IMethodSymbol method
        && (KnownSymbols.Is(method, symbols.CompoundOrder) || KnownSymbols.Is(method, symbols.CompoundNr) || KnownSymbols.Is(method, symbols.PageSizeOf)
            || KnownSymbols.Is(method, symbols.HugePageSize) || KnownSymbols.Is(method, symbols.HugePageMask) || KnownSymbols.Is(method, symbols.HugePageOrder)
            || KnownSymbols.Is(method, symbols.PagesPerHugePage));

    /// <summary>A release statement whose arguments include the lock the acquisition stored (<c>ptl</c>).</summary>
    private static bool IsReleaseOf(SemanticModel model, ExpressionStatementSyntax statement, InvocationExpressionSyntax acquire, CancellationToken cancellationToken)
    {
        if (!LockBracket.IsReleaseStatement(model, statement, cancellationToken) || statement.Expression is not InvocationExpressionSyntax release)
        {
            return false;
        }

        // What the acquisition names or stores: its arguments ('out ptl', 'out spinlock_t ptl'), its result.
        var acquired = new HashSet<string>(acquire.ArgumentList.Arguments.Select(a => a.Expression is DeclarationExpressionSyntax { Designation: SingleVariableDesignationSyntax declared }
            ? declared.Identifier.ValueText
            : a.Expression.WithoutTrivia().ToString()));
        switch (acquire.Parent)
        {
            case AssignmentExpressionSyntax { Left: var stored }:
                acquired.Add(stored.WithoutTrivia().ToString());
                break;
            case EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax declarator }:
                acquired.Add(declarator.Identifier.ValueText);
                break;
        }

        return release.ArgumentList.Arguments.Any(a => acquired.Contains(a.Expression.WithoutTrivia().ToString()));
    }

    /// <summary><c>ulong mmun_start; /* For mmu_notifiers */</c> after the function's leading declarations.</summary>
    private static void InsertDeclarations(BlockSyntax body, Plan plan, StatementEdits edits)
    {
        var declarations = plan.DeclareCalled
            ? new StatementSyntax[] { plan.Declare(plan.Start, 1), plan.Declare(plan.End, 3), plan.DeclareFlag() }
            : new StatementSyntax[] { plan.Declare(plan.Start, 1), plan.Declare(plan.End, 3) };
        var leading = body.Statements.TakeWhile(s => s is LocalDeclarationStatementSyntax).ToList();

        // Not after a declaration that is itself rewritten (the lock taken in an initializer).
        while (leading.Count > 0 && edits.Touches(leading[leading.Count - 1]))
        {
            leading.RemoveAt(leading.Count - 1);
        }

        if (leading.Count > 0)
        {
            edits.After(leading[leading.Count - 1], declarations, first: true);
        }
        else
        {
            edits.Before(body.Statements[0], declarations, first: true);
        }
    }

    /// <summary>A return, goto, break or continue that leaves the region (throw is not tracked).</summary>
    private static bool LeavesRegion(StatementSyntax statement, Microsoft.CodeAnalysis.Text.TextSpan region)
    {
        switch (statement)
        {
            case ReturnStatementSyntax:
                return true;
            case GotoStatementSyntax jump:
                var target = JumpTarget(jump);
                return target is null || !region.Contains(target.Span);
            case BreakStatementSyntax:
                var breakTarget = statement.Ancestors().FirstOrDefault(a => a is SwitchStatementSyntax or WhileStatementSyntax or DoStatementSyntax or ForStatementSyntax or ForEachStatementSyntax);
                return breakTarget is null || !region.Contains(breakTarget.Span);
            case ContinueStatementSyntax:
                var loop = statement.Ancestors().FirstOrDefault(a => a is WhileStatementSyntax or DoStatementSyntax or ForStatementSyntax or ForEachStatementSyntax);
                return loop is null || !region.Contains(loop.Span);
            default:
                return false;
        }
    }

    /// <summary>The labeled statement (or switch) a goto jumps to.</summary>
    private static SyntaxNode? JumpTarget(GotoStatementSyntax jump)
    {
        if (!jump.IsKind(SyntaxKind.GotoStatement))
        {
            return jump.Ancestors().OfType<SwitchStatementSyntax>().FirstOrDefault();
        }

        var name = (jump.Expression as IdentifierNameSyntax)?.Identifier.ValueText;
        var body = FunctionBody(jump);
        return body is null || name is null
            ? null
            : OwnNodes(body).OfType<LabeledStatementSyntax>().FirstOrDefault(l => l.Identifier.ValueText == name);
    }

    /// <summary>A call after the unlock is removed; an <c>if</c> that only guarded it goes too.</summary>
    private static StatementSyntax RemovalTarget(ExpressionStatementSyntax callStatement)
    {
        StatementSyntax target = callStatement;
        if (target.Parent is BlockSyntax { Statements.Count: 1 } onlyChild && onlyChild.Parent is IfStatementSyntax)
        {
            target = onlyChild;
        }

        if (target.Parent is IfStatementSyntax { Else: null } guard && guard.Statement == target
            && guard.Parent is BlockSyntax or SwitchSectionSyntax)
        {
            return guard;
        }

        return callStatement;
    }

    /// <summary>A <c>page</c> in scope at the call: a local or parameter named page of the
    /// Kernel.Mm page type, else the function's only parameter of that type.</summary>
    private static ISymbol? FindPage(SemanticModel model, StatementSyntax callStatement, BlockSyntax body, KnownSymbols symbols, CancellationToken cancellationToken)
    {
        if (symbols.Page is null)
        {
            return null;
        }

        bool IsPage(ISymbol s) => s switch
        {
            ILocalSymbol local => SymbolEqualityComparer.Default.Equals(local.Type, symbols.Page),
            IParameterSymbol parameter => SymbolEqualityComparer.Default.Equals(parameter.Type, symbols.Page),
            _ => false,
        };

        var named = model.LookupSymbols(callStatement.SpanStart, name: "page").FirstOrDefault(IsPage);
        if (named is not null)
        {
            return named;
        }

        if (model.GetDeclaredSymbol(FunctionNode(body)!, cancellationToken) is IMethodSymbol method)
        {
            var pages = method.Parameters.Where(IsPage).ToList();
            if (pages.Count == 1)
            {
                return pages[0];
            }
        }

        return null;
    }

    private static ExpressionSyntax? Argument(IInvocationOperation operation, int ordinal)
    {
        foreach (var argument in operation.Arguments)
        {
            if (argument.Parameter?.Ordinal == ordinal && argument.Syntax is ArgumentSyntax syntax)
            {
                return syntax.Expression;
            }
        }

        return null;
    }

    private static ExpressionSyntax Parenthesize(ExpressionSyntax expression) =>
        expression is IdentifierNameSyntax or MemberAccessExpressionSyntax or InvocationExpressionSyntax or ElementAccessExpressionSyntax
            or LiteralExpressionSyntax or ParenthesizedExpressionSyntax
            ? expression.WithoutTrivia()
            : SyntaxFactory.ParenthesizedExpression(expression.WithoutTrivia());

    /// <summary>
    /// The place (from 1) of the bracket built around <paramref name="site"/> among the function's
    /// brackets, counting those that exist and those the fixes will write, so that it is the same
    /// before and after the others are fixed: before the site, every range start, every
    /// <c>invalidate_page</c> (MMU001 turns each into one bracket) and every other notification no
    /// range is textually open at (MMU006/MMU009 bracket each; once bracketed it is inside its start).
    /// </summary>
    private static int BracketRank(SemanticModel model, KnownSymbols symbols, BlockSyntax body, SyntaxNode site, CancellationToken cancellationToken)
    {
        var api = FlowCache.Api(model.Compilation, symbols);
        var rank = 1;
        var open = 0;
        foreach (var call in OwnNodes(body).OfType<InvocationExpressionSyntax>().Where(c => c.SpanStart < site.SpanStart).OrderBy(c => c.SpanStart))
        {
            if (model.GetSymbolInfo(call, cancellationToken).Symbol is not IMethodSymbol method)
            {
                continue;
            }

            if (KnownSymbols.Is(method, symbols.RangeStart))
            {
                rank++;
                open++;
            }
            else if (KnownSymbols.Is(method, symbols.RangeEnd))
            {
                open = System.Math.Max(0, open - 1);
            }
            else if (KnownSymbols.Is(method, symbols.InvalidatePage) || (open == 0 && api.Get(method).Notify is not null))
            {
                rank++;
            }
        }

        return rank;
    }

    internal static BlockSyntax? FunctionBody(SyntaxNode node)
    {
        foreach (var ancestor in node.Ancestors())
        {
            switch (ancestor)
            {
                case BaseMethodDeclarationSyntax method:
                    return method.Body;
                case LocalFunctionStatementSyntax local:
                    return local.Body;
                case AnonymousFunctionExpressionSyntax lambda:
                    return lambda.Block;
                case AccessorDeclarationSyntax accessor:
                    return accessor.Body;
            }
        }

        return null;
    }

    private static SyntaxNode? FunctionNode(BlockSyntax body) => body.Parent;

    /// <summary>Nodes of the function itself, not of lambdas or local functions inside it.</summary>
    private static IEnumerable<SyntaxNode> OwnNodes(BlockSyntax body) =>
        body.DescendantNodes(n => n == body || n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax));

    private sealed class Plan
    {
        private readonly SyntaxTrivia _newLine;

        public Plan(string qualifier, string mm, string address, ISymbol? page, string start, string end, SyntaxTrivia newLine)
        {
            _newLine = newLine;
            Qualifier = qualifier;
            Mm = mm;
            Address = address;
            PageSymbol = page;
            Start = start;
            End = end;
        }

        public string Qualifier { get; }

        public string Mm { get; }

        public string Address { get; }

        /// <summary>The <c>page</c> whose compound order sizes the range, or null: one small page.</summary>
        public ISymbol? PageSymbol { get; }

        public string Start { get; }

        public string End { get; }

        /// <summary>The start as the notification call passes it (null: aligned from <see cref="Address"/>).</summary>
        public string? StartText { get; set; }

        /// <summary>The end as the notification call passes it (null: start + size).</summary>
        public string? EndText { get; set; }

        /// <summary>The range's size where it is not a page's (<c>HPAGE_PMD_SIZE</c>).</summary>
        public string? Size { get; set; }

        /// <summary>The flag that says the start ran (seed 002's <c>mmun_called</c>).</summary>
        public string Called { get; set; } = "mmun_called";

        /// <summary>Set when the bracket needs <see cref="Called"/>.</summary>
        public bool DeclareCalled { get; set; }

        private string PageRangeSize => Size ?? (PageSymbol is null
            ? Qualifier + "PAGE_SIZE"
            : "(" + Qualifier + "PAGE_SIZE << " + Qualifier + "compound_order(" + PageSymbol.Name + "))");

        public StatementSyntax AssignStart() => Statement(StartText is not null
            ? Start + " = " + StartText + ";"
            : PageSymbol is null
                ? Start + " = " + Address + " & " + Qualifier + "PAGE_MASK;"
                : Start + " = " + Address + " & ~(" + PageRangeSize + " - 1);");

        public StatementSyntax AssignEnd() => Statement(EndText is not null
            ? End + " = " + EndText + ";"
            : End + " = " + Start + " + " + PageRangeSize + ";");

        public StatementSyntax SetCalled() => Statement(Called + " = true;");

        public StatementSyntax CallIfCalled(string function) =>
            Statement("if (" + Called + ")" + _newLine.ToFullString() + "    " + Qualifier + function + "(" + Mm + ", " + Start + ", " + End + ");");

        /// <summary><c>bool mmun_called = false; /* For mmu_notifiers */</c>.</summary>
        public StatementSyntax DeclareFlag() =>
            Statement("bool " + Called + " = false;").WithTrailingTrivia(
                SyntaxFactory.Whitespace(" "),
                SyntaxFactory.Comment("/* For mmu_notifiers */"),
                _newLine);

        public StatementSyntax Call(string function) => Statement(Qualifier + function + "(" + Mm + ", " + Start + ", " + End + ");");

        /// <summary><c>label:</c> on a line of its own over <paramref name="statement"/>, as the kernel writes <c>out_mn:</c>.</summary>
        public StatementSyntax Labeled(string label, StatementSyntax statement) =>
            SyntaxFactory.LabeledStatement(SyntaxFactory.Identifier(label), SyntaxFactory.Token(SyntaxKind.ColonToken).WithTrailingTrivia(_newLine), statement)
                .WithLeadingTrivia(SyntaxFactory.ElasticMarker)
                .WithAdditionalAnnotations(Formatter.Annotation);

        /// <summary><c>ulong mmun_start; /* For mmu_notifiers */</c>, the kernel's convention.</summary>
        public StatementSyntax Declare(string name, int spaces) =>
            Statement("ulong " + name + (DeclareCalled ? " = 0;" : ";")).WithTrailingTrivia(
                SyntaxFactory.Whitespace(new string(' ', spaces)),
                SyntaxFactory.Comment("/* For mmu_notifiers */"),
                _newLine);

        private StatementSyntax Statement(string text) =>
            SyntaxFactory.ParseStatement(text)
                .WithLeadingTrivia(SyntaxFactory.ElasticMarker)
                .WithTrailingTrivia(_newLine)
                .WithAdditionalAnnotations(Formatter.Annotation);
    }
}
