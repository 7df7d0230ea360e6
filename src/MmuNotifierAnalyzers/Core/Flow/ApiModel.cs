using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>What a call does to the property state.</summary>
internal enum RangeRole
{
    None,
    Opens,
    Closes,
}

/// <summary>Which parameters of an opener/closer carry the range.</summary>
internal sealed class RangeSignature
{
    public RangeSignature(RangeRole role, int mm, int start, int end, int range)
    {
        Role = role;
        Mm = mm;
        Start = start;
        End = end;
        Range = range;
    }

    public RangeRole Role { get; }

    /// <summary>Parameter ordinals, -1 when absent.</summary>
    public int Mm { get; }

    public int Start { get; }

    public int End { get; }

    /// <summary>The <c>mmu_notifier_range</c> parameter (4.20 form), -1 in the classic form.</summary>
    public int Range { get; }
}

/// <summary>Which notification a call sends to the secondary MMUs (and so which rule judges its bracket).</summary>
internal enum NotifyKind
{
    /// <summary><c>mmu_notifier_invalidate_range</c>, <c>*_clear_flush_notify</c> (MMU006).</summary>
    InvalidateRange,

    /// <summary><c>mmu_notifier_change_pte</c>, <c>set_pte_at_notify</c> (MMU009).</summary>
    ChangePte,

    /// <summary>The legacy <c>mmu_notifier_invalidate_page</c> (MMU001): still an invalidation of its page.</summary>
    InvalidatePage,
}

/// <summary>A call that clears a page-table entry without notifying: [address, address + length) is
/// pending until an invalidation covers it.</summary>
internal sealed class EntryClear
{
    public EntryClear(int address, ulong length)
    {
        Address = address;
        Length = length;
    }

    public int Address { get; }

    public ulong Length { get; }
}

/// <summary>How a call changes an entry without notifying (MMU013).</summary>
internal enum EntryChangeKind
{
    /// <summary>Clears the entry (<c>ptep_clear_flush</c>, <c>ptep_get_and_clear</c>, ...) or marks a
    /// huge pmd splitting (<c>pmdp_splitting_flush</c>).</summary>
    Clear,

    /// <summary>Writes an entry (<c>set_pte_at</c>, <c>set_pmd_at</c>, <c>set_huge_pte_at</c>): a change
    /// only when the written value takes a right from the entry the slot held.</summary>
    Set,
}

/// <summary>
/// A call that changes a page-table entry and tells no secondary MMU: the entry of [address,
/// address + length) in the mm of the first parameter (a vma's <c>vm_mm</c> when
/// <see cref="MmOfVma"/>); the slot is parameter 2, the written value (a setter) parameter 3.
/// </summary>
internal sealed class EntryChange
{
    public EntryChange(EntryChangeKind kind, ulong length, bool mmOfVma, bool hugeTlb)
    {
        Kind = kind;
        Length = length;
        MmOfVma = mmOfVma;
        HugeTlb = hugeTlb;
    }

    public EntryChangeKind Kind { get; }

    public int Address => 1;

    public int Slot => 2;

    public int Value => 3;

    public ulong Length { get; }

    public bool MmOfVma { get; }

    /// <summary>A hugetlb entry (its size is the hstate's, known only at run time).</summary>
    public bool HugeTlb { get; }
}

/// <summary>
/// Where a notification call carries its range: [start, end) from two parameters, or
/// [address, address + length) with a fixed length. The mm is the first parameter, or the
/// <c>vm_mm</c> of that vma (<c>ptep_clear_flush_notify</c>).
/// </summary>
internal sealed class NotifySignature
{
    public NotifySignature(NotifyKind kind, IFieldSymbol? mmOfVma, int start, int end, ulong length)
    {
        Kind = kind;
        MmOfVma = mmOfVma;
        Start = start;
        End = end;
        Length = length;
    }

    public NotifyKind Kind { get; }

