using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// What every secondary MMU of the runtime shares: its name, mm and step log, a table of
/// translations (page-aligned address → page) that the hardware and the
/// <see cref="CoherenceChecker"/> read without the driver's lock, the registration of its
/// <see cref="mmu_notifier"/> (undone by <see cref="Dispose"/>), and the one place translations
/// are installed, which tells the runtime's MMU012 twin.
/// </summary>
public abstract class SecondaryMmuBase : ISecondaryMmu, IDisposable
{
    // Written under the driver's lock; read without it by the device and the checker.
    private readonly ConcurrentDictionary<ulong, secondary_pte> _table = new();
    private mmu_notifier? _notifier;
    private int _registered;

    /// <summary>A secondary MMU of <paramref name="mm"/> called <paramref name="name"/> (in step logs and reports).</summary>
    protected SecondaryMmuBase(mm_struct mm, string name)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(name);
        Mm = mm;
        Name = name;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public mm_struct Mm { get; }

    /// <inheritdoc/>
    public MmuStepLog Steps { get; } = new();

    /// <inheritdoc/>
    public IEnumerable<(ulong address, page page)> Translations()
    {
        foreach (var entry in _table)
        {
            yield return (entry.Key, entry.Value.page);
        }
    }

    /// <inheritdoc/>
    public bool TryGetTranslation(ulong address, [NotNullWhen(true)] out page? page)
    {
        bool found = _table.TryGetValue(address & PAGE_MASK, out var entry);
        page = entry?.page;
        return found;
    }

    /// <summary>Unregisters the notifier (its <c>-&gt;release</c> runs). Idempotent.</summary>
    public virtual void Dispose()
    {
        if (Interlocked.Exchange(ref _registered, 0) == 1)
        {
            mmu_notifier_unregister(_notifier!, Mm);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Registers <paramref name="mn"/> on <see cref="Mm"/>; throws if the runtime refused.</summary>
    private protected void register_notifier(mmu_notifier mn)
    {
        int ret = mmu_notifier_register(mn, Mm);
        if (ret != 0)
        {
            throw new InvalidOperationException($"{GetType().Name}: mmu_notifier_register failed with {ret}");
        }

        _notifier = mn;
        _registered = 1;
    }

    /// <summary>The entry at <paramref name="hva"/>, if any.</summary>
    private protected bool lookup(ulong hva, [NotNullWhen(true)] out secondary_pte? entry) =>
        _table.TryGetValue(hva, out entry);

    /// <summary>
    /// Installs <paramref name="entry"/> at <paramref name="hva"/>: the device may use it from now
    /// on. The runtime checks here that no invalidation moved the interval-notifier sequence the
    /// caller read (MMU012). Call it under the driver lock the invalidation takes.
    /// </summary>
    [EstablishesSecondaryMapping]
    private protected void install(ulong hva, secondary_pte entry)
    {
        _table[hva] = entry;
        SequenceTwin.MappingEstablished(Mm, hva, Name);
    }

    /// <summary>Installs a translation of the page-aligned <paramref name="hva"/> to <paramref name="page"/>
    /// (a driver outside Kernel.Mm): as the other overload.</summary>
    [EstablishesSecondaryMapping]
    protected void install(ulong hva, page page, bool writable) => install(hva, new secondary_pte(page, writable));

    /// <summary>Replaces the entry at <paramref name="hva"/> in place (accessed bit, change_pte), no install.</summary>
    private protected void update(ulong hva, secondary_pte entry) => _table[hva] = entry;

    /// <summary>Drops every entry in [<paramref name="start"/>, <paramref name="end"/>); returns how many.</summary>
    protected int zap(ulong start, ulong end)
    {
        if (end - start == PAGE_SIZE)
        {
            return _table.TryRemove(start, out _) ? 1 : 0;
        }

        int zapped = 0;
        foreach (var entry in _table)
        {
            if (entry.Key >= start && entry.Key < end && _table.TryRemove(entry.Key, out _))
            {
                zapped++;
            }
        }

        return zapped;
    }

    /// <summary>The entries in [<paramref name="start"/>, <paramref name="end"/>), for in-place updates.</summary>
    private protected IEnumerable<KeyValuePair<ulong, secondary_pte>> entries_in(ulong start, ulong end)
    {
        foreach (var entry in _table)
        {
            if (entry.Key >= start && entry.Key < end)
            {
                yield return entry;
            }
        }
    }
}

/// <summary>One secondary translation: the page, whether the device may write it, its accessed bit
/// (KVM's spte, ODP's dma_list entry, an IOTLB entry).</summary>
internal sealed record secondary_pte(page page, bool writable, bool accessed = true);
