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
/// MMU005 for a call, under a spinlock, to a source method that wraps ONE page-table update with
/// notifier calls — the 2012 <c>ptep_clear_flush_notify</c> (update, then
/// <c>mmu_notifier_invalidate_page</c>) and <c>pmdp_clear_flush_notify</c> /
/// <c>pmdp_splitting_flush_notify</c> (start, update, end) that seed 004 removed. The wrapper is
/// recognised by its shape, not its name: locals copied from parameters, asserts
/// (<c>VM_BUG_ON</c>-like), one Kernel.Mm update call, the notifier calls on expressions of the
/// parameters, and a return of the update's value or nothing. The call site becomes the update
/// (arguments substituted, the result used as before); then
/// <list type="bullet">
/// <item>invalidate_page kind: MMU001's rewrite of an <c>invalidate_page</c> after the update
/// (start before the lock, <c>mmu_notifier_invalidate_range</c> under it, end on every exit);</item>
/// <item>start/end kind: the range is captured in mmun_ locals and moved out of the lock as
/// <see cref="SleepUnderSpinlockRangeMove"/> moves a written one, and the update becomes its
/// notifying form where the runtime has one (the wrapper invalidated right at the update, before
/// anything after the call could release the page; the moved end no longer does).</item>
/// </list>
/// Not offered when an argument at the call may have side effects (the wrapper evaluated it once,
/// the rewrite may use it several times), when the call's value is used other than as a
/// statement or a plain assignment, or when the resulting bracket cannot be proved (then the
/// inlined form is not produced either). The wrapper itself is left alone.
/// </summary>
internal static class SleepUnderSpinlockWrapper
{
    private static readonly string[] Asserts = { "VM_BUG_ON", "BUG_ON", "WARN_ON", "VM_WARN_ON" };

    public static async Task<(Document Document, string Title)?> TryInlineAsync(Document document, InvocationExpressionSyntax call, CancellationToken cancellationToken)
    {
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (model is null || root is null
            || model.GetSymbolInfo(call, cancellationToken).Symbol is not IMethodSymbol callee
            || callee.DeclaringSyntaxReferences.Length != 1
            || call.FirstAncestorOrSelf<StatementSyntax>() is not { Parent: BlockSyntax } statement
            || InvalidatePageCallRewriter.FunctionBody(statement) is not { } body
            || !(statement is ExpressionStatementSyntax { Expression: var expression }
                    && (expression == call || expression is AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression, Left: IdentifierNameSyntax } assignment && assignment.Right == call)
                || statement is LocalDeclarationStatementSyntax { Declaration.Variables: { Count: 1 } variables } && variables[0].Initializer?.Value == call)
            || call.ArgumentList.Arguments.Count != callee.Parameters.Length
            || call.ArgumentList.Arguments.Any(a => a.NameColon is not null || a.RefKindKeyword.RawKind != 0 || !SideEffectFree(a.Expression)))
        {
            return null;
        }

        var declaration = await callee.DeclaringSyntaxReferences[0].GetSyntaxAsync(cancellationToken).ConfigureAwait(false);
        if (declaration is not MethodDeclarationSyntax { Body: { } wrapperBody } wrapperMethod)
        {
            return null;
        }

        var wrapperModel = model.Compilation.GetSemanticModel(wrapperMethod.SyntaxTree);
        var shape = Recognise(wrapperModel, wrapperMethod, wrapperBody, KnownSymbols.Get(model.Compilation), cancellationToken);
        if (shape is null)
        {
            return null;
        }

        // The call's arguments, by parameter.
        var arguments = new Dictionary<IParameterSymbol, ExpressionSyntax>(SymbolEqualityComparer.Default);
        for (var i = 0; i < callee.Parameters.Length; i++)
        {
            arguments[callee.Parameters[i].OriginalDefinition] = call.ArgumentList.Arguments[i].Expression.WithoutTrivia();
        }

        string? Substitute(ExpressionSyntax expression) => SubstituteText(wrapperModel, expression, shape.Aliases, shape.Computed, arguments, cancellationToken);

        var update = Substitute(shape.Update);
        if (update is null)
        {
            return null;
        }

