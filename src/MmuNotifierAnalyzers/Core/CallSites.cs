using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// Every call of a source method in the compilation, for the rules that let a caller discharge a
/// callee's duty (MMU008's aligned parameter, MMU006/MMU009's range opened by the caller, MMU015's
/// mmap_sem taken by the caller, MMU013's runners of a method that changes entries) or that follow a
/// call chain up to a notifier callback (MMU015). Which names a file may spell is read from its
/// characters the first time a rule asks (MMU013's prefilter asks in every compilation that has an
/// entry-changing API; code that never reaches such a question pays nothing) and kept with its tree
/// across compilations, as is each asked name's occurrences; only the uses of an asked method's
/// name are bound. No I/O; cancellation is honoured (a cancelled scan is not kept).
/// </summary>
internal sealed class CallSites
{
    private static readonly ConditionalWeakTable<Compilation, CallSites> Cache = new();

    private static readonly ConditionalWeakTable<SyntaxTree, FileNames> Files = new();

    private readonly Compilation _compilation;
    private readonly ConcurrentDictionary<SyntaxTree, SemanticModel> _models = new();
    private FilesByHash? _index;
    private bool _indexReady;
    private object? _indexGate;

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
        foreach (var name in Mentions(new[] { method.Name }, cancellationToken))
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

    /// <summary>
    /// Every simple name spelling one of <paramref name="names"/> in the compilation (a syntactic
    /// prefilter), in file order. A file is read once for all the names it may spell and has not
    /// been asked yet: MMU013 asks for a whole level of a call chain at a time.
    /// </summary>
    public List<SimpleNameSyntax> Mentions(IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        // A file's run hashes are read once and kept with the tree (an editor's next compilation
        // shares every tree but the edited one); which files may spell a hash is gathered once per
        // compilation, so a question costs its answers, not a look into every file.
        var index = Index(cancellationToken);
        var byFile = new SortedDictionary<int, List<string>>();
        foreach (var name in names)
        {
            foreach (var ordinal in index.MaySpell(NameFinder.Hash(name)))
            {
                if (!byFile.TryGetValue(ordinal, out var spelled))
                {
                    byFile[ordinal] = spelled = new List<string>();
                }

                spelled.Add(name);
            }
        }

        // One finder for the question, however many files have not been asked some of its names.
        NameFinder? finder = null;
        var mentions = new List<SimpleNameSyntax>();
        var inFile = new List<SimpleNameSyntax>();
        foreach (var pair in byFile)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (tree, file) = index.Entry(pair.Key);
            inFile.Clear();
            foreach (var name in pair.Value)
            {
                if (!file.TryGetOccurrences(name, out var occurrences))
                {
                    occurrences = file.Find(tree, finder ??= new NameFinder(new HashSet<string>(names, System.StringComparer.Ordinal)), pair.Value, cancellationToken)[name];
                }

                inFile.AddRange(occurrences);
            }

            if (pair.Value.Count > 1)
            {
                inFile.Sort(static (x, y) => x.SpanStart.CompareTo(y.SpanStart));
            }

            mentions.AddRange(inFile);
        }