    /// <summary><c>vm_area_struct.vm_mm</c> when the first parameter is a vma.</summary>
    public IFieldSymbol? MmOfVma { get; }

    public int Start { get; }

    /// <summary>Ordinal of the end parameter, -1 when the range is [start, start + <see cref="Length"/>).</summary>
    public int End { get; }

    public ulong Length { get; }

    /// <summary>The notified [start, end) from the call's argument values.</summary>
    public (Value? Start, Value? End) RangeOf(IReadOnlyList<Value?> arguments, IOperation call)
    {
        var start = Start >= 0 && Start < arguments.Count ? arguments[Start] : null;
        var end = End >= 0
            ? End < arguments.Count ? arguments[End] : null
            : start is null ? null : Value.Binary(Microsoft.CodeAnalysis.Operations.BinaryOperatorKind.Add, start, Value.Constant(Length), call);
        return (start, end);
    }
}

/// <summary>What a call does in the sequence protocol of a secondary MMU (MMU012).</summary>
internal enum SequenceRole
{
    None,

    /// <summary><c>mmu_interval_read_begin</c>, <c>[SequenceRead]</c>.</summary>
    Read,

    /// <summary><c>mmu_interval_read_retry</c>, <c>[SequenceRetryCheck]</c>.</summary>
    Check,

    /// <summary><c>[EstablishesSecondaryMapping]</c>.</summary>
    Install,

    /// <summary><c>[LooksUpPages]</c>: <c>hmm_range_fault</c>, <c>get_user_pages</c>.</summary>
    Lookup,

    /// <summary><c>mmu_interval_set_seq</c>.</summary>
    SetSeq,
}

/// <summary>What kind of lock an effect takes or drops, and so which domain holds it.</summary>
internal enum LockKind
{
    /// <summary>A spinlock (<see cref="Domains.Locks"/>): nothing may sleep under it.</summary>
    Spin,

    /// <summary>A mutex (<see cref="Domains.Mutexes"/>): a driver lock of the sequence protocol.</summary>
    Mutex,
}

/// <summary>A lock a method acquires, releases, or must be entered holding.</summary>
internal sealed class LockEffect
{
    public LockEffect(string expression, LockCondition condition, LockKind kind = LockKind.Spin)
    {
        Expression = expression;
        Condition = condition;
        Kind = kind;
    }

    public LockKind Kind { get; }

    /// <summary>Parameter name optionally followed by members (<c>mm.page_table_lock</c>), or <c>this.field</c>.</summary>
    public string Expression { get; }

    public LockCondition Condition { get; }
}

/// <summary>The effects of one method, read from its symbol and annotations once.</summary>
internal sealed class MethodEffects
{
    public static readonly MethodEffects None = new(null, null, null, null, false, false, ImmutableArray<LockEffect>.Empty, ImmutableArray<LockEffect>.Empty, ImmutableArray<LockEffect>.Empty);

    public MethodEffects(RangeSignature? range, NotifySignature? notify, EntryClear? clear, EntryChange? change, bool releasesPage, bool initsRange, ImmutableArray<LockEffect> acquires, ImmutableArray<LockEffect> releases, ImmutableArray<LockEffect> mustHold, SequenceRole sequence = SequenceRole.None, bool checkTrueWhenValid = false, SemaphoreEffect? semaphore = null, RegistrationKind? registration = null)
    {
        Change = change;
        Sequence = sequence;
        CheckTrueWhenValid = checkTrueWhenValid;
        Semaphore = semaphore;
        Registration = registration;
        Range = range;
        Notify = notify;
        Clear = clear;
        ReleasesPage = releasesPage;
        InitsRange = initsRange;
        Acquires = acquires;
        Releases = releases;
        MustHold = mustHold;
    }

    public RangeSignature? Range { get; }

    /// <summary>The notification the call sends, for the calls that must run inside an open range.</summary>
    public NotifySignature? Notify { get; }