        // A fresh mark per fix: an earlier fix's mark may still be in the document.
        var marker = new SyntaxAnnotation("MMU005.Inlined");
        var updateExpression = SyntaxFactory.ParseExpression(update);
        var inlined = statement.ReplaceNode(call, updateExpression.WithTriviaFrom(call)).WithAdditionalAnnotations(Formatter.Annotation);
        // The notifier calls are written as the file reaches them: `using static Kernel.Mm.Linux`, else qualified.
        var qualifier = model.LookupSymbols(statement.SpanStart, name: "mmu_notifier_invalidate_range_start").IsEmpty ? "Kernel.Mm.Linux." : string.Empty;
        var name = callee.Name;
        if (shape.InvalidatePage is not null || shape.NotifiesAfterUpdate)
        {
            // invalidate_page(mm, address) after the update; or start/end after it, on a range
            // computed from the address (the wrapper as MMU001's fix leaves it, when that ran
            // first): the same invalidation of the page after the update.
            var notified = shape.InvalidatePage ?? shape.Start!;
            var mm = Substitute(notified.ArgumentList.Arguments[0].Expression);
            var address = Substitute(notified.ArgumentList.Arguments[1].Expression);
            if (mm is null || address is null)
            {
                return null;
            }

            if (shape.InvalidatePage is null
                && SyntaxFactory.ParseExpression(address) is var parsed
                && (parsed is ParenthesizedExpressionSyntax inner ? inner.Expression : parsed) is BinaryExpressionSyntax { RawKind: (int)SyntaxKind.BitwiseAndExpression } aligned
                && aligned.Right is IdentifierNameSyntax { Identifier.ValueText: "PAGE_MASK" } or MemberAccessExpressionSyntax { Name.Identifier.ValueText: "PAGE_MASK" })
            {
                address = aligned.Left.ToString(); // MMU001's rewrite aligns it again (to the compound page)
            }

            var notify = Statement(qualifier + "mmu_notifier_invalidate_page(" + mm + ", " + address + ");").WithAdditionalAnnotations(marker);
            var expanded = document.WithSyntaxRoot(Replace(root, statement, inlined, notify));
            var expandedRoot = await expanded.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            if (expandedRoot?.GetAnnotatedNodes(marker).OfType<ExpressionStatementSyntax>().FirstOrDefault() is not { } notifyStatement)
            {
                return null;
            }

            var bracketed = await InvalidatePageCallRewriter.TryBracketLockAsync(expanded, notifyStatement, cancellationToken).ConfigureAwait(false)
                ?? await TryBracketLoopAsync(expanded, notifyStatement, qualifier, mm, address, cancellationToken).ConfigureAwait(false);
            if (bracketed is null)
            {
                return null;
            }

            return (bracketed, "Replace " + name + " with " + shape.UpdateName + " and bracket the locked region with start/end, mmu_notifier_invalidate_range under the lock");
        }

        if (shape.Start is { } start && shape.End is { } end && !shape.NotifiesAfterUpdate)
        {
            var mm = Substitute(start.ArgumentList.Arguments[0].Expression);
            var from = Substitute(start.ArgumentList.Arguments[1].Expression);
            var to = Substitute(start.ArgumentList.Arguments[2].Expression);
            if (mm is null || from is null || to is null)
            {
                return null;
            }

            // The wrapper ended its range right after the update, so the page was invalidated before
            // anything after the call could release it (do_huge_pmd_wp_page's put_page under the
            // lock). Once the end moves after the unlock, the update itself must invalidate at once:
            // its notifying form, where the runtime has one (what 34ee645e83b6 wrote, and what
            // MMU010's fix would otherwise have to rewrite afterwards, an order dotnet format does
            // not keep when given several ids).
            var updateName = shape.UpdateName;
            if (wrapperModel.GetSymbolInfo(shape.Update, cancellationToken).Symbol is IMethodSymbol updater
                && Rules.PageReleasedBeforeInvalidationAnalyzer.NotifyingForm(updater) is { } notifying
                && Renamed(updateExpression, notifying) is { } notifyingExpression)
            {
                inlined = statement.ReplaceNode(call, notifyingExpression.WithTriviaFrom(call)).WithAdditionalAnnotations(Formatter.Annotation);
                updateName = notifying;
            }

            var taken = new HashSet<string>(body.Parent!.DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText));
            var startName = LocalNames.Fresh("mmun_start", taken);
            var endName = LocalNames.Fresh("mmun_end", taken);
            var open = Statement(qualifier + "mmu_notifier_invalidate_range_start(" + mm + ", " + startName + ", " + endName + ");").WithAdditionalAnnotations(marker);
            var expanded = document.WithSyntaxRoot(Replace(
                root,
                statement,
                Statement("ulong " + startName + " = " + from + ";"),
                Statement("ulong " + endName + " = " + to + ";"),
                open,
                inlined,
                Statement(qualifier + "mmu_notifier_invalidate_range_end(" + mm + ", " + startName + ", " + endName + ");")));
            var expandedRoot = await expanded.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            if (expandedRoot?.GetAnnotatedNodes(marker).OfType<ExpressionStatementSyntax>().FirstOrDefault() is not { Expression: InvocationExpressionSyntax openCall }
                || await SleepUnderSpinlockRangeMove.TryMoveAsync(expanded, openCall, cancellationToken).ConfigureAwait(false) is not { } moved)
            {
                return null;
            }

