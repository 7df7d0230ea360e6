using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace MmuNotifierAnalyzers.Core.Sleep;

/// <summary>
/// The .NET APIs that block the calling thread, resolved by symbol once per compilation: a
/// user's own <c>Sleep</c> or <c>Wait</c> is not one of them. Spinning (<c>SpinWait</c>,
/// <c>Thread.SpinWait</c>, <c>SpinLock</c>) is not sleeping and is not listed.
/// </summary>
internal sealed class BlockingApis
{
    private readonly Dictionary<IMethodSymbol, string> _methods = new(SymbolEqualityComparer.Default);

    // Virtual I/O methods (Stream.Read, TextWriter.Write, ...): their overrides in referenced
    // assemblies block too, except on the in-memory types below.
    private readonly Dictionary<IMethodSymbol, string> _virtualRoots = new(SymbolEqualityComparer.Default);
    private readonly HashSet<INamedTypeSymbol> _inMemoryTypes = new(SymbolEqualityComparer.Default);
    private readonly Compilation _compilation;

    public BlockingApis(Compilation compilation)
    {
        _compilation = compilation;
        const string blocks = SleepReasons.Blocks;
        const string io = SleepReasons.SynchronousIo;

        Add("System.Threading.Thread", blocks, "Sleep", "Join", "Yield");
        Add("System.Threading.Monitor", blocks, "Enter", "Wait");
        AddWithTimeout("System.Threading.Monitor", "TryEnter");
        Add("System.Threading.Lock", blocks, "Enter", "EnterScope");
        AddWithTimeout("System.Threading.Lock", "TryEnter");
        Add("System.Threading.Tasks.Task", blocks, "Wait", "WaitAll", "WaitAny", "RunSynchronously");
        Add("System.Threading.Tasks.Task`1", blocks, "get_Result");
        Add("System.Threading.Tasks.ValueTask`1", blocks, "get_Result");
        Add("System.Runtime.CompilerServices.TaskAwaiter", blocks, "GetResult");
        Add("System.Runtime.CompilerServices.TaskAwaiter`1", blocks, "GetResult");
        Add("System.Runtime.CompilerServices.ConfiguredTaskAwaitable+ConfiguredTaskAwaiter", blocks, "GetResult");
        Add("System.Runtime.CompilerServices.ConfiguredTaskAwaitable`1+ConfiguredTaskAwaiter", blocks, "GetResult");
        Add("System.Threading.WaitHandle", blocks, "WaitOne", "WaitAll", "WaitAny", "SignalAndWait");
        Add("System.Threading.SemaphoreSlim", blocks, "Wait");
        Add("System.Threading.ManualResetEventSlim", blocks, "Wait");
        Add("System.Threading.CountdownEvent", blocks, "Wait");
        Add("System.Threading.Barrier", blocks, "SignalAndWait");
        Add("System.Threading.ReaderWriterLockSlim", blocks, "EnterReadLock", "EnterWriteLock", "EnterUpgradeableReadLock", "TryEnterReadLock", "TryEnterWriteLock", "TryEnterUpgradeableReadLock");
        Add("System.Threading.ReaderWriterLock", blocks, "AcquireReaderLock", "AcquireWriterLock", "UpgradeToWriterLock");
        Add("System.Threading.Tasks.Parallel", blocks, "For", "ForEach", "Invoke");
        Add("System.Collections.Concurrent.BlockingCollection`1", blocks, "Add", "Take", "AddToAny", "TakeFromAny", "CompleteAdding");
        Add("System.Diagnostics.Process", blocks, "WaitForExit", "WaitForInputIdle");
        Add("System.GC", blocks, "WaitForPendingFinalizers");
        Add("System.Console", io, "Read", "ReadLine", "ReadKey", "Write", "WriteLine");
        AddAllSynchronous("System.IO.File", io);
        AddAllSynchronous("System.IO.Directory", io);
        Add("System.Net.Sockets.Socket", io, "Accept", "Connect", "Receive", "ReceiveFrom", "Send", "SendTo", "Poll", "Select");
        Add("System.Net.Http.HttpClient", io, "Send");

        AddVirtual("System.IO.Stream", "Read", "ReadByte", "ReadExactly", "ReadAtLeast", "Write", "WriteByte", "Flush", "CopyTo");
        AddVirtual("System.IO.TextReader", "Read", "ReadLine", "ReadToEnd", "ReadBlock", "Peek");
        AddVirtual("System.IO.TextWriter", "Write", "WriteLine", "Flush");
        AddInMemory("System.IO.MemoryStream");
        AddInMemory("System.IO.UnmanagedMemoryStream");
        AddInMemory("System.IO.StringReader");
        AddInMemory("System.IO.StringWriter");
    }

