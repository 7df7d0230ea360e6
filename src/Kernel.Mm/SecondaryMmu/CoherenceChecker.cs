using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// Knows every translation of the secondary MMUs attached to it and checks them against the
/// CPU page table of one <see cref="mm_struct"/>:
/// <list type="bullet">
/// <item>when an invalidation ends (<see cref="mm_struct.InvalidationEnded"/>), every
/// translation in its range must map the page the CPU maps there (or be gone); otherwise it is
/// reported as <see cref="StaleTranslationId"/> (<c>COHERENCE</c>);</item>
/// <item>when a page is freed (<see cref="MmRuntime.PageFreeing"/>), no attached MMU may still
/// map it; otherwise it is reported as <see cref="FreedWhileMappedId"/> (<c>MMU010</c>, "must
/// invalidate _before_ freeing the page").</item>
/// </list>
/// Reports go through <see cref="MmRuntime.Report(string, string)"/> and are also kept in
/// <see cref="Violations"/>; each (MMU, address, page) is reported once. Where violations are
/// expected, install a collecting sink (<see cref="MmRuntime.UseSink"/>): with the default
/// throwing sink the exception leaves from inside <c>invalidate_range_end</c> or <c>put_page</c>.
/// </summary>
/// <remarks>
/// The check runs concurrently with faults and other invalidations, so it must not call a
/// translation stale while a legitimate invalidation is still changing that address. The
/// checker registers a notifier of its own to know which ranges are being invalidated
/// (from their start until every notifier saw their end) and counts starts: a mismatch is only
/// reported when no invalidation covered the address and none started while it was being
/// checked; otherwise the address is checked again when the next invalidation ends (or by
/// <see cref="CheckAll"/>). The CPU table is read without locks, so the checker can run where
/// the invalidation ended, even under a page-table spinlock.
/// </remarks>
public sealed class CoherenceChecker : IDisposable
{
    /// <summary>The id stale translations are reported under.</summary>
    public const string StaleTranslationId = "COHERENCE";

    /// <summary>The id pages freed while still mapped are reported under (rule MMU010).</summary>
    public const string FreedWhileMappedId = RuleIdentifiers.PageReleasedBeforeInvalidation;

    private sealed class coherence_notifier : mmu_notifier
    {
        internal coherence_notifier(CoherenceChecker checker) => this.checker = checker;

        internal readonly CoherenceChecker checker;
    }

    private static readonly mmu_notifier_ops coherence_ops = new()
    {
        invalidate_range_start = coherence_invalidate_range_start,
        invalidate_range_end = coherence_invalidate_range_end,
    };

    // Ranges whose end callback ran on this thread and whose InvalidationEnded has not yet.
    [ThreadStatic]
    private static List<(CoherenceChecker checker, ulong start, ulong end)>? t_ending;

    private readonly coherence_notifier _notifier;
    private readonly object _gate = new();
    private readonly List<(ulong start, ulong end)> _inProgress = [];
    private readonly ConcurrentDictionary<(ISecondaryMmu mmu, ulong address), byte> _deferred = new();
    private readonly ConcurrentDictionary<(CoherenceViolationKind kind, ISecondaryMmu mmu, ulong address, page page), byte> _reported = new();
    private readonly ConcurrentQueue<CoherenceViolation> _violations = new();
    private ISecondaryMmu[] _mmus = [];
    private long _starts;
    private long _checks;
    private int _disposed;

    /// <summary>Starts watching <paramref name="mm"/>: registers the checker's notifier and hooks
    /// <see cref="mm_struct.InvalidationEnded"/> and <see cref="MmRuntime.PageFreeing"/>. Create
    /// it before the MMUs start faulting so it sees every invalidation.</summary>
    public CoherenceChecker(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        Mm = mm;
        _notifier = new coherence_notifier(this) { ops = coherence_ops };
        int ret = mmu_notifier_register(_notifier, mm);
        if (ret != 0)
        {
            throw new InvalidOperationException($"CoherenceChecker: mmu_notifier_register failed with {ret}");
        }

        mm.InvalidationEnded += OnInvalidationEnded;
        MmRuntime.PageFreeing += OnPageFreeing;
    }

