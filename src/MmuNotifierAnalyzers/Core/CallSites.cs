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
/// mmap_sem taken by the caller, MMU013's runners of a method that changes entries) or that follow a
/// call chain up to a notifier callback (MMU015). Each file's simple names are indexed the first time
/// a rule asks (MMU013's prefilter asks in every compilation that has an entry-changing API; code
/// that never reaches such a question pays nothing) and kept with its tree across compilations; only the uses of an asked
/// method's name are bound. No I/O; cancellation is honoured (a cancelled index is not kept).
/// </summary>
internal sealed class CallSites
{
    private static readonly ConditionalWeakTable<Compilation, CallSites> Cache = new();

    private readonly Compilation _compilation;
    private static readonly ConditionalWeakTable<SyntaxTree, Dictionary<string, List<SimpleNameSyntax>>> Names = new();

    private readonly ConcurrentDictionary<SyntaxTree, SemanticModel> _models = new();
    private Dictionary<string, List<SyntaxTree>>? _filesByName;
    private bool _filesReady;
    private object? _filesGate;

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
    public IReadOnlyList<(IInvocationOperation Call, SemanticModel Model)>? CallsTo(IMethodSymbol method, CancellationToken cancellationToken) =>
        Runners(method, followHandedGroups: false, cancellationToken);

    /// <summary>
    /// The calls during which <paramref name="method"/> runs: its invocations, and the calls a method
    /// group of it is handed to — as an argument, or in an object that is an argument or a local
    /// of the same body passed to a call (a page walk's <c>pmd_entry = clear_refs_pte_range</c>, run
    /// by <c>walk_page_range(..., clear_refs_walk)</c>). Null when some use is none of these (stored
    /// in a field, an ops table, returned: callers nobody can see).
    /// </summary>
    public IReadOnlyList<(IInvocationOperation Call, SemanticModel Model)>? Invokers(IMethodSymbol method, CancellationToken cancellationToken) =>
        Runners(method, followHandedGroups: true, cancellationToken);

    private IReadOnlyList<(IInvocationOperation Call, SemanticModel Model)>? Runners(IMethodSymbol method, bool followHandedGroups, CancellationToken cancellationToken)
    {
        var (calls, others) = Uses(method, followHandedGroups, cancellationToken);
        return others.Count > 0 ? null : calls;
    }

    /// <summary>
    /// Every use of <paramref name="method"/>: its invocations (and, with
    /// <paramref name="followHandedGroups"/>, the calls a method group of it is handed to, as
    /// <see cref="Invokers"/> says), and the names that refer to it otherwise (a method group
    /// assigned to an ops member or stored as a delegate), each with the model of its tree.
    /// </summary>
    public (List<(IInvocationOperation Call, SemanticModel Model)> Calls, List<(SimpleNameSyntax Name, SemanticModel Model)> Others) Uses(IMethodSymbol method, bool followHandedGroups, CancellationToken cancellationToken)
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

            if (InvocationOf(name) is { } invocation)
            {
                if (model.GetOperation(invocation, cancellationToken) is IInvocationOperation call)
                {
                    calls.Add((call, model));
                }
                else
                {
                    others.Add((name, model));
                }

                continue;
            }

            var carriers = followHandedGroups
                ? Carriers(model.GetOperation(name.Parent is MemberAccessExpressionSyntax access && access.Name == name ? access : name, cancellationToken))
                : null;
            if (carriers is null || carriers.Count == 0)
            {
                others.Add((name, model));
                continue;
            }

            calls.AddRange(carriers.Select(c => (c, model)));
        }

        return (calls, others);
    }

    /// <summary>The calls a method group is handed to (see <see cref="Invokers"/>), or null.</summary>
    internal static List<IInvocationOperation>? Carriers(IOperation? use)
    {
        var node = use;
        while (node?.Parent is IDelegateCreationOperation or IConversionOperation or IParenthesizedOperation)
        {
            node = node.Parent;
        }

        switch (node?.Parent)
        {
            case IArgumentOperation { Parent: IInvocationOperation call }:
                return new List<IInvocationOperation> { call };

            // new mm_walk { pmd_entry = f } / walk.pmd_entry = f: the object's carriers.
            case ISimpleAssignmentOperation { Parent: IObjectOrCollectionInitializerOperation { Parent: IObjectCreationOperation creation } }:
                return ObjectCarriers(creation);
            case ISimpleAssignmentOperation { Target: IMemberReferenceOperation { Instance: ILocalReferenceOperation local } } assignment:
                return LocalCarriers(assignment, local.Local);
            default:
                return null;
        }
    }

    private static List<IInvocationOperation>? ObjectCarriers(IOperation creation)
    {
        var node = creation;
        while (node.Parent is IConversionOperation)
        {
            node = node.Parent;
        }

        return node.Parent switch
        {
            IArgumentOperation { Parent: IInvocationOperation call } => new List<IInvocationOperation> { call },
            IVariableInitializerOperation { Parent: IVariableDeclaratorOperation declarator } => LocalCarriers(declarator, declarator.Symbol),
            ISimpleAssignmentOperation { Target: ILocalReferenceOperation local } assignment => LocalCarriers(assignment, local.Local),
            _ => null,
        };
    }

    /// <summary>The calls of the body holding <paramref name="at"/> that are passed <paramref name="local"/>.</summary>
    private static List<IInvocationOperation> LocalCarriers(IOperation at, ILocalSymbol local)
    {
        var root = at;
        while (root.Parent is not null)
        {
            root = root.Parent;
        }

        return root.Descendants().OfType<IInvocationOperation>()
            .Where(call => call.Arguments.Any(a => a.Value.DescendantsAndSelf().OfType<ILocalReferenceOperation>().Any(r => SymbolEqualityComparer.Default.Equals(r.Local, local))))
            .ToList();
    }

    public SemanticModel Model(SyntaxTree tree) => _models.GetOrAdd(tree, t => _compilation.GetSemanticModel(t));

    /// <summary>Every simple name spelling <paramref name="name"/> in the compilation (a syntactic prefilter).</summary>
    public IEnumerable<SimpleNameSyntax> Mentions(string name, CancellationToken cancellationToken) => Occurrences(name, cancellationToken);

    // The simple names spelling `name`, in the files that have one. A file's names are indexed once
    // and kept with the tree (an editor's next compilation shares every tree but the edited one);
    // which files spell a name is gathered once per compilation, so a question costs its answers,
    // not a look into every file (MMU013 asks for every method of a call chain).
    private IEnumerable<SimpleNameSyntax> Occurrences(string name, CancellationToken cancellationToken)
    {
        var files = LazyInitializer.EnsureInitialized(ref _filesByName, ref _filesReady, ref _filesGate, () => FilesByName(cancellationToken))!;
        if (!files.TryGetValue(name, out var trees))
        {
            yield break;
        }

        foreach (var tree in trees)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var occurrence in Names.GetValue(tree, t => Index(t, cancellationToken))[name])
            {
                yield return occurrence;
            }
        }
    }

    private Dictionary<string, List<SyntaxTree>> FilesByName(CancellationToken cancellationToken)
    {
        var files = new Dictionary<string, List<SyntaxTree>>(System.StringComparer.Ordinal);
        foreach (var tree in _compilation.SyntaxTrees)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var name in Names.GetValue(tree, t => Index(t, cancellationToken)).Keys)
            {
                if (!files.TryGetValue(name, out var list))
                {
                    files[name] = list = new List<SyntaxTree>();
                }

                list.Add(tree);
            }
        }

        return files;
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