    /// <summary>The entry the call clears without notifying.</summary>
    public EntryClear? Clear { get; }

    /// <summary>The entry the call changes without notifying (MMU013), clears included.</summary>
    public EntryChange? Change { get; }

    /// <summary><c>put_page</c>, <c>page_cache_release</c>, <c>[ReleasesPage]</c>.</summary>
    public bool ReleasesPage { get; }

    /// <summary><c>mmu_notifier_range_init</c>: sets a 4.20 range object's mm, start and end.</summary>
    public bool InitsRange { get; }

    public ImmutableArray<LockEffect> Acquires { get; }

    public ImmutableArray<LockEffect> Releases { get; }

    public ImmutableArray<LockEffect> MustHold { get; }

    public SequenceRole Sequence { get; }

    /// <summary>A <see cref="SequenceRole.Check"/> that returns true when the sequence is still valid.</summary>
    public bool CheckTrueWhenValid { get; }

    /// <summary>What the call does to an <c>rw_semaphore</c> (Kernel.Mm's rwsem functions).</summary>
    public SemaphoreEffect? Semaphore { get; }

    /// <summary>The notifier registration call it is (MMU015).</summary>
    public RegistrationKind? Registration { get; }

    public bool IsRelevant => Range is not null || Notify is not null || Clear is not null || Change is not null || ReleasesPage || InitsRange || !Acquires.IsEmpty || !Releases.IsEmpty
        || Sequence != SequenceRole.None || Semaphore is not null || Registration is not null;

    /// <summary>A call that makes its method worth analysing: without a range, a notification, a
    /// spinlock, a sequence read or a registration, clears, releases, mutexes, rwsems and the rest
    /// of the sequence protocol alone can give no finding (MMU010 needs an invalidation after them,
    /// MMU012 a read before).</summary>
    public bool DrivesAnalysis => Range is not null || Notify is not null || Acquires.Any(a => a.Kind == LockKind.Spin) || Releases.Any(r => r.Kind == LockKind.Spin)
        || Sequence is SequenceRole.Read or SequenceRole.SetSeq || Registration is not null;

    /// <summary>Whether a body that names this method is worth binding: what drives an analysis,
    /// and what a driving call makes matter. Not a mutex or rwsem alone, nor the sequence
    /// protocol's checks, installs and lookups without its read: most bodies that call only
    /// those can give no finding.</summary>
    public bool MarksBody => Range is not null || Notify is not null || Clear is not null || ReleasesPage || InitsRange
        || Sequence is SequenceRole.Read or SequenceRole.SetSeq || Registration is not null
        || Acquires.Any(a => a.Kind == LockKind.Spin) || Releases.Any(r => r.Kind == LockKind.Spin);
}

/// <summary>
/// Recognises the range and lock API by symbol: <c>KnownSymbols.RangeStart</c>/<c>RangeEnd</c>
/// (both forms), and any method annotated <c>[OpensInvalidationRange]</c>,
/// <c>[ClosesInvalidationRange]</c>, <c>[AcquiresLock]</c>, <c>[ReleasesLock]</c>, <c>[MustHoldLock]</c>.
/// One instance per compilation; effects are memoised per method.
/// </summary>
internal sealed class ApiModel
{
    private readonly ConcurrentDictionary<IMethodSymbol, MethodEffects> _effects = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<ISymbol, bool> _sequenceMembers = new(SymbolEqualityComparer.Default);

    // The factories, made once: a method group passed to GetOrAdd allocates a delegate per call,
    // and Get is asked at every call the flow walk steps.
    private readonly System.Func<IMethodSymbol, MethodEffects> _compute;
    private readonly System.Func<ISymbol, bool> _isSequenceMember;
    private readonly ConcurrentDictionary<IMethodSymbol, bool> _annotated = new(SymbolEqualityComparer.Default);
    private readonly System.Func<IMethodSymbol, bool> _hasAnnotation = static m =>
        m.GetAttributes().Any(a => a.AttributeClass?.ContainingNamespace?.ToDisplayString() == KnownSymbols.AnnotationsNamespace);