    /// <summary>The address space checked.</summary>
    public mm_struct Mm { get; }

    /// <summary>Every violation found so far, in the order found.</summary>
    public IReadOnlyList<CoherenceViolation> Violations => _violations.ToArray();

    /// <summary>Raised (on the thread that found it) for each new violation.</summary>
    public event Action<CoherenceViolation>? ViolationFound;

    /// <summary>The attached MMUs.</summary>
    public IReadOnlyList<ISecondaryMmu> Mmus => Volatile.Read(ref _mmus);

    /// <summary>How many translations were compared with the CPU page table.</summary>
    public long TranslationsChecked => Interlocked.Read(ref _checks);

    /// <summary>Starts checking <paramref name="mmu"/>'s translations.</summary>
    public void Attach(ISecondaryMmu mmu)
    {
        ArgumentNullException.ThrowIfNull(mmu);
        if (mmu.Mm != Mm)
        {
            throw new ArgumentException($"CoherenceChecker.Attach: {mmu.Name} mirrors another mm than the one this checker watches", nameof(mmu));
        }

        ISecondaryMmu[] old, next;
        do
        {
            old = Volatile.Read(ref _mmus);
            if (Array.IndexOf(old, mmu) >= 0)
            {
                return;
            }

            next = [.. old, mmu];
        }
        while (Interlocked.CompareExchange(ref _mmus, next, old) != old);
    }

    /// <summary>Stops checking <paramref name="mmu"/>.</summary>
    public void Detach(ISecondaryMmu mmu)
    {
        ISecondaryMmu[] old, next;
        do
        {
            old = Volatile.Read(ref _mmus);
            next = Array.FindAll(old, m => m != mmu);
        }
        while (Interlocked.CompareExchange(ref _mmus, next, old) != old);

        foreach (var key in _deferred.Keys)
        {
            if (key.mmu == mmu)
            {
                _deferred.TryRemove(key, out _);
            }
        }
    }

    /// <summary>
    /// Checks every translation of every attached MMU now (and every freed page still mapped is
    /// already reported when it was freed). Returns how many new violations were found.
    /// Translations under an invalidation that is still running are left for its end.
    /// </summary>
    public int CheckAll()
    {
        int before = _violations.Count;
        foreach (var mmu in Mmus)
        {
            foreach (var (address, _) in mmu.Translations())
            {
                CheckTranslation(mmu, address);
            }
        }

        RecheckDeferred();
        return _violations.Count - before;
    }

