using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// Every call of a source method in the compilation, for the rules that let a caller discharge a
/// callee's duty (MMU008's aligned parameter, MMU006/MMU009's range opened by the caller, MMU015's
/// mmap_sem taken by the caller) or that follow a call chain up to a notifier callback (MMU015). Each
/// file's simple names are indexed the first time a rule asks (code that never reaches such a
/// question pays nothing) and kept with its tree across compilations; only the uses of an asked
/// method's name are bound. No I/O; cancellation is honoured (a cancelled index is not kept).
/// </summary>
internal sealed class CallSites
{
    private static readonly ConditionalWeakTable<Compilation, CallSites> Cache = new();

    private readonly Compilation _compilation;
    private static readonly ConditionalWeakTable<SyntaxTree, Dictionary<string, List<SimpleNameSyntax>>> Names = new();

    private readonly ConcurrentDictionary<SyntaxTree, SemanticModel> _models = new();

    private CallSites(Compilation compilation)
    {
        _compilation = compilation;
    }

    public static CallSites Get(Compilation compilation) => Cache.GetValue(compilation, c => new CallSites(c));

    /// <summary>
    /// The invocations of <paramref name="method"/>, with the model of their tree; null when the
    /// method is used other than by a call (a method group for an ops member or a delegate: callers
    /// nobody can see).
    /// </summary>
    public IReadOnlyList<(IInvocationOperation Call, SemanticModel Model)>? CallsTo(IMethodSymbol method, CancellationToken cancellationToken)
    {
        var (calls, others) = Uses(method, cancellationToken);
        return others.Count > 0 ? null : calls;
    }

    /// <summary>
    /// Every use of <paramref name="method"/>: its invocations, and the names that refer to it other
    /// than by a call (a method group assigned to an ops member or passed as a delegate), each with
    /// the model of its tree.
    /// </summary>
    public (List<(IInvocationOperation Call, SemanticModel Model)> Calls, List<(SimpleNameSyntax Name, SemanticModel Model)> Others) Uses(IMethodSymbol method, CancellationToken cancellationToken)
    {
        var calls = new List<(IInvocationOperation, SemanticModel)>();
        var others = new List<(SimpleNameSyntax, SemanticModel)>();
        var target = method.OriginalDefinition;
        foreach (var name in Occurrences(method.Name, cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var model = Model(name.SyntaxTree);
            var info = model.GetSymbolInfo(name, cancellationToken);
            var symbol = info.Symbol ?? (info.CandidateSymbols.Length == 1 ? info.CandidateSymbols[0] : null);
            if (symbol is not IMethodSymbol referenced || !SymbolEqualityComparer.Default.Equals(referenced.OriginalDefinition, target)
                || IsInNameof(name))
            {
                continue;
            }

            if (InvocationOf(name) is not { } invocation || model.GetOperation(invocation, cancellationToken) is not IInvocationOperation call)
            {
                others.Add((name, model));
                continue;
            }

            calls.Add((call, model));
        }

        return (calls, others);
    }

    public SemanticModel Model(SyntaxTree tree) => _models.GetOrAdd(tree, t => _compilation.GetSemanticModel(t));

    // The simple names spelling `name`, file by file. A file's names are indexed once and kept with
    // the tree: an editor's next compilation shares every tree but the edited one.
    private IEnumerable<SimpleNameSyntax> Occurrences(string name, CancellationToken cancellationToken)
    {
        foreach (var tree in _compilation.SyntaxTrees)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Names.GetValue(tree, t => Index(t, cancellationToken)).TryGetValue(name, out var names))
            {
                foreach (var occurrence in names)
                {
                    yield return occurrence;
                }
            }
        }
    }

    private static Dictionary<string, List<SimpleNameSyntax>> Index(SyntaxTree tree, CancellationToken cancellationToken)
    {
        var occurrences = new Dictionary<string, List<SimpleNameSyntax>>(System.StringComparer.Ordinal);
        foreach (var token in tree.GetRoot(cancellationToken).DescendantTokens())
        {
            if (token.IsKind(SyntaxKind.IdentifierToken) && token.Parent is SimpleNameSyntax name)
            {
                if (!occurrences.TryGetValue(token.ValueText, out var list))
                {
                    occurrences[token.ValueText] = list = new List<SimpleNameSyntax>();
                }

                list.Add(name);
            }
        }

        return occurrences;
    }

    private static InvocationExpressionSyntax? InvocationOf(SyntaxNode name)
    {
        SyntaxNode expression = name;
        if (name.Parent is MemberAccessExpressionSyntax access && access.Name == name)
        {
            expression = access;
        }
        else if (name.Parent is MemberBindingExpressionSyntax binding && binding.Name == name)
        {
            expression = binding;
        }

        return expression.Parent is InvocationExpressionSyntax invocation && invocation.Expression == expression ? invocation : null;
    }

    private static bool IsInNameof(SyntaxNode node) =>
        node.Ancestors().OfType<InvocationExpressionSyntax>().Any(i => i.Expression is IdentifierNameSyntax { Identifier.ValueText: "nameof" });
}