    public ApiModel(KnownSymbols symbols)
    {
        Symbols = symbols;
        _compute = Compute;
        _isSequenceMember = static m => Annotations.Has(m, Annotations.SequenceRead);
    }

    public KnownSymbols Symbols { get; }

    public MethodEffects Get(IMethodSymbol? method)
    {
        if (method is null)
        {
            return MethodEffects.None;
        }

        var definition = method.OriginalDefinition;
        if (definition.MethodKind == MethodKind.ReducedExtension && definition.ReducedFrom is { } reduced)
        {
            definition = reduced;
        }

        return _effects.TryGetValue(definition, out var effects) ? effects : _effects.GetOrAdd(definition, _compute);
    }

    /// <summary>Whether <paramref name="method"/> carries one of our annotations (memoised: the flow
    /// walk asks at every call of a static bool method).</summary>
    public bool HasAnnotation(IMethodSymbol method) => _annotated.GetOrAdd(method.OriginalDefinition, _hasAnnotation);

    private MethodEffects Compute(IMethodSymbol method)
    {
        RangeSignature? range = null;
        var acquires = ImmutableArray.CreateBuilder<LockEffect>();
        var releases = ImmutableArray.CreateBuilder<LockEffect>();
        var mustHold = ImmutableArray.CreateBuilder<LockEffect>();

        foreach (var attribute in method.GetAttributes())
        {
            if (Annotations.IsAnnotation(attribute, Annotations.OpensInvalidationRange))
            {
                range = Signature(method, RangeRole.Opens, attribute);
            }
            else if (Annotations.IsAnnotation(attribute, Annotations.ClosesInvalidationRange))
            {
                range = Signature(method, RangeRole.Closes, attribute);
            }
            else if (Annotations.IsAnnotation(attribute, Annotations.AcquiresLock) && Annotations.CtorString(attribute) is { } acquired)
            {
                acquires.Add(new LockEffect(acquired, Annotations.AcquisitionCondition(attribute)));
            }
            else if (Annotations.IsAnnotation(attribute, Annotations.ReleasesLock) && Annotations.CtorString(attribute) is { } released)
            {
                releases.Add(new LockEffect(released, LockCondition.None));
            }
            else if (Annotations.IsAnnotation(attribute, Annotations.MustHoldLock) && Annotations.CtorString(attribute) is { } held)
            {
                mustHold.Add(new LockEffect(held, LockCondition.None));
            }
        }

        // The runtime's own start/end count even where the annotations are missing.
        // The non-blocking start opens a range only when it returns 0 (the analysis makes any
        // opener that returns an int conditional on that).
        if (range is null && (KnownSymbols.Is(method, Symbols.RangeStart) || KnownSymbols.Is(method, Symbols.RangeStartNonblock)))
        {
            range = Signature(method, RangeRole.Opens, null);
        }
        else if (range is null && KnownSymbols.Is(method, Symbols.RangeEnd))
        {
            range = Signature(method, RangeRole.Closes, null);
        }

        var notify = NotifyOf(method);
        var clear = KnownSymbols.Is(method, Symbols.EntryClears) && method.Parameters.Length >= 2
            ? new EntryClear(1, method.Name.StartsWith("pmdp", System.StringComparison.Ordinal) || method.Name.StartsWith("huge", System.StringComparison.Ordinal) ? Symbols.HugePmdSize : Symbols.PageSize)
            : null;
        var change = ChangeOf(method);
        var releasesPage = KnownSymbols.Is(method, Symbols.PageRelease) || Annotations.Has(method, Annotations.ReleasesPage);
        var initsRange = KnownSymbols.Is(method, Symbols.RangeInit);

        // The runtime's mutexes: sleeping locks, tracked apart from spinlocks (rwsems are SemaphoreOf's).
        var lockParameter = method.Parameters.FirstOrDefault()?.Name ?? "lock";
        if (KnownSymbols.Is(method, Symbols.MutexLock))
        {
            acquires.Add(new LockEffect(lockParameter, LockCondition.None, LockKind.Mutex));
        }
        else if (KnownSymbols.Is(method, Symbols.MutexTrylock))
        {
            acquires.Add(new LockEffect(lockParameter, LockCondition.WhenTrue, LockKind.Mutex));
        }
        else if (KnownSymbols.Is(method, Symbols.MutexUnlock))
        {
            releases.Add(new LockEffect(lockParameter, LockCondition.None, LockKind.Mutex));
        }

        var sequence = SequenceOf(method, out var trueWhenValid);
        var semaphore = SemaphoreOf(method);
        var registration = KnownSymbols.Is(method, Symbols.Register) ? RegistrationKind.Register
            : KnownSymbols.Is(method, Symbols.RegisterLocked) ? RegistrationKind.RegisterLocked
            : KnownSymbols.Is(method, Symbols.Unregister) ? RegistrationKind.Unregister
            : (RegistrationKind?)null;
        if (range is null && notify is null && clear is null && change is null && !releasesPage && !initsRange && acquires.Count == 0 && releases.Count == 0 && mustHold.Count == 0
            && sequence == SequenceRole.None && semaphore is null && registration is null)
        {
            return MethodEffects.None;
        }

        return new MethodEffects(range, notify, clear, change, releasesPage, initsRange, acquires.ToImmutable(), releases.ToImmutable(), mustHold.ToImmutable(), sequence, trueWhenValid, semaphore, registration);
    }

