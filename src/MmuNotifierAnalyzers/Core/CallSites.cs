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
/// callee's duty (MMU008's aligned parameter, MMU006/MMU009's range opened by the caller). Built
/// once per compilation, the first time a rule asks (code that never reaches such a question pays
/// nothing): the identifier tokens naming a source method; only the uses of an asked method's name
/// are bound. No I/O; cancellation is honoured and a cancelled build is not kept.
/// </summary>
internal sealed class CallSites
{
    private static readonly ConditionalWeakTable<Compilation, CallSites> Cache = new();

    private readonly Compilation _compilation;
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<SyntaxTree, SemanticModel> _models = new();
    private Dictionary<string, List<SimpleNameSyntax>>? _occurrences;

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
        var calls = new List<(IInvocationOperation, SemanticModel)>();
        if (!Occurrences(cancellationToken).TryGetValue(method.Name, out var names))
        {
            return calls;
        }

        var target = method.OriginalDefinition;
        foreach (var name in names)
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
                return null;
            }

            calls.Add((call, model));
        }

        return calls;
    }

    public SemanticModel Model(SyntaxTree tree) => _models.GetOrAdd(tree, t => _compilation.GetSemanticModel(t));

    private Dictionary<string, List<SimpleNameSyntax>> Occurrences(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_occurrences is not null)
            {
                return _occurrences;
            }
        }

        var names = new HashSet<string>(System.StringComparer.Ordinal);
        foreach (var symbol in _compilation.GetSymbolsWithName(_ => true, SymbolFilter.Member, cancellationToken))
        {
            if (symbol is IMethodSymbol { MethodKind: MethodKind.Ordinary } method)
            {
                names.Add(method.Name);
            }
        }

        var occurrences = new Dictionary<string, List<SimpleNameSyntax>>(System.StringComparer.Ordinal);
        foreach (var tree in _compilation.SyntaxTrees)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var token in tree.GetRoot(cancellationToken).DescendantTokens())
            {
                if (token.IsKind(SyntaxKind.IdentifierToken) && token.Parent is SimpleNameSyntax name && names.Contains(token.ValueText))
                {
                    if (!occurrences.TryGetValue(token.ValueText, out var list))
                    {
                        occurrences[token.ValueText] = list = new List<SimpleNameSyntax>();
                    }

                    list.Add(name);
                }
            }
        }

        lock (_gate)
        {
            return _occurrences ??= occurrences;
        }
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
