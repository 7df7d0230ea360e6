using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// Whether a method runs inside a notifier callback: it is, or is called (through the compilation's
/// own methods) from, a method assigned to a member of a Kernel.Mm <c>mmu_notifier_ops</c> table —
/// every callback the kernel invokes inside its SRCU read-side section. Walks callers up through
/// <see cref="CallSites"/> (the index the flow core's caller questions use), breadth first, so the
/// chain found is a shortest one: <c>release 'mn_release' → __unbind_pasid</c>.
/// </summary>
/// <remarks>
/// A method reached only through a delegate other than an ops member (a work item, a timer, a
/// lambda) runs later, outside the callback, and is not followed; neither is a call written in a
/// lambda that is not itself the ops member's value. Chains longer than <see cref="MaxDepth"/> calls
/// are not followed.
/// </remarks>
internal sealed class NotifierCallbackChains
{
    private const int MaxDepth = 16;

    private static readonly ConditionalWeakTable<Compilation, NotifierCallbackChains> Cache = new();

    // The 5.4 get/put scheme's constructor and destructor hooks run outside the SRCU section.
    private static readonly ImmutableHashSet<string> NotCallbacks = ImmutableHashSet.Create("alloc_notifier", "free_notifier");

    private readonly Compilation _compilation;
    private readonly KnownSymbols _symbols;
    private readonly ConcurrentDictionary<IMethodSymbol, ImmutableArray<string>> _chains = new(SymbolEqualityComparer.Default);

    private NotifierCallbackChains(Compilation compilation)
    {
        _compilation = compilation;
        _symbols = KnownSymbols.Get(compilation);
    }

    public static NotifierCallbackChains Get(Compilation compilation) =>
        Cache.GetValue(compilation, static c => new NotifierCallbackChains(c));

    /// <summary>
    /// The shortest chain from a notifier callback down to <paramref name="method"/>: the ops member
    /// with the callback first (<c>release 'mn_release'</c>), then each method called, ending with
    /// <paramref name="method"/>; empty when no callback reaches it.
    /// </summary>
    public ImmutableArray<string> ChainTo(IMethodSymbol method, CancellationToken cancellationToken) =>
        _symbols.MmuNotifierOps is null
            ? ImmutableArray<string>.Empty
            : _chains.GetOrAdd(method.OriginalDefinition, m => Search(m, cancellationToken));

    /// <summary>The ops member a lambda is the value of (<c>release = (mn, mm) =&gt; ...</c>), or null.</summary>
    public string? CallbackOf(AnonymousFunctionExpressionSyntax lambda, SemanticModel model, CancellationToken cancellationToken) =>
        _symbols.MmuNotifierOps is null ? null : OpsMemberOf(lambda, model, cancellationToken);

    private ImmutableArray<string> Search(IMethodSymbol method, CancellationToken cancellationToken)
    {
        var sites = CallSites.Get(_compilation);
        var parents = new Dictionary<IMethodSymbol, IMethodSymbol?>(SymbolEqualityComparer.Default) { [method] = null };
        var frontier = new List<IMethodSymbol> { method };
        for (var depth = 0; depth <= MaxDepth && frontier.Count > 0; depth++)
        {
            var next = new List<IMethodSymbol>();
            foreach (var current in frontier)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (calls, others) = sites.Uses(current, followHandedGroups: false, cancellationToken);
                foreach (var (name, model) in others)
                {
                    if (OpsMemberOf(name, model, cancellationToken) is { } member)
                    {
                        return Chain(member + " '" + current.Name + "'", parents[current], parents);
                    }
                }

                foreach (var (call, model) in calls)
                {
                    var function = call.Syntax.Ancestors().FirstOrDefault(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AnonymousFunctionExpressionSyntax or AccessorDeclarationSyntax);
                    if (function is AnonymousFunctionExpressionSyntax lambda)
                    {
                        if (OpsMemberOf(lambda, model, cancellationToken) is { } member)
                        {
                            return Chain(member + " lambda", current, parents);
                        }

                        continue;
                    }

                    if (function is not (BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax)
                        || model.GetDeclaredSymbol(function, cancellationToken) is not IMethodSymbol caller)
                    {
                        continue;
                    }

                    caller = caller.OriginalDefinition;
                    if (!parents.ContainsKey(caller))
                    {
                        parents[caller] = current;
                        next.Add(caller);
                    }
                }
            }

            frontier = next;
        }

        return ImmutableArray<string>.Empty;
    }

    private static ImmutableArray<string> Chain(string callback, IMethodSymbol? from, Dictionary<IMethodSymbol, IMethodSymbol?> parents)
    {
        var chain = ImmutableArray.CreateBuilder<string>();
        chain.Add(callback);
        for (var m = from; m is not null; m = parents[m])
        {
            chain.Add(m.Name);
        }

        return chain.ToImmutable();
    }

    // The ops member a method group or lambda is assigned to (`release = mn_release` in an
    // mmu_notifier_ops initializer), or null.
    private string? OpsMemberOf(SyntaxNode reference, SemanticModel model, CancellationToken cancellationToken)
    {
        SyntaxNode value = reference;
        while (value.Parent is MemberAccessExpressionSyntax access && access.Name == value
            || value.Parent is ParenthesizedExpressionSyntax or CastExpressionSyntax)
        {
            value = value.Parent;
        }

        if (value.Parent is not AssignmentExpressionSyntax assignment || assignment.Right != value
            || model.GetOperation(assignment, cancellationToken) is not IAssignmentOperation { Target: IPropertyReferenceOperation target }
            || !SymbolEqualityComparer.Default.Equals(target.Property.ContainingType?.OriginalDefinition, _symbols.MmuNotifierOps)
            || NotCallbacks.Contains(target.Property.Name))
        {
            return null;
        }

        return target.Property.Name;
    }
}