    /// <summary>
    /// The locks of a path that can be the driver lock of the sequence protocol (MMU012): every
    /// spinlock, mutex and rw_semaphore held (drm_gpusvm's <c>notifier_lock</c> is an rwsem) except
    /// the mm's own <c>mmap_lock</c>, which no invalidation of reclaim or migration takes.
    /// </summary>
    public ImmutableArray<LockFact> DriverLocks(ImmutableArray<LockFact> spinlocks, ImmutableArray<LockFact> mutexes, ImmutableArray<SemaphoreFact> semaphores) =>
        spinlocks.AddRange(mutexes).AddRange(semaphores.Where(s => !IsMmapLock(s.Key)).Select(s => s.AsLock()));

    private bool IsMmapLock(Value key) =>
        key.Kind == ValueKind.Member && key.Payload is ISymbol member && member.Name is "mmap_sem" or "mmap_lock"
        && SymbolEqualityComparer.Default.Equals(member.ContainingType, Symbols.MmStruct);

    /// <summary>Whether reading <paramref name="member"/> (a field or property) reads a sequence:
    /// <c>[SequenceRead]</c> on it (KVM's <c>kvm->mmu_notifier_seq</c>).</summary>
    public bool IsSequenceMember(ISymbol member) =>
        member is IFieldSymbol or IPropertySymbol && _sequenceMembers.GetOrAdd(member.OriginalDefinition, _isSequenceMember);

    /// <summary>
    /// Whether <paramref name="method"/> can be an interval notifier's <c>-&gt;invalidate</c>: its
    /// signature is that of <c>mmu_interval_invalidate_fn</c> (bool (mmu_interval_notifier,
    /// mmu_notifier_range, ulong)), which a method group must match to be assigned to it.
    /// </summary>
    public bool IsIntervalInvalidate(IMethodSymbol? method)
    {
        if (method is null || Symbols.MmuIntervalInvalidateFn?.DelegateInvokeMethod is not { } invoke
            || method.ReturnType.SpecialType != SpecialType.System_Boolean || method.Parameters.Length != invoke.Parameters.Length)
        {
            return false;
        }

        for (var i = 0; i < invoke.Parameters.Length; i++)
        {
            if (!SymbolEqualityComparer.Default.Equals(method.Parameters[i].Type, invoke.Parameters[i].Type) || method.Parameters[i].RefKind != RefKind.None)
            {
                return false;
            }
        }

        return true;
    }