    /// <summary>Unhooks the checker and unregisters its notifier. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        MmRuntime.PageFreeing -= OnPageFreeing;
        Mm.InvalidationEnded -= OnInvalidationEnded;
        mmu_notifier_unregister(_notifier, Mm);
    }

    private static void coherence_invalidate_range_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        CoherenceChecker checker = ((coherence_notifier)mn).checker;
        lock (checker._gate)
        {
            checker._inProgress.Add((start, end));
        }

        // After the range is visible as in progress: a check that read the count before this
        // point and sees it changed afterwards knows the CPU table may have moved under it.
        Interlocked.Increment(ref checker._starts);
    }

    private static void coherence_invalidate_range_end(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        // Other notifiers may not have seen their end yet: the range stays in progress until
        // InvalidationEnded, which runs after all of them, on this thread.
        (t_ending ??= []).Add((((coherence_notifier)mn).checker, start, end));
    }

    private void OnInvalidationEnded(mm_struct mm, ulong start, ulong end)
    {
        var ending = t_ending;
        if (ending is not null)
        {
            int i = ending.FindLastIndex(e => e.checker == this && e.start == start && e.end == end);
            if (i >= 0)
            {
                ending.RemoveAt(i);
                lock (_gate)
                {
                    _inProgress.Remove((start, end));
                }
            }
        }

        foreach (var mmu in Mmus)
        {
            foreach (var (address, _) in mmu.Translations())
            {
                if (address >= (start & PAGE_MASK) && address < end)
                {
                    CheckTranslation(mmu, address);
                }
            }
        }

        RecheckDeferred();
    }

    private void RecheckDeferred()
    {
        foreach (var (mmu, address) in _deferred.Keys)
        {
            _deferred.TryRemove((mmu, address), out _);
            CheckTranslation(mmu, address);
        }
    }

    private bool InProgressCovers(ulong address)
    {
        lock (_gate)
        {
            foreach (var (start, end) in _inProgress)
            {
                if (address + PAGE_SIZE > start && address < end)
                {
                    return true;
                }
            }

            return false;
        }
    }

    private void CheckTranslation(ISecondaryMmu mmu, ulong address)
    {
        // Bounded: under heavy churn the address is left for the next end to look at again.
        for (int attempt = 0; attempt < 4; attempt++)
        {
            long starts = Interlocked.Read(ref _starts);
            if (InProgressCovers(address))
            {
                break;
            }

            if (!mmu.TryGetTranslation(address, out page? mapped))
            {
                return;
            }

            page? cpu = secondary_walk.peek_page(Mm, address, out _);
            Interlocked.Increment(ref _checks);
            if (ReferenceEquals(cpu, mapped))
            {
                return;
            }

            if (Interlocked.Read(ref _starts) != starts || InProgressCovers(address))
            {
                continue;
            }

            // Re-read: the MMU may have dropped or replaced the entry meanwhile.
            if (!mmu.TryGetTranslation(address, out page? again) || !ReferenceEquals(again, mapped))
            {
                continue;
            }

            string cpuText = cpu is null ? "nothing" : $"pfn 0x{page_to_pfn(cpu):x}";
            Found(mmu, new CoherenceViolation(
                StaleTranslationId,
                CoherenceViolationKind.StaleTranslation,
                mmu.Name,
                address,
                page_to_pfn(mapped),
                cpu is null ? null : page_to_pfn(cpu),
                $"{StaleTranslationId}: {mmu.Name} still translates 0x{address:x} to pfn 0x{page_to_pfn(mapped):x} after the invalidation covering it ended, but the CPU page table maps {cpuText} there: the secondary MMU re-established a translation the invalidation removed (a fault raced with the invalidation without a sequence/count check)"),
                mapped);
            return;
        }

        _deferred.TryAdd((mmu, address), 0);
    }

    private void OnPageFreeing(page freed)
    {
        foreach (var mmu in Mmus)
        {
            foreach (var (address, mapped) in mmu.Translations())
            {
                if (!ReferenceEquals(mapped, freed) && !ReferenceEquals(compound_head(mapped), freed))
                {
                    continue;
                }

                Found(mmu, new CoherenceViolation(
                    FreedWhileMappedId,
                    CoherenceViolationKind.FreedWhileMapped,
                    mmu.Name,
                    address,
                    page_to_pfn(mapped),
                    null,
                    $"{FreedWhileMappedId}: put_page freed pfn 0x{page_to_pfn(freed):x} while {mmu.Name} still maps it at 0x{address:x}: the page must be invalidated in every secondary MMU _before_ it is freed"),
                    mapped);
            }
        }
    }

    private void Found(ISecondaryMmu mmu, CoherenceViolation violation, page mapped)
    {
        if (!_reported.TryAdd((violation.Kind, mmu, violation.Address, mapped), 0))
        {
            return;
        }

        _violations.Enqueue(violation);
        ViolationFound?.Invoke(violation);
        MmRuntime.Report(violation.RuleId, violation.Message);
    }
}
