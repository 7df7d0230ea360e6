using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using MmuNotifierAnalyzers.Core;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// MMU005 for the notifier's own start/end under a spinlock: the RANGE moves as a unit (seed 004).
/// The start (with the declarations right before it that it reads, e.g. MMU003's mmun_ locals)
/// goes right before the statement that took the lock; each end under the lock goes right after
/// the statement that releases it, or, when the function returns with the lock held
/// (<c>[MustHoldLock]</c>, hugetlb_cow), is wrapped in <c>spin_unlock; end; spin_lock</c> right
/// after the statement that holds it. Refused (null) whenever the move could change what the
/// calls see or unbalance the range: a statement jumped over writes what they read, jumps, or
/// declares it; the start sits in a loop; a start moved out of an <c>if</c> whose end is not in
/// that same block; an end inside a conditional whose start stays put.
/// </summary>
internal static class SleepUnderSpinlockRangeMove
{
    private const string CallerExpects = "/* Caller expects lock to be held */";

    public static bool IsRangeCall(SemanticModel model, InvocationExpressionSyntax call, CancellationToken cancellationToken)
    {
        var symbols = KnownSymbols.Get(model.Compilation);
        var method = model.GetSymbolInfo(call, cancellationToken).Symbol as IMethodSymbol;
        return KnownSymbols.Is(method, symbols.RangeStart) || KnownSymbols.Is(method, symbols.RangeEnd);
    }

    /// <summary>
    /// The move's rewrite (run when the action is applied: the plan decides whether one is offered)
    /// and the action's title, or null when no safe move exists.
    /// </summary>
    public static async Task<(System.Func<Document> Apply, string Title)?> TryMoveAsync(Document document, InvocationExpressionSyntax call, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || model is null
            || call.Parent is not ExpressionStatementSyntax { Parent: BlockSyntax } callStatement
            || InvalidatePageCallRewriter.FunctionBody(callStatement) is not { } body
            || call.ArgumentList.Arguments.Count != 3)
        {
            return null;
        }

        var symbols = KnownSymbols.Get(model.Compilation);
        var method = model.GetSymbolInfo(call, cancellationToken).Symbol as IMethodSymbol;
        var isStart = KnownSymbols.Is(method, symbols.RangeStart);
        if (!isStart && !KnownSymbols.Is(method, symbols.RangeEnd))
        {
            return null;
        }

        var mm = call.ArgumentList.Arguments[0].Expression;
        List<ExpressionStatementSyntax> Calls(System.Collections.Immutable.ImmutableHashSet<IMethodSymbol> set) =>
            LockBracket.OwnNodes(body).OfType<InvocationExpressionSyntax>()
                .Where(i => i.ArgumentList.Arguments.Count == 3
                    && i.ArgumentList.Arguments[0].Expression.IsEquivalentTo(mm)
                    && KnownSymbols.Is(model.GetSymbolInfo(i, cancellationToken).Symbol as IMethodSymbol, set))
                .Select(i => i.Parent as ExpressionStatementSyntax)
                .Where(s => s is not null)
                .ToList()!;
        var starts = Calls(symbols.RangeStart);
        var allEnds = Calls(symbols.RangeEnd);

        var start = isStart ? callStatement : starts.LastOrDefault(s => s.SpanStart < callStatement.SpanStart);
        List<ExpressionStatementSyntax> ends;
        if (start is null)
        {
            ends = new List<ExpressionStatementSyntax> { callStatement };
        }
        else
        {
            var next = starts.Where(s => s.SpanStart > start.SpanStart).Select(s => s.SpanStart).DefaultIfEmpty(int.MaxValue).Min();
            ends = allEnds.Where(e => e.SpanStart > start.SpanStart && e.SpanStart < next).ToList();
            if (!isStart && !ends.Contains(callStatement))
            {
                start = null;
                ends = new List<ExpressionStatementSyntax> { callStatement };
            }
        }

        var plan = new Plan(root);
        var heldStart = start is null ? null : LockBracket.HeldAt(model, body, start, cancellationToken);
        var nestedStart = false;
        if (heldStart is not null && start is not null)
        {
            if (!PlanHoist(model, body, start, heldStart, ends, plan, cancellationToken, out nestedStart))
            {
                return null;
            }
        }