    private SequenceRole SequenceOf(IMethodSymbol method, out bool trueWhenValid)
    {
        trueWhenValid = false;
        if (KnownSymbols.Is(method, Symbols.IntervalSetSeq))
        {
            return SequenceRole.SetSeq;
        }

        foreach (var attribute in method.GetAttributes())
        {
            if (Annotations.IsAnnotation(attribute, Annotations.SequenceRead))
            {
                return SequenceRole.Read;
            }

            if (Annotations.IsAnnotation(attribute, Annotations.SequenceRetryCheck))
            {
                trueWhenValid = Annotations.NamedBool(attribute, "TrueWhenValid");
                return SequenceRole.Check;
            }

            if (Annotations.IsAnnotation(attribute, Annotations.EstablishesSecondaryMapping))
            {
                return SequenceRole.Install;
            }

            if (Annotations.IsAnnotation(attribute, Annotations.LooksUpPages))
            {
                return SequenceRole.Lookup;
            }
        }

        return SequenceRole.None;
    }

    /// <summary>The runtime's un-notified entry changes, by symbol: (mm or vma, address, slot[, value]).</summary>
    private EntryChange? ChangeOf(IMethodSymbol method)
    {
        var clear = KnownSymbols.Is(method, Symbols.EntryClears) || KnownSymbols.Is(method, Symbols.EntrySplittingFlush);
        var set = KnownSymbols.Is(method, Symbols.EntrySetters);
        if ((!clear && !set) || method.Parameters.Length < (set ? 4 : 3) || Symbols.PageSize == 0)
        {
            return null;
        }

        var hugeTlb = method.Name.StartsWith("huge", System.StringComparison.Ordinal) || method.Name == "set_huge_pte_at";
        var pmd = method.Name.StartsWith("pmdp", System.StringComparison.Ordinal) || method.Name == "set_pmd_at";
        var mmOfVma = SymbolEqualityComparer.Default.Equals(method.Parameters[0].Type, Symbols.VmAreaStruct);
        return new EntryChange(clear ? EntryChangeKind.Clear : EntryChangeKind.Set, pmd || hugeTlb ? Symbols.HugePmdSize : Symbols.PageSize, mmOfVma, hugeTlb);
    }

    /// <summary>Kernel.Mm's rwsem functions, by symbol; the semaphore is their first parameter.</summary>
    private SemaphoreEffect? SemaphoreOf(IMethodSymbol method)
    {
        if (method.Parameters.Length == 0)
        {
            return null;
        }

        return KnownSymbols.Is(method, Symbols.SemaphoreReadAcquires) ? new SemaphoreEffect(SemaphoreOperation.AcquireRead, 0, LockCondition.None)
            : KnownSymbols.Is(method, Symbols.SemaphoreWriteAcquires) ? new SemaphoreEffect(SemaphoreOperation.AcquireWrite, 0, LockCondition.None)
            : KnownSymbols.Is(method, Symbols.SemaphoreReadTrylocks) ? new SemaphoreEffect(SemaphoreOperation.AcquireRead, 0, LockCondition.WhenTrue)
            : KnownSymbols.Is(method, Symbols.SemaphoreWriteTrylocks) ? new SemaphoreEffect(SemaphoreOperation.AcquireWrite, 0, LockCondition.WhenTrue)
            : KnownSymbols.Is(method, Symbols.SemaphoreReleases) ? new SemaphoreEffect(SemaphoreOperation.Release, 0, LockCondition.None)
            : KnownSymbols.Is(method, Symbols.SemaphoreDowngrades) ? new SemaphoreEffect(SemaphoreOperation.Downgrade, 0, LockCondition.None)
            : null;
    }

