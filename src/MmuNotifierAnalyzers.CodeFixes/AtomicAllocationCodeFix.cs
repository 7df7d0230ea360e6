using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Editing;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Rules;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// An allocation that may sleep where sleeping is not allowed: under a spinlock (MMU005) or in an
/// atomic callback (MMU004). Offered only where the analyzer proved that the call sleeps because
/// of its constant gfp flags and nothing else (<see cref="FixContract.Allocation.GfpParameter"/>):
/// <list type="bullet">
/// <item>under a lock, the allocation moved right before the lock is taken, when it is a statement
/// of the block that takes the lock, nothing on the way can leave that block (the allocation
/// would leak), and what it reads is not written on the way (KVM's <c>mmu_topup_memory_caches</c>
/// before <c>spin_lock(&amp;kvm-&gt;mmu_lock)</c>);</item>
/// <item><c>GFP_KERNEL</c> replaced by <c>GFP_ATOMIC</c> when the other flags or'ed into it do not
/// allow reclaim either (amd_iommu_v2's <c>__get_pasid_state_ptr</c> under <c>dev_state-&gt;lock</c>).</item>
/// </list>
/// Nothing for a call that sleeps for any other reason (<c>mutex_lock</c> under a spinlock has no
/// mechanical repair).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AtomicAllocationCodeFix)), Shared]
public sealed class AtomicAllocationCodeFix : GuardedCodeFixProvider
{
    public const string MoveKey = "MMU005.MoveAllocationBeforeLock";
    public const string AtomicKey = "MMU.AllocateWithGfpAtomic";

    public override ImmutableArray<string> FixableDiagnosticIds =>
        ImmutableArray.Create(RuleIdentifiers.SleepUnderSpinlock, RuleIdentifiers.SleepInAtomicCallback);

    // Two allocations under one lock both move before it: applied one after another, as one by one.
    // The keys are two repairs of one diagnostic: Fix All applies the asked one where a diagnostic
    // offers it and the diagnostic's first repair elsewhere (an allocation that cannot move gets
    // GFP_ATOMIC), so one Fix All, and one dotnet format run, leaves no allocation unfixed.
    public override FixAllProvider GetFixAllProvider() =>
        FixAll((context, document, diagnostics) => SequentialFixAll.ApplyAsync(this, context, document, InSourceOrder(diagnostics).ToList()));