            return (moved.Apply(), "Replace " + name + " with " + updateName + " and move its start/end out of the spinlock");
        }

        return null;
    }

    /// <summary>
    /// The update runs once per iteration of <c>for (; a &lt; e; a += step)</c> under the lock
    /// (try_to_unmap_cluster): the range is the whole walk, <c>[a, e)</c> as it is before the
    /// lock, started before the lock and ended after the unlock that follows the loop, with
    /// <c>mmu_notifier_invalidate_range</c> for the page right after each update. Only when the
    /// page's address is the loop variable, neither bound is written anywhere else between the
    /// lock and the loop or in the loop, and nothing leaves the locked region but the loop's own
    /// break/continue.
    /// </summary>
    private static async Task<Document?> TryBracketLoopAsync(Document document, ExpressionStatementSyntax notify, string qualifier, string mm, string address, CancellationToken cancellationToken)
    {
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (model is null || root is null
            || InvalidatePageCallRewriter.FunctionBody(notify) is not { } body
            || notify.Ancestors().OfType<ForStatementSyntax>().FirstOrDefault() is not { } loop
            || loop.Parent is not BlockSyntax lockBlock
            || LockBracket.HeldAt(model, body, loop, cancellationToken) is not { } held
            || held.Block != lockBlock
            || loop.Declaration is not null || loop.Initializers.Count != 0
            || loop.Condition is not BinaryExpressionSyntax { RawKind: (int)SyntaxKind.LessThanExpression, Left: IdentifierNameSyntax first, Right: IdentifierNameSyntax bound }
            || first.Identifier.ValueText != address
            || loop.Incrementors.Count != 1
            || !(loop.Incrementors[0] is AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.AddAssignmentExpression, Left: IdentifierNameSyntax stepped } && stepped.Identifier.ValueText == address
                || loop.Incrementors[0] is PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PostIncrementExpression, Operand: IdentifierNameSyntax incremented } && incremented.Identifier.ValueText == address))
        {
            return null;
        }

        var from = lockBlock.Statements.IndexOf(held.Statement);
        var at = lockBlock.Statements.IndexOf(loop);
        var release = lockBlock.Statements.Skip(at + 1).FirstOrDefault(s => LockBracket.IsReleaseStatement(model, s, cancellationToken));
        if (release is null)
        {
            return null;
        }

        var to = lockBlock.Statements.IndexOf(release);
        var mmReads = LockBracket.Reads(new[] { SyntaxFactory.ParseExpression(mm) });
        var bounds = new HashSet<string> { address, bound.Identifier.ValueText };
        var before = lockBlock.Statements.Skip(from).Take(at - from).ToList();
        var after = lockBlock.Statements.Skip(at + 1).Take(to - at).ToList();
        if (LockBracket.WritesOrJumps(before, new HashSet<string>(bounds.Concat(mmReads)))
            || LockBracket.WritesOrJumps(new SyntaxNode[] { loop.Statement }.Concat(loop.Condition is null ? Enumerable.Empty<SyntaxNode>() : new[] { loop.Condition }), new HashSet<string>(bounds.Concat(mmReads)), jumps: false)
            || LockBracket.WritesOrJumps(after, new HashSet<string>(mmReads))
            || loop.Statement.DescendantNodes().Where(LockBracket.IsJump).Any(j => !(j is ContinueStatementSyntax or BreakStatementSyntax
                && j.Ancestors().FirstOrDefault(a => a is ForStatementSyntax or WhileStatementSyntax or DoStatementSyntax or ForEachStatementSyntax or SwitchStatementSyntax) == loop)))
        {
            return null;
        }

        var taken = new HashSet<string>(body.Parent!.DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText));
        var startName = LocalNames.Fresh("mmun_start", taken);
        var endName = LocalNames.Fresh("mmun_end", taken);
        var tracked = root.TrackNodes(notify, held.Statement, release);

        var current = tracked.GetCurrentNode(notify)!;
        var newLine = NewLine(release);
        tracked = tracked.ReplaceNode(current, Statement(qualifier + "mmu_notifier_invalidate_range(" + mm + ", " + address + ", " + address + " + " + qualifier + "PAGE_SIZE);")
            .WithTrailingTrivia(current.GetTrailingTrivia()));

        var unlock = tracked.GetCurrentNode(release)!;
        var block = (BlockSyntax)unlock.Parent!;
        tracked = tracked.ReplaceNode(block, block.WithStatements(block.Statements.Insert(
            block.Statements.IndexOf(unlock) + 1,
            Statement(qualifier + "mmu_notifier_invalidate_range_end(" + mm + ", " + startName + ", " + endName + ");").WithTrailingTrivia(newLine))));

        var acquisition = tracked.GetCurrentNode(held.Statement)!;
        var inserted = new[]
        {
            Statement("ulong " + startName + " = " + address + ";"),
            Statement("ulong " + endName + " = " + bound.Identifier.ValueText + ";"),
            Statement(qualifier + "mmu_notifier_invalidate_range_start(" + mm + ", " + startName + ", " + endName + ");").WithTrailingTrivia(newLine),
        };

        // A blank line that separated the acquisition from what came before now separates the start.
        var leading = acquisition.GetLeadingTrivia();
        var blank = leading.TakeWhile(t => t.IsKind(SyntaxKind.WhitespaceTrivia)).Count();
        if (blank < leading.Count && leading[blank].IsKind(SyntaxKind.EndOfLineTrivia))
        {
            var indentation = leading.Reverse().TakeWhile(t => t.IsKind(SyntaxKind.WhitespaceTrivia)).Reverse();
            inserted[0] = inserted[0].WithLeadingTrivia(SyntaxFactory.TriviaList(leading[blank]).AddRange(indentation));
            tracked = tracked.ReplaceNode(acquisition, acquisition.WithLeadingTrivia(leading.RemoveAt(blank)));
            acquisition = tracked.GetCurrentNode(held.Statement)!;
        }

        block = (BlockSyntax)acquisition.Parent!;
        tracked = tracked.ReplaceNode(block, block.WithStatements(block.Statements.InsertRange(block.Statements.IndexOf(acquisition), inserted)));
        return document.WithSyntaxRoot(tracked);
    }

    private static SyntaxNode Replace(SyntaxNode root, StatementSyntax statement, params StatementSyntax[] replacement)
    {
        var block = (BlockSyntax)statement.Parent!;
        var index = block.Statements.IndexOf(statement);

        // The file's own line break, not an elastic one: the formatter would drop a blank line after it.
        var newLine = NewLine(statement);
        for (var i = 0; i < replacement.Length; i++)
        {
            if (replacement[i].GetTrailingTrivia().All(t => t.HasAnnotation(SyntaxAnnotation.ElasticAnnotation)))
            {
                replacement[i] = replacement[i].WithTrailingTrivia(newLine);
            }
        }

        return root.ReplaceNode(block, block.WithStatements(block.Statements.RemoveAt(index).InsertRange(index, replacement)));
    }

    private static SyntaxTrivia NewLine(SyntaxNode node)
    {
        var newLine = node.GetTrailingTrivia().LastOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia));
        return newLine.IsKind(SyntaxKind.EndOfLineTrivia) ? newLine : SyntaxFactory.CarriageReturnLineFeed;
    }

    /// <summary>The wrapper's parts, or null when its body is not exactly the recognised shape.</summary>
    private static Shape? Recognise(SemanticModel model, MethodDeclarationSyntax method, BlockSyntax body, KnownSymbols symbols, CancellationToken cancellationToken)
    {
        var aliases = new Dictionary<ILocalSymbol, IParameterSymbol>(SymbolEqualityComparer.Default);
        var computed = new Dictionary<ILocalSymbol, ExpressionSyntax>(SymbolEqualityComparer.Default);
        ILocalSymbol? result = null;
        InvocationExpressionSyntax? update = null, page = null, start = null, end = null;
        var returnsResult = false;
        foreach (var statement in body.Statements)
        {
            switch (statement)
            {
                case LocalDeclarationStatementSyntax declaration:
                    foreach (var variable in declaration.Declaration.Variables)
                    {
                        if (model.GetDeclaredSymbol(variable, cancellationToken) is not ILocalSymbol local)
                        {
                            return null;
                        }

                        if (variable.Initializer is null)
                        {
                            continue;
                        }

                        if (model.GetSymbolInfo(variable.Initializer.Value, cancellationToken).Symbol is not IParameterSymbol parameter
                            || variable.Initializer.Value is not IdentifierNameSyntax)
                        {
                            return null;
                        }

                        aliases[local] = parameter;
                    }

                    break;
                case ExpressionStatementSyntax { Expression: InvocationExpressionSyntax invocation }:
                    var callee = model.GetSymbolInfo(invocation, cancellationToken).Symbol as IMethodSymbol;
                    if (callee is not null && Asserts.Contains(callee.Name) && update is null)
                    {
                        break;
                    }

                    if (KnownSymbols.Is(callee, symbols.InvalidatePage) && update is not null && page is null && start is null)
                    {
                        page = invocation;
                    }
                    else if (KnownSymbols.Is(callee, symbols.RangeStart) && start is null && page is null)
                    {
                        start = invocation;
                    }
                    else if (KnownSymbols.Is(callee, symbols.RangeEnd) && update is not null && start is not null && end is null)
                    {
                        end = invocation;
                    }
                    else if (IsUpdate(callee) && update is null && page is null)
                    {
                        update = invocation;
                    }
                    else
                    {
                        return null;
                    }

                    break;
                case ExpressionStatementSyntax { Expression: AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression, Left: IdentifierNameSyntax left, Right: InvocationExpressionSyntax right } }
                    when update is null && IsUpdate(model.GetSymbolInfo(right, cancellationToken).Symbol as IMethodSymbol)
                        && model.GetSymbolInfo(left, cancellationToken).Symbol is ILocalSymbol assigned && !aliases.ContainsKey(assigned):
                    update = right;
                    result = assigned;
                    break;
                case ExpressionStatementSyntax { Expression: AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression, Left: IdentifierNameSyntax left, Right: var value } }
                    when update is not null && start is null && page is null
                        && model.GetSymbolInfo(left, cancellationToken).Symbol is ILocalSymbol range
                        && !aliases.ContainsKey(range) && !computed.ContainsKey(range) && !SymbolEqualityComparer.Default.Equals(range, result)
                        && !value.DescendantNodesAndSelf().Any(n => n is InvocationExpressionSyntax or AssignmentExpressionSyntax):
                    // mmun_start = ___address & PAGE_MASK; (MMU001's fix of the wrapper itself)
                    computed[range] = value;
                    break;
                case ReturnStatementSyntax { Expression: null } when statement == body.Statements.Last():
                    break;
                case ReturnStatementSyntax { Expression: IdentifierNameSyntax returned } when statement == body.Statements.Last()
                    && result is not null && SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(returned, cancellationToken).Symbol, result):
                    returnsResult = true;
                    break;
                default:
                    return null;
            }
        }

        var returnsVoid = model.GetDeclaredSymbol(method, cancellationToken)?.ReturnsVoid == true;
        if (update is null || (returnsVoid ? result is not null : !returnsResult)
            || (page is null) == (start is null) || (start is null) != (end is null)
            || (page is not null && page.ArgumentList.Arguments.Count != 2)
            || (start is not null && (start.ArgumentList.Arguments.Count != 3 || end!.ArgumentList.Arguments.Count != 3
                || !SameValues(model, start, end, aliases, computed, cancellationToken))))
        {
            return null;
        }

        var updateName = (model.GetSymbolInfo(update, cancellationToken).Symbol as IMethodSymbol)?.Name ?? "the update";
        var after = start is not null && start.SpanStart > update.SpanStart;
        if (computed.Count > 0 && !after)
        {
            return null;
        }

        return new Shape(update, updateName, page, start, end, after, aliases, computed);

        bool IsUpdate(IMethodSymbol? candidate) =>
            candidate is not null && symbols.EntryUpdates.Contains(candidate.OriginalDefinition);
    }

    /// <summary>Start and end of the wrapper get the same values (same text once aliases are seen through).</summary>
    private static bool SameValues(
        SemanticModel model,
        InvocationExpressionSyntax start,
        InvocationExpressionSyntax end,
        Dictionary<ILocalSymbol, IParameterSymbol> aliases,
        Dictionary<ILocalSymbol, ExpressionSyntax> computed,
        CancellationToken cancellationToken)
    {
        var noArguments = new Dictionary<IParameterSymbol, ExpressionSyntax>(SymbolEqualityComparer.Default);
        for (var i = 0; i < 3; i++)
        {
            var a = SubstituteText(model, start.ArgumentList.Arguments[i].Expression, aliases, computed, noArguments, cancellationToken);
            var b = SubstituteText(model, end.ArgumentList.Arguments[i].Expression, aliases, computed, noArguments, cancellationToken);
            if (a is null || a != b)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The wrapper's <paramref name="expression"/> in the caller's terms: parameters (and locals
    /// copied from them) replaced by the call's arguments; null when it reads any other local.
    /// With no arguments given, parameters are written by name (to compare two expressions).
    /// </summary>
    private static string? SubstituteText(
        SemanticModel model,
        ExpressionSyntax expression,
        Dictionary<ILocalSymbol, IParameterSymbol> aliases,
        Dictionary<ILocalSymbol, ExpressionSyntax> computed,
        Dictionary<IParameterSymbol, ExpressionSyntax> arguments,
        CancellationToken cancellationToken)
    {
        var replacements = new Dictionary<SyntaxNode, SyntaxNode>();
        foreach (var name in expression.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>())
        {
            var symbol = model.GetSymbolInfo(name, cancellationToken).Symbol;
            if (symbol is ILocalSymbol range && computed.TryGetValue(range, out var value))
            {
                // A local computed from the parameters: its value, in the caller's terms.
                computed.Remove(range); // no cycles
                var text = SubstituteText(model, value, aliases, computed, arguments, cancellationToken);
                computed[range] = value;
                if (text is null)
                {
                    return null;
                }

                replacements[name] = SyntaxFactory.ParseExpression("(" + text + ")").WithTriviaFrom(name);
                continue;
            }

            var parameter = symbol switch
            {
                IParameterSymbol p => p,
                ILocalSymbol local when aliases.TryGetValue(local, out var aliased) => aliased,
                ILocalSymbol => null,
                _ => (IParameterSymbol?)null,
            };
            if (symbol is ILocalSymbol && parameter is null)
            {
                return null;
            }

            if (parameter is null)
            {
                continue;
            }

            if (arguments.Count == 0)
            {
                replacements[name] = SyntaxFactory.IdentifierName(parameter.Name).WithTriviaFrom(name);
                continue;
            }

            if (!arguments.TryGetValue(parameter.OriginalDefinition, out var argument))
            {
                return null;
            }

            // (__address) + HPAGE_PMD_SIZE: the parentheses of the macro stay only where needed.
            var target = name.Parent is ParenthesizedExpressionSyntax parenthesized ? (SyntaxNode)parenthesized : name;
            replacements[target] = (IsSimple(argument) || target.Parent is ArgumentSyntax ? argument : SyntaxFactory.ParenthesizedExpression(argument)).WithTriviaFrom(target);
        }

        var rewritten = expression.ReplaceNodes(replacements.Keys, (original, _) => replacements[original]);
        return rewritten.WithoutTrivia().ToFullString();
    }

    private static bool IsSimple(ExpressionSyntax expression) =>
        expression is IdentifierNameSyntax or MemberAccessExpressionSyntax or LiteralExpressionSyntax or ParenthesizedExpressionSyntax
            or ElementAccessExpressionSyntax
        || (expression is PostfixUnaryExpressionSyntax bang && bang.IsKind(SyntaxKind.SuppressNullableWarningExpression));

    /// <summary>Names, member accesses, literals, <c>x!</c>, arithmetic on them: evaluating them again changes nothing.</summary>
    private static bool SideEffectFree(ExpressionSyntax expression) => expression switch
    {
        IdentifierNameSyntax or LiteralExpressionSyntax => true,
        BinaryExpressionSyntax binary => !binary.IsKind(SyntaxKind.CoalesceExpression) && binary is not { RawKind: (int)SyntaxKind.AsExpression or (int)SyntaxKind.IsExpression }
            && SideEffectFree(binary.Left) && SideEffectFree(binary.Right),
        PrefixUnaryExpressionSyntax unary => (unary.IsKind(SyntaxKind.UnaryMinusExpression) || unary.IsKind(SyntaxKind.BitwiseNotExpression) || unary.IsKind(SyntaxKind.LogicalNotExpression))
            && SideEffectFree(unary.Operand),
        MemberAccessExpressionSyntax access => SideEffectFree(access.Expression),
        ParenthesizedExpressionSyntax parenthesized => SideEffectFree(parenthesized.Expression),
        PostfixUnaryExpressionSyntax bang when bang.IsKind(SyntaxKind.SuppressNullableWarningExpression) => SideEffectFree(bang.Operand),
        _ => false,
    };

    private static StatementSyntax Statement(string text) =>
        SyntaxFactory.ParseStatement(text)
            .WithLeadingTrivia(SyntaxFactory.ElasticMarker)
            .WithTrailingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed)
            .WithAdditionalAnnotations(Formatter.Annotation);

    private sealed class Shape
    {
        public Shape(
            InvocationExpressionSyntax update,
            string updateName,
            InvocationExpressionSyntax? invalidatePage,
            InvocationExpressionSyntax? start,
            InvocationExpressionSyntax? end,
            bool notifiesAfterUpdate,
            Dictionary<ILocalSymbol, IParameterSymbol> aliases,
            Dictionary<ILocalSymbol, ExpressionSyntax> computed)
        {
            NotifiesAfterUpdate = notifiesAfterUpdate;
            Computed = computed;
            Update = update;
            UpdateName = updateName;
            InvalidatePage = invalidatePage;
            Start = start;
            End = end;
            Aliases = aliases;
        }

        public InvocationExpressionSyntax Update { get; }

        public string UpdateName { get; }

        public InvocationExpressionSyntax? InvalidatePage { get; }

        public InvocationExpressionSyntax? Start { get; }

        public InvocationExpressionSyntax? End { get; }

        public Dictionary<ILocalSymbol, IParameterSymbol> Aliases { get; }

        /// <summary>Locals assigned from the parameters after the update (mmun_start / mmun_end).</summary>
        public Dictionary<ILocalSymbol, ExpressionSyntax> Computed { get; }

        /// <summary>Start and end both come after the update: an invalidation of what it changed.</summary>
        public bool NotifiesAfterUpdate { get; }
    }

    /// <summary><paramref name="update"/> calling <paramref name="name"/> instead (same receiver or qualifier, same arguments).</summary>
    private static ExpressionSyntax? Renamed(ExpressionSyntax update, string name) => update switch
    {
        InvocationExpressionSyntax { Expression: IdentifierNameSyntax callee } invocation =>
            invocation.WithExpression(callee.WithIdentifier(SyntaxFactory.Identifier(name).WithTriviaFrom(callee.Identifier))),
        InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax access } invocation =>
            invocation.WithExpression(access.WithName(SyntaxFactory.IdentifierName(name).WithTriviaFrom(access.Name))),
        _ => null,
    };
}