    /// <summary>The key of an rwsem value: <c>mm.mmap_lock</c> (5.8) is <c>mm.mmap_sem</c>.</summary>
    public Value SemaphoreKey(Value value) =>
        value.Kind == ValueKind.Member && Symbols.MmapLock is { } mmapLock && Symbols.MmapSem is { } mmapSem
            && SymbolEqualityComparer.Default.Equals(value.Payload as ISymbol, mmapLock)
            ? Value.Member(value.Left, mmapSem, null)
            : value;

    /// <summary>The runtime's notification calls, by symbol: [start, end) or [address, address + size).</summary>
    private NotifySignature? NotifyOf(IMethodSymbol method)
    {
        if (KnownSymbols.Is(method, Symbols.InvalidateRange))
        {
            return new NotifySignature(NotifyKind.InvalidateRange, null, Ordinal(method, "start"), Ordinal(method, "end"), 0);
        }

        var vmMm = Symbols.VmAreaStruct?.GetMembers("vm_mm").OfType<IFieldSymbol>().FirstOrDefault();
        if (KnownSymbols.Is(method, Symbols.ClearFlushNotify) && vmMm is not null && method.Parameters.Length >= 2)
        {
            // ptep_clear_flush_notify(vma, address, ptep): one page; pmdp_huge_clear_flush_notify(vma, haddr, pmdp): 2 MiB.
            var length = method.Name.StartsWith("pmdp", System.StringComparison.Ordinal) ? Symbols.HugePmdSize : Symbols.PageSize;
            return length == 0 ? null : new NotifySignature(NotifyKind.InvalidateRange, vmMm, 1, -1, length);
        }

        if (KnownSymbols.Is(method, Symbols.InvalidatePage) && Symbols.PageSize != 0)
        {
            return new NotifySignature(NotifyKind.InvalidatePage, null, Ordinal(method, "address"), -1, Symbols.PageSize);
        }

        if (KnownSymbols.Is(method, Symbols.ChangePte) && Symbols.PageSize != 0)
        {
            return new NotifySignature(NotifyKind.ChangePte, null, Ordinal(method, "address"), -1, Symbols.PageSize);
        }

        return null;
    }

    private RangeSignature? Signature(IMethodSymbol method, RangeRole role, AttributeData? attribute)
    {
        var rangeName = attribute is null ? null : Annotations.NamedString(attribute, "Range", null);
        if (rangeName is null && Symbols.MmuNotifierRange is { } rangeType)
        {
            // The 4.20 form takes a single mmu_notifier_range.
            foreach (var p in method.Parameters)
            {
                if (SymbolEqualityComparer.Default.Equals(p.Type, rangeType) && method.Parameters.Length == 1)
                {
                    rangeName = p.Name;
                }
            }
        }

        if (rangeName is not null)
        {
            var r = Ordinal(method, rangeName);
            return r < 0 ? null : new RangeSignature(role, -1, -1, -1, r);
        }

        var mm = Ordinal(method, attribute is null ? "mm" : Annotations.NamedString(attribute, "Mm", "mm")!);
        var start = Ordinal(method, attribute is null ? "start" : Annotations.NamedString(attribute, "Start", "start")!);
        var end = Ordinal(method, attribute is null ? "end" : Annotations.NamedString(attribute, "End", "end")!);
        return mm < 0 ? null : new RangeSignature(role, mm, start, end, -1);
    }

    private static int Ordinal(IMethodSymbol method, string name)
    {
        foreach (var p in method.Parameters)
        {
            if (p.Name == name)
            {
                return p.Ordinal;
            }
        }

        return -1;
    }

    /// <summary>Splits a lock expression into its root and member path.</summary>
    public static IReadOnlyList<string> Path(string expression) => expression.Split('.');
}