    protected override async Task RegisterAsync(CodeFixContext context)
    {
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(FixContract.Allocation.GfpParameter, out var text)
                || !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ordinal))
            {
                continue;
            }

            var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
            var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
            if (root is null || model is null || diagnostic.Location.SourceSpan.End > root.FullSpan.End
                || root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<InvocationExpressionSyntax>() is not { } call
                || call.Span != diagnostic.Location.SourceSpan
                || model.GetOperation(call, context.CancellationToken) is not IInvocationOperation invocation)
            {
                continue;
            }

            var gfp = invocation.Arguments.FirstOrDefault(a => a.Parameter?.Ordinal == ordinal && !a.IsImplicit)?.Syntax as ArgumentSyntax;
            if (gfp is null)
            {
                continue;
            }

            if (diagnostic.Id == RuleIdentifiers.SleepUnderSpinlock
                && FixContract.Proves(diagnostic, FixContract.SleepUnderSpinlock.LockAcquisition)
                && diagnostic.AdditionalLocations.Count > 0
                && MovePlan(model, root, call, diagnostic.AdditionalLocations[FixContract.SleepUnderSpinlock.AcquisitionLocation], context.CancellationToken) is { } move)
            {
                var document = context.Document;
                context.RegisterCodeFix(
                    Fix("Allocate before the lock is taken", document, async ct => await MoveAsync(document, move.Allocation, move.Acquire, ct).ConfigureAwait(false), MoveKey),
                    diagnostic);
            }

            if (AtomicFlags(model, gfp.Expression, context.CancellationToken) is { } replacements)
            {
                var document = context.Document;
                context.RegisterCodeFix(
                    Fix("Allocate with GFP_ATOMIC (it does not sleep; it may fail)", document, async ct => await ReplaceAsync(document, replacements, ct).ConfigureAwait(false), AtomicKey),
                    diagnostic);
            }
        }
    }

    /// <summary>
    /// The <c>GFP_KERNEL</c> leaves of an or of constant flags, when every other leaf forbids
    /// direct reclaim; each with the name that replaces it. Null when that is not the shape.
    /// </summary>
    private static List<(ExpressionSyntax Leaf, ExpressionSyntax Atomic)>? AtomicFlags(SemanticModel model, ExpressionSyntax flags, CancellationToken cancellationToken)
    {
        var linux = model.Compilation.GetTypeByMetadataName("Kernel.Mm.Linux");
        var kernel = linux?.GetMembers("GFP_KERNEL").OfType<IFieldSymbol>().FirstOrDefault();
        var atomic = linux?.GetMembers("GFP_ATOMIC").OfType<IFieldSymbol>().FirstOrDefault();
        var reclaim = linux?.GetMembers("__GFP_DIRECT_RECLAIM").OfType<IFieldSymbol>().FirstOrDefault();
        if (kernel is null || atomic is null || reclaim is not { HasConstantValue: true } || ToUInt64(reclaim.ConstantValue) is not ulong reclaimBit)
        {
            return null;
        }

        var leaves = new List<ExpressionSyntax>();
        if (!Leaves(flags, leaves))
        {
            return null;
        }

        var replacements = new List<(ExpressionSyntax, ExpressionSyntax)>();
        foreach (var leaf in leaves)
        {
            if (model.GetSymbolInfo(leaf, cancellationToken).Symbol is not IFieldSymbol { HasConstantValue: true } field)
            {
                return null;
            }

            if (SymbolEqualityComparer.Default.Equals(field, kernel))
            {
                ExpressionSyntax name = leaf is MemberAccessExpressionSyntax access
                    ? access.WithName(SyntaxFactory.IdentifierName("GFP_ATOMIC"))
                    : SyntaxFactory.IdentifierName("GFP_ATOMIC");
                name = name.WithTriviaFrom(leaf);

                // The new name must mean Linux.GFP_ATOMIC where it is written.
                if (!SymbolEqualityComparer.Default.Equals(model.GetSpeculativeSymbolInfo(leaf.SpanStart, name, SpeculativeBindingOption.BindAsExpression).Symbol, atomic))
                {
                    return null;
                }

                replacements.Add((leaf, name));
            }
            else if (ToUInt64(field.ConstantValue) is not ulong bits || (bits & reclaimBit) != 0)
            {
                return null;
            }
        }

        return replacements.Count > 0 ? replacements : null;
    }

    private static bool Leaves(ExpressionSyntax expression, List<ExpressionSyntax> leaves)
    {
        switch (expression)
        {
            case ParenthesizedExpressionSyntax parenthesized:
                return Leaves(parenthesized.Expression, leaves);
            case BinaryExpressionSyntax binary when binary.IsKind(SyntaxKind.BitwiseOrExpression):
                return Leaves(binary.Left, leaves) && Leaves(binary.Right, leaves);
            case IdentifierNameSyntax or MemberAccessExpressionSyntax:
                leaves.Add(expression);
                return true;
            default:
                return false;
        }
    }

    private static ulong? ToUInt64(object? value) => value switch
    {
        uint u => u,
        int i => unchecked((ulong)i),
        ulong ul => ul,
        long l => unchecked((ulong)l),
        _ => null,
    };

    private static async Task<Document?> ReplaceAsync(Document document, List<(ExpressionSyntax Leaf, ExpressionSyntax Atomic)> replacements, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return null;
        }

        var map = replacements.ToDictionary(r => (SyntaxNode)r.Leaf, r => (SyntaxNode)r.Atomic);
        return document.WithSyntaxRoot(root.ReplaceNodes(map.Keys, (original, _) => map[original]));
    }

    /// <summary>
    /// Where the allocation can go before the lock: it is a whole statement (<c>p = kmalloc(..)</c>,
    /// <c>var p = kmalloc(..)</c>, <c>kmalloc(..)</c>) of the block whose statement took the lock
    /// (the analysis's acquisition, re-found in the tree), with no label, jump or exit between the
    /// two, reading nothing written or declared there, and assigning nothing read there.
    /// </summary>
    private static (StatementSyntax Allocation, StatementSyntax Acquire)? MovePlan(SemanticModel model, SyntaxNode root, InvocationExpressionSyntax call, Location acquisition, CancellationToken cancellationToken)
    {
        if (acquisition.SourceTree != root.SyntaxTree || acquisition.SourceSpan.End > root.FullSpan.End)
        {
            return null;
        }

        var acquireNode = root.FindNode(acquisition.SourceSpan, getInnermostNodeForTie: true);
        var allocation = call.Parent switch
        {
            ExpressionStatementSyntax statement => statement,
            AssignmentExpressionSyntax { Parent: ExpressionStatementSyntax statement } assignment when assignment.Right == call => statement,
            EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax { Parent: VariableDeclarationSyntax { Variables.Count: 1, Parent: LocalDeclarationStatementSyntax statement } } } => (StatementSyntax)statement,
            CastExpressionSyntax { Parent: AssignmentExpressionSyntax { Parent: ExpressionStatementSyntax statement } } => statement,
            CastExpressionSyntax { Parent: EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax { Parent: VariableDeclarationSyntax { Variables.Count: 1, Parent: LocalDeclarationStatementSyntax statement } } } } => statement,
            _ => null,
        };
        if (allocation?.Parent is not BlockSyntax block)
        {
            return null;
        }

        var acquire = acquireNode.AncestorsAndSelf().OfType<StatementSyntax>().FirstOrDefault(s => s.Parent == block);
        if (acquire is null || acquire.SpanStart >= allocation.SpanStart || acquire is LabeledStatementSyntax
            || !acquire.DescendantNodesAndSelf().OfType<InvocationExpressionSyntax>().Any(i => i.Span == acquisition.SourceSpan))
        {
            return null;
        }

        var from = block.Statements.IndexOf(acquire);
        var to = block.Statements.IndexOf(allocation);
        var between = block.Statements.Skip(from).Take(to - from).ToList();

        // A way out between the lock and the allocation would leave the moved allocation behind.
        if (between.Any(s => s.DescendantNodesAndSelf(n => n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax))
                .Any(n => n is ReturnStatementSyntax or ThrowStatementSyntax or ThrowExpressionSyntax or GotoStatementSyntax or LabeledStatementSyntax
                    or YieldStatementSyntax or BreakStatementSyntax or ContinueStatementSyntax)))
        {
            return null;
        }

        var flow = model.AnalyzeDataFlow(between[0], between[between.Count - 1]);
        var own = model.AnalyzeDataFlow(allocation);
        if (flow is null || !flow.Succeeded || own is null || !own.Succeeded)
        {
            return null;
        }

        var declaredBetween = flow.VariablesDeclared;
        foreach (var read in own.ReadInside)
        {
            if (flow.WrittenInside.Contains(read, SymbolEqualityComparer.Default) || declaredBetween.Contains(read, SymbolEqualityComparer.Default))
            {
                return null;
            }
        }

        foreach (var written in own.WrittenInside)
        {
            if (flow.ReadInside.Contains(written, SymbolEqualityComparer.Default) || flow.WrittenInside.Contains(written, SymbolEqualityComparer.Default))
            {
                return null;
            }
        }

        // Anything else the allocation's arguments call runs earlier too: only constants, locals,
        // parameters, fields and the runtime's sizeof-like helpers are moved.
        if (call.ArgumentList.Arguments.Any(a => a.Expression.DescendantNodesAndSelf().Any(n => n is InvocationExpressionSyntax or AssignmentExpressionSyntax
                || n.IsKind(SyntaxKind.PostIncrementExpression) || n.IsKind(SyntaxKind.PreIncrementExpression)
                || n.IsKind(SyntaxKind.PostDecrementExpression) || n.IsKind(SyntaxKind.PreDecrementExpression))))
        {
            return null;
        }

        return (allocation, acquire);
    }

    private static async Task<Document?> MoveAsync(Document document, StatementSyntax allocation, StatementSyntax acquire, CancellationToken cancellationToken)
    {
        var editor = await DocumentEditor.CreateAsync(document, cancellationToken).ConfigureAwait(false);

        // The allocation keeps its comments; it takes the acquisition's indentation.
        var moved = allocation.WithLeadingTrivia(allocation.GetLeadingTrivia().Where(t => !t.IsKind(SyntaxKind.WhitespaceTrivia)))
            .WithAdditionalAnnotations(Formatter.Annotation);
        editor.RemoveNode(allocation, SyntaxRemoveOptions.KeepUnbalancedDirectives);
        editor.InsertBefore(acquire, moved);
        return editor.GetChangedDocument();
    }
}