    /// <summary>True when <paramref name="method"/> (an original definition) is a blocking .NET API.</summary>
    public bool IsBlocking(IMethodSymbol method, out string reason)
    {
        if (_methods.TryGetValue(method, out var found))
        {
            reason = found;
            return true;
        }

        // An override in a referenced assembly (FileStream.Read, StreamWriter.Write): it blocks
        // unless the type only moves memory. Source overrides are analyzed as source instead.
        if (method.IsOverride && !IsSource(method) && !IsInMemory(method.ContainingType))
        {
            for (var overridden = method.OverriddenMethod; overridden is not null; overridden = overridden.OverriddenMethod)
            {
                if (_virtualRoots.TryGetValue(overridden.OriginalDefinition, out found))
                {
                    reason = found;
                    return true;
                }
            }
        }

        if (_virtualRoots.TryGetValue(method, out found) && !IsInMemory(method.ContainingType))
        {
            reason = found;
            return true;
        }

        reason = string.Empty;
        return false;
    }

    private bool IsSource(IMethodSymbol method) =>
        SymbolEqualityComparer.Default.Equals(method.ContainingAssembly, _compilation.Assembly);

    private bool IsInMemory(INamedTypeSymbol? type)
    {
        for (var t = type; t is not null; t = t.BaseType)
        {
            if (_inMemoryTypes.Contains(t.OriginalDefinition))
            {
                return true;
            }
        }

        return false;
    }

    private void Add(string metadataName, string reason, params string[] names)
    {
        var type = _compilation.GetTypeByMetadataName(metadataName);
        if (type is null)
        {
            return;
        }

        foreach (var name in names)
        {
            foreach (var member in type.GetMembers(name))
            {
                if (member is IMethodSymbol method)
                {
                    _methods[method.OriginalDefinition] = reason;
                }
            }
        }
    }

    // Monitor.TryEnter(obj) returns at once; the overloads that take a timeout wait.
    private void AddWithTimeout(string metadataName, string name)
    {
        var type = _compilation.GetTypeByMetadataName(metadataName);
        if (type is null)
        {
            return;
        }

        foreach (var member in type.GetMembers(name))
        {
            if (member is IMethodSymbol method)
            {
                foreach (var parameter in method.Parameters)
                {
                    if (parameter.Type.SpecialType == SpecialType.System_Int32 || parameter.Type.Name == "TimeSpan")
                    {
                        _methods[method.OriginalDefinition] = SleepReasons.Blocks;
                        break;
                    }
                }
            }
        }
    }

    // File.*, Directory.*: every synchronous public static method touches the file system.
    private void AddAllSynchronous(string metadataName, string reason)
    {
        var type = _compilation.GetTypeByMetadataName(metadataName);
        if (type is null)
        {
            return;
        }

        foreach (var member in type.GetMembers())
        {
            if (member is IMethodSymbol { IsStatic: true, DeclaredAccessibility: Accessibility.Public, MethodKind: MethodKind.Ordinary } method
                && !method.Name.EndsWith("Async", StringComparison.Ordinal))
            {
                _methods[method.OriginalDefinition] = reason;
            }
        }
    }

    private void AddVirtual(string metadataName, params string[] names)
    {
        var type = _compilation.GetTypeByMetadataName(metadataName);
        if (type is null)
        {
            return;
        }

        foreach (var name in names)
        {
            foreach (var member in type.GetMembers(name))
            {
                if (member is IMethodSymbol method)
                {
                    _virtualRoots[method.OriginalDefinition] = SleepReasons.SynchronousIo;
                }
            }
        }
    }

    private void AddInMemory(string metadataName)
    {
        var type = _compilation.GetTypeByMetadataName(metadataName);
        if (type is not null)
        {
            _inMemoryTypes.Add(type);
        }
    }
}