        foreach (var end in ends)
        {
            if (!end.Parent.IsKind(SyntaxKind.Block) || LockBracket.HeldAt(model, body, end, cancellationToken) is not { } held)
            {
                if (nestedStart)
                {
                    return null; // the start leaves its if: this end must follow it out.
                }

                continue;
            }

            if (!PlanSink(model, body, end, held, nestedStart ? heldStart : null, start, plan, cancellationToken))
            {
                return null;
            }
        }

        if (!plan.HasMoves)
        {
            return null;
        }

        var title = plan.DroppedLock is null
            ? "Move the notifier range out of the spinlock (start before it is taken, end after it is released)"
            : "Move the notifier range out of the spinlock (drops '" + plan.DroppedLock + "' around the end and retakes it)";
        return (() => document.WithSyntaxRoot(plan.Apply()), title);
    }

    private static bool PlanHoist(
        SemanticModel model,
        BlockSyntax body,
        ExpressionStatementSyntax start,
        LockBracket.Held held,
        List<ExpressionStatementSyntax> ends,
        Plan plan,
        CancellationToken cancellationToken,
        out bool nested)
    {
        var lockBlock = held.Block;
        var top = LockBracket.Top(lockBlock, start);
        nested = top != start;
        if (!LockBracket.OnlyConditionals(start, lockBlock) || start.Parent is not BlockSyntax startBlock)
        {
            return false; // a start in a loop runs once per iteration: hoisting changes that.
        }

        // The declarations right before the start that it reads (mmun_start / mmun_end).
        var moved = new List<StatementSyntax> { start };
        var reads = LockBracket.Reads(new[] { start.Expression });
        for (var i = startBlock.Statements.IndexOf(start) - 1; i >= 0; i--)
        {
            if (startBlock.Statements[i] is not LocalDeclarationStatementSyntax declaration || declaration == held.Statement
                || !declaration.Declaration.Variables.Any(v => reads.Contains(v.Identifier.ValueText)))
            {
                break;
            }

            moved.Insert(0, declaration);
            reads.UnionWith(LockBracket.Reads(declaration.Declaration.Variables.Select(v => v.Initializer).Where(v => v is not null)!));
        }

        var declared = new HashSet<string>(moved.OfType<LocalDeclarationStatementSyntax>().SelectMany(d => d.Declaration.Variables).Select(v => v.Identifier.ValueText));
        reads.ExceptWith(declared);

        // Everything the start is moved over: the lock block from the acquisition, and on each
        // nested level the statements before it and the conditions that lead to it.
        var over = new List<SyntaxNode>();
        foreach (var (block, index) in LockBracket.Chain(start, lockBlock))
        {
            var from = block == lockBlock ? lockBlock.Statements.IndexOf(held.Statement) : 0;
            over.AddRange(block.Statements.Skip(from).Take(index - from).Where(s => !moved.Contains(s)));
        }

        over.AddRange(start.Ancestors().TakeWhile(a => a != lockBlock).OfType<IfStatementSyntax>().Select(i => i.Condition));
        if (LockBracket.WritesOrJumps(over, reads, jumps: false))
        {
            return false;
        }

        // A way out of the lock before the start (it now runs after the start) is only accepted as
        // `goto label` to `label: unlock(...);` used from nowhere else (do_huge_pmd_wp_page_fallback's
        // out_free_pages): the end then goes right after that unlock.
        var unlockExits = new List<StatementSyntax>();
        var exits = over.SelectMany(n => n.DescendantNodesAndSelf()).Where(LockBracket.IsJump).ToList();
        var unlockLabels = new List<LabeledStatementSyntax>();
        foreach (var exit in exits)
        {
            if (UnlockLabel(model, body, exit, over, cancellationToken) is not { } label || ends.Count != 1 || !ends[0].Parent.IsKind(SyntaxKind.Block))
            {
                return false;
            }

            if (!unlockLabels.Contains(label))
            {
                unlockLabels.Add(label);
            }
        }

        if (unlockLabels.Count > 0)
        {
            // The end there reads what it reads at its own place: nothing it reads may change in the function after the lock.
            var endReads = LockBracket.Reads(new[] { ends[0].Expression });
            endReads.ExceptWith(declared);
            if (LockBracket.WritesOrJumps(lockBlock.Statements.Skip(lockBlock.Statements.IndexOf(held.Statement)).Where(s => !moved.Contains(s)), endReads, jumps: false))
            {
                return false;
            }
        }

        // What the start reads must exist before the lock is taken.
        foreach (var name in moved.SelectMany(s => s.DescendantNodes()).OfType<IdentifierNameSyntax>())
        {
            if (model.GetSymbolInfo(name, cancellationToken).Symbol is ILocalSymbol local
                && !declared.Contains(local.Name)
                && local.DeclaringSyntaxReferences.Any(r => r.Span.Start >= held.Statement.SpanStart))
            {
                return false;
            }
        }

        if (nested)
        {
            // Out of an if: the start now runs on every path, so its end must too. One end, in the
            // same block after it, and no way out of the conditional in between.
            if (ends.Count != 1 || ends[0].Parent != startBlock || startBlock.Statements.IndexOf(ends[0]) < startBlock.Statements.IndexOf(start))
            {
                return false;
            }

            // Another branch that leaves (do_huge_pmd_wp_page: `spin_unlock; put_page; goto out;`)
            // now leaves with the range open: only when it unlocks first, and the end goes right
            // after that unlock. Jumps in the start's own block are checked with the moves.
            var endReads = LockBracket.Reads(new[] { ends[0].Expression });
            endReads.ExceptWith(declared);
            foreach (var exit in top.DescendantNodes().Where(LockBracket.IsJump).Where(j => !startBlock.Span.Contains(j.Span)))
            {
                if (exit is not (GotoStatementSyntax or ReturnStatementSyntax) || exit.Parent is not BlockSyntax exitBlock)
                {
                    return false;
                }

                var exitIndex = exitBlock.Statements.IndexOf((StatementSyntax)exit);
                var unlock = exitBlock.Statements.Take(exitIndex).LastOrDefault(s => LockBracket.IsReleaseStatement(model, s, cancellationToken));
                if (unlock is null
                    || LockBracket.WritesOrJumps(exitBlock.Statements.Skip(exitBlock.Statements.IndexOf(unlock) + 1).Take(exitIndex - exitBlock.Statements.IndexOf(unlock) - 1), endReads))
                {
                    return false;
                }

                unlockExits.Add(unlock);
            }

            // The declarations move to a wider scope: their names must be free there.
            var all = LockBracket.OwnNodes(body).OfType<VariableDeclaratorSyntax>().Select(v => v.Identifier.ValueText)
                .Concat(LockBracket.OwnNodes(body).OfType<SingleVariableDesignationSyntax>().Select(v => v.Identifier.ValueText))
                .Concat(LockBracket.OwnNodes(body).OfType<ParameterSyntax>().Select(p => p.Identifier.ValueText))
                .ToList();
            if (declared.Any(n => all.Count(a => a == n) > 1))
            {
                return false;
            }
        }

        plan.Hoist(moved, held.Statement, keepCommentsInPlace: nested && startBlock.Statements.IndexOf(moved[0]) == 0);
        foreach (var unlock in unlockLabels.Concat(unlockExits))
        {
            plan.CopyEnd(ends[0], unlock);
        }

        return true;
    }

    /// <summary>
    /// For <c>goto L</c> among <paramref name="over"/>: <c>L: unlock(...);</c> when every goto to L
    /// is among <paramref name="over"/> and L cannot be reached by falling into it. Else null.
    /// </summary>
    private static LabeledStatementSyntax? UnlockLabel(SemanticModel model, BlockSyntax body, SyntaxNode exit, List<SyntaxNode> over, CancellationToken cancellationToken)
    {
        if (exit is not GotoStatementSyntax { RawKind: (int)SyntaxKind.GotoStatement, Expression: IdentifierNameSyntax name })
        {
            return null;
        }

        var own = LockBracket.OwnNodes(body).ToList();
        var label = own.OfType<LabeledStatementSyntax>().FirstOrDefault(l => l.Identifier.ValueText == name.Identifier.ValueText);
        if (label is null || label.Parent is not BlockSyntax block || !LockBracket.IsReleaseStatement(model, label.Statement, cancellationToken))
        {
            return null;
        }

        var index = block.Statements.IndexOf(label);
        if (index == 0 || block.Statements[index - 1] is not (ReturnStatementSyntax or GotoStatementSyntax or ThrowStatementSyntax
            or LabeledStatementSyntax { Statement: ReturnStatementSyntax or GotoStatementSyntax or ThrowStatementSyntax }))
        {
            return null;
        }

        var gotos = own.OfType<GotoStatementSyntax>().Where(g => g.Expression is IdentifierNameSyntax target && target.Identifier.ValueText == name.Identifier.ValueText);
        return gotos.All(g => over.Any(o => o.Span.Contains(g.Span))) ? label : null;
    }

    private static bool PlanSink(
        SemanticModel model,
        BlockSyntax body,
        ExpressionStatementSyntax end,
        LockBracket.Held held,
        LockBracket.Held? movedStart,
        ExpressionStatementSyntax? start,
        Plan plan,
        CancellationToken cancellationToken)
    {
        var lockBlock = held.Block;
        var top = LockBracket.Top(lockBlock, end);
        var reads = LockBracket.Reads(new[] { end.Expression });
        if (top != end)
        {
            // An end inside a conditional leaves it only together with its start (same block).
            if (movedStart is null || movedStart.Statement != held.Statement || start?.Parent != end.Parent
                || !LockBracket.OnlyConditionals(end, lockBlock))
            {
                return false;
            }

            var after = new List<SyntaxNode>();
            foreach (var (block, index) in LockBracket.Chain(end, lockBlock))
            {
                if (block != lockBlock)
                {
                    after.AddRange(block.Statements.Skip(index + 1));
                }
            }

            if (LockBracket.WritesOrJumps(after, reads))
            {
                return false;
            }
        }

        var topIndex = lockBlock.Statements.IndexOf(top);
        for (var i = topIndex + 1; i < lockBlock.Statements.Count; i++)
        {
            var candidate = lockBlock.Statements[i];
            var release = candidate is LabeledStatementSyntax labeled ? labeled.Statement : candidate;
            if (LockBracket.IsReleaseStatement(model, release, cancellationToken))
            {
                if (LockBracket.WritesOrJumps(lockBlock.Statements.Skip(topIndex + 1).Take(i - topIndex - 1).Append(release), reads))
                {
                    return false;
                }

                if (candidate is LabeledStatementSyntax label
                    && !LockBracket.OwnNodes(body).OfType<GotoStatementSyntax>().Where(g => g.Expression is IdentifierNameSyntax target && target.Identifier.ValueText == label.Identifier.ValueText)
                        .All(g => g.SpanStart > held.Statement.Span.End && g.SpanStart < end.SpanStart))
                {
                    // `out_unlock: spin_unlock(...)` is also where an earlier locked region jumps, with no
                    // range open: the fall-through gets its own unlock, end, and a goto to the label after.
                    if (i + 1 >= lockBlock.Statements.Count || lockBlock.Statements[i + 1] is not LabeledStatementSyntax next)
                    {
                        return false;
                    }

                    plan.SinkBeforeSharedUnlock(end, label, top, next.Identifier.Text);
                    return true;
                }

                plan.Sink(end, candidate, dropLock: null);
                return true;
            }
        }

        // No release follows: the function returns with the lock held ([MustHoldLock], hugetlb_cow).
        // Seed 004 dropped it around the end and took it again; only for a plain spin_lock, and
        // only when no release of any lock comes later in the function.
        if (held.Call.ArgumentList.Arguments.Count != 1
            || model.GetSymbolInfo(held.Call, cancellationToken).Symbol is not IMethodSymbol { Name: "spin_lock" } taken
            || taken.ContainingType.GetMembers("spin_unlock").OfType<IMethodSymbol>().FirstOrDefault(m => LockBracket.LockKind(m) == 2 && m.Parameters.Length == 1) is null
            || LockBracket.OwnNodes(body).OfType<InvocationExpressionSyntax>().Any(i => i.SpanStart > end.SpanStart && LockBracket.LockKind(model, i, cancellationToken) == 2))
        {
            return false;
        }

        plan.Sink(end, top, dropLock: held.Call);
        return true;
    }

    /// <summary>Removals and insertions on the original tree, applied at once through tracked nodes.</summary>
    private sealed class Plan
    {
        private readonly SyntaxNode _root;
        private readonly List<StatementSyntax> _removed = new();
        private readonly List<(StatementSyntax Anchor, bool Before, List<StatementSyntax> Items)> _inserted = new();
        private readonly List<(StatementSyntax Node, SyntaxTriviaList Leading)> _retrivia = new();

        public Plan(SyntaxNode root) => _root = root;

        public bool HasMoves => _removed.Count > 0;

        public string? DroppedLock { get; private set; }

        public void Hoist(List<StatementSyntax> moved, StatementSyntax acquisition, bool keepCommentsInPlace)
        {
            var items = moved.Select(s => (StatementSyntax)s.WithAdditionalAnnotations(Formatter.Annotation)).ToList();
            if (keepCommentsInPlace && moved[0].GetLeadingTrivia().Any(IsComment)
                && moved[moved.Count - 1].Parent is BlockSyntax block && block.Statements.IndexOf(moved[moved.Count - 1]) + 1 < block.Statements.Count)
            {
                // "/* Break COW */" opening the if describes the block, not the notifier call.
                var next = block.Statements[block.Statements.IndexOf(moved[moved.Count - 1]) + 1];
                var nextLeading = next.GetLeadingTrivia().All(t => t.IsKind(SyntaxKind.WhitespaceTrivia))
                    ? moved[0].GetLeadingTrivia()
                    : moved[0].GetLeadingTrivia().AddRange(next.GetLeadingTrivia().SkipWhile(t => t.IsKind(SyntaxKind.WhitespaceTrivia)));
                _retrivia.Add((next, nextLeading));
                items[0] = items[0].WithLeadingTrivia(Indentation(moved[0]));
            }

            // A blank line that separated the acquisition from what came before now separates the start.
            var leading = acquisition.GetLeadingTrivia();
            var blank = leading.TakeWhile(t => t.IsKind(SyntaxKind.WhitespaceTrivia)).Count();
            if (blank < leading.Count && leading[blank].IsKind(SyntaxKind.EndOfLineTrivia))
            {
                // The statement's own old indentation: the formatter shifts its continuation lines by the difference.
                var own = items[0].GetLeadingTrivia().Any(IsComment) ? items[0].GetLeadingTrivia()
                    : Indentation(moved[0]).Count > 0 ? Indentation(moved[0]) : Indentation(acquisition);
                items[0] = items[0].WithLeadingTrivia(own.Insert(0, leading[blank]));
                _retrivia.Add((acquisition, leading.RemoveAt(blank)));
            }

            _removed.AddRange(moved);
            _inserted.Add((acquisition, true, items));
        }

        public void Sink(ExpressionStatementSyntax end, StatementSyntax after, InvocationExpressionSyntax? dropLock)
        {
            var moved = end.WithAdditionalAnnotations(Formatter.Annotation);
            var items = new List<StatementSyntax>();
            if (dropLock is not null)
            {
                var prefix = dropLock.Expression is MemberAccessExpressionSyntax access ? access.Expression.WithoutTrivia().ToString() + "." : string.Empty;
                var lockText = dropLock.ArgumentList.Arguments[0].Expression.WithoutTrivia().ToString();
                DroppedLock = lockText;
                // Explicit trivia: elastic trivia after a block's '}' makes the formatter add a blank line.
                var indentation = Indentation(after);
                var newLine = end.GetTrailingTrivia().LastOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia));
                if (!newLine.IsKind(SyntaxKind.EndOfLineTrivia))
                {
                    newLine = SyntaxFactory.CarriageReturnLineFeed;
                }

                items.Add(SyntaxFactory.ParseStatement(prefix + "spin_unlock(" + lockText + ");").WithLeadingTrivia(indentation).WithTrailingTrivia(newLine));
                items.Add(moved.WithLeadingTrivia(Indentation(end)));
                items.Add(SyntaxFactory.ParseStatement(prefix + "spin_lock(" + lockText + ");")
                    .WithLeadingTrivia(indentation.Add(SyntaxFactory.Comment(CallerExpects)).Add(newLine).AddRange(indentation))
                    .WithTrailingTrivia(newLine));
            }
            else
            {
                items.Add(moved);
            }

            _removed.Add(end);
            _inserted.Add((after, false, items));
        }

        /// <summary>Before <c>L: unlock;</c>: <c>unlock; end; goto next;</c> (what falling into L did, and the end).</summary>
        public void SinkBeforeSharedUnlock(ExpressionStatementSyntax end, LabeledStatementSyntax label, StatementSyntax sibling, string next)
        {
            var indentation = Indentation(sibling); // a label's own is outdented
            var newLine = end.GetTrailingTrivia().LastOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia));
            if (!newLine.IsKind(SyntaxKind.EndOfLineTrivia))
            {
                newLine = SyntaxFactory.CarriageReturnLineFeed;
            }

            var items = new List<StatementSyntax>
            {
                label.Statement.WithLeadingTrivia(indentation).WithTrailingTrivia(newLine),
                end.WithLeadingTrivia(Indentation(end)).WithAdditionalAnnotations(Formatter.Annotation),
                SyntaxFactory.ParseStatement("goto " + next + ";").WithLeadingTrivia(indentation).WithTrailingTrivia(newLine),
            };
            _removed.Add(end);
            _inserted.Add((label, true, items));
        }

        /// <summary>A copy of <paramref name="end"/> right after <paramref name="label"/>'s unlock.</summary>
        public void CopyEnd(ExpressionStatementSyntax end, StatementSyntax label) =>
            _inserted.Add((label, false, new List<StatementSyntax> { end.WithLeadingTrivia(Indentation(end)).WithAdditionalAnnotations(Formatter.Annotation) }));

        public SyntaxNode Apply()
        {
            var anchors = _inserted.Select(i => i.Anchor).Concat(_retrivia.Select(r => r.Node)).Concat(_removed).Distinct().ToList();
            var root = _root.TrackNodes(anchors);
            foreach (var (node, leading) in _retrivia)
            {
                var current = root.GetCurrentNode(node)!;
                root = root.ReplaceNode(current, current.WithLeadingTrivia(leading).WithAdditionalAnnotations(Formatter.Annotation));
            }

            // Insertions before removals: an end wrapped in unlock/lock where it stands (a function
            // that returns with the lock held) is its own anchor.
            foreach (var (anchor, before, items) in _inserted)
            {
                var current = root.GetCurrentNode(anchor)!;
                var block = (BlockSyntax)current.Parent!;
                var index = block.Statements.IndexOf(current) + (before ? 0 : 1);
                root = root.ReplaceNode(block, block.WithStatements(block.Statements.InsertRange(index, items)));
            }

            foreach (var removed in _removed)
            {
                var current = root.GetCurrentNode(removed)!;
                var block = (BlockSyntax)current.Parent!;
                root = root.ReplaceNode(block, block.WithStatements(block.Statements.Remove(current)));
            }

            return root;
        }

        /// <summary>The statement's own indentation, without its comments (the formatter shifts continuation lines by it).</summary>
        private static SyntaxTriviaList Indentation(StatementSyntax statement) =>
            SyntaxFactory.TriviaList(statement.GetLeadingTrivia().Reverse()
                .TakeWhile(t => t.IsKind(SyntaxKind.WhitespaceTrivia)).Reverse()
                .Where(t => !t.HasAnnotation(SyntaxAnnotation.ElasticAnnotation)));

        private static bool IsComment(SyntaxTrivia trivia) =>
            trivia.IsKind(SyntaxKind.SingleLineCommentTrivia) || trivia.IsKind(SyntaxKind.MultiLineCommentTrivia);
    }
}