        return mentions;
    }

    private FilesByHash Index(CancellationToken cancellationToken) =>
        LazyInitializer.EnsureInitialized(ref _index, ref _indexReady, ref _indexGate, () => FilesByHash.Build(_compilation, cancellationToken))!;

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

    /// <summary>
    /// Which files of a compilation may spell a name, by the name's hash: each file's distinct run
    /// hashes (kept with its tree) gathered once, and the files that may spell any name. An editor
    /// forks the compilation at every keystroke, and gathering every run of every file again cost
    /// its edited document about 5 ms of 40 (4x corpus): a compilation whose files are those of the
    /// last one gathered in full, at the same places, but for a few, reads that gathering and asks
    /// the few files it changed themselves.
    /// </summary>
    private sealed class FilesByHash
    {
        /// <summary>Files that may differ from the last full gathering for it to be reused.</summary>
        private const int MaxChangedFiles = 8;

        /// <summary>The last index gathered in full (weakly: it must not keep a closed project's trees).</summary>
        private static readonly System.WeakReference<FilesByHash> LastGathered = new(null!);

        private readonly (SyntaxTree Tree, FileNames File)[] _files;

        // By hash, the files that spell it, of the gathering this index reads (its own or the last
        // full one); a file of _changed is not this compilation's file at that place.
        private readonly Dictionary<uint, List<int>> _byHash;
        private readonly int[] _changed;
        private readonly List<int> _anyName;

        private FilesByHash((SyntaxTree, FileNames)[] files, Dictionary<uint, List<int>> byHash, int[] changed, List<int> anyName)
        {
            _files = files;
            _byHash = byHash;
            _changed = changed;
            _anyName = anyName;
        }

        public static FilesByHash Build(Compilation compilation, CancellationToken cancellationToken)
        {
            var files = new List<(SyntaxTree, FileNames)>();
            var anyName = new List<int>();
            foreach (var tree in compilation.SyntaxTrees)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var file = Files.GetOrCreate(tree, cancellationToken, static (t, c) => FileNames.Read(t, c));
                if (file.MayDiffer)
                {
                    anyName.Add(files.Count);
                }

                files.Add((tree, file));
            }

            if (LastGathered.TryGetTarget(out var last) && last._files.Length == files.Count)
            {
                var changed = new List<int>();
                for (int i = 0; i < files.Count && changed.Count <= MaxChangedFiles; i++)
                {
                    if (!ReferenceEquals(last._files[i].Tree, files[i].Item1))
                    {
                        changed.Add(i);
                    }
                }

                if (changed.Count <= MaxChangedFiles)
                {
                    return new FilesByHash(files.ToArray(), last._byHash, changed.ToArray(), anyName);
                }
            }

            var byHash = new Dictionary<uint, List<int>>();
            for (int ordinal = 0; ordinal < files.Count; ordinal++)
            {
                var file = files[ordinal].Item2;
                if (file.MayDiffer)
                {
                    continue;
                }

                foreach (uint hash in file.Hashes)
                {
                    if (!byHash.TryGetValue(hash, out var list))
                    {
                        byHash[hash] = list = new List<int>(1);
                    }

                    list.Add(ordinal);
                }
            }

            var gathered = new FilesByHash(files.ToArray(), byHash, System.Array.Empty<int>(), anyName);
            LastGathered.SetTarget(gathered);
            return gathered;
        }

        public (SyntaxTree Tree, FileNames File) Entry(int ordinal) => _files[ordinal];

        /// <summary>The files (by ordinal) that may spell a name of <paramref name="hash"/>, in the compilation's order.</summary>
        public IReadOnlyList<int> MaySpell(uint hash)
        {
            var gathered = _byHash.TryGetValue(hash, out var list) ? list : null;
            if (_changed.Length == 0 && _anyName.Count == 0)
            {
                // No file differs from the gathering and none may spell anything: the gathered list
                // is the answer (a copy per question was 6 % more bytes over a whole analysis of the 4x corpus).
                return gathered ?? (IReadOnlyList<int>)System.Array.Empty<int>();
            }

            var found = new List<int>();
            if (gathered is not null)
            {
                foreach (int ordinal in gathered)
                {
                    if (System.Array.IndexOf(_changed, ordinal) < 0)
                    {
                        found.Add(ordinal);
                    }
                }
            }

            // A file that may spell any name is not in the gathering (of this compilation's files).
            found.AddRange(_anyName);
            foreach (int ordinal in _changed)
            {
                var file = _files[ordinal].File;
                if (!file.MayDiffer && System.Array.BinarySearch(file.Hashes, hash) >= 0)
                {
                    found.Add(ordinal);
                }
            }

            if (found.Count > 1)
            {
                found.Sort();
            }

            return found;
        }
    }

    /// <summary>
    /// The names one file may spell, as the sorted hashes of its identifier runs, and the simple
    /// names found so far for each name asked. A file where a run need not spell its token's value
    /// (an escape, a character outside ASCII) may spell any name.
    /// </summary>
    private sealed class FileNames
    {
        private readonly ConcurrentDictionary<string, List<SimpleNameSyntax>> _occurrences = new(System.StringComparer.Ordinal);

        private FileNames(uint[] hashes, bool mayDiffer)
        {
            Hashes = hashes;
            MayDiffer = mayDiffer;
        }

        /// <summary>The distinct hashes of the file's identifier runs, sorted.</summary>
        public uint[] Hashes { get; }

        /// <summary>Whether a run may not spell its token's value: then the file may spell any name.</summary>
        public bool MayDiffer { get; }

        // One list per thread for the runs of the file being read: only the distinct hashes are kept.
        [System.ThreadStatic]
        private static List<uint>? t_runs;

        public static FileNames Read(SyntaxTree tree, CancellationToken cancellationToken)
        {
            var runs = t_runs ??= new List<uint>();
            runs.Clear();
            var collector = new HashCollector(runs);
            bool escaped = NameFinder.ScanRuns(tree.GetText(cancellationToken), ref collector, cancellationToken);
            var hashes = collector.Hashes;
            hashes.Sort();
            int distinct = 0;
            for (int i = 0; i < hashes.Count; i++)
            {
                if (distinct == 0 || hashes[i] != hashes[distinct - 1])
                {
                    hashes[distinct++] = hashes[i];
                }
            }

            var kept = new uint[distinct];
            hashes.CopyTo(0, kept, 0, distinct);
            return new FileNames(kept, escaped || collector.NonAscii);
        }

        /// <summary>The simple names spelling <paramref name="name"/>, when this file has been asked it.</summary>
        public bool TryGetOccurrences(string name, out List<SimpleNameSyntax> occurrences) => _occurrences.TryGetValue(name, out occurrences!);

        /// <summary>Finds, in one read of the file, the simple names spelling each of
        /// <paramref name="names"/> (names the file may spell, all among what <paramref name="finder"/>
        /// looks for), and keeps them: every such name's list (empty for a name the file does not
        /// spell), as kept. Only those names are kept: a question's finder may look for many more,
        /// and a list per name per file read was most of what a whole level's question allocated.</summary>
        public Dictionary<string, List<SimpleNameSyntax>> Find(SyntaxTree tree, NameFinder finder, IEnumerable<string> names, CancellationToken cancellationToken)
        {
            var found = new Dictionary<string, List<SimpleNameSyntax>>(System.StringComparer.Ordinal);
            foreach (var name in names)
            {
                found[name] = new List<SimpleNameSyntax>();
            }

            foreach (var token in finder.Find(tree, cancellationToken))
            {
                if (token.Parent is SimpleNameSyntax simple && found.TryGetValue(token.ValueText, out var list))
                {
                    list.Add(simple);
                }
            }

            foreach (var name in names)
            {
                found[name] = _occurrences.GetOrAdd(name, found[name]);
            }

            return found;
        }
    }

    private struct HashCollector : NameFinder.IRunSink
    {
        public HashCollector(List<uint> hashes)
        {
            Hashes = hashes;
            NonAscii = false;
        }

        public List<uint> Hashes { get; }

        public bool NonAscii { get; private set; }

        public void Run(int start, int end, uint hash, bool ascii)
        {
            Hashes.Add(hash);
            NonAscii |= !ascii;
        }
    }
}
