using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// The <c>Kernel.Mm</c> API and the annotation attributes, resolved once per compilation.
/// Rules match by symbol, never by name: a user's own <c>invalidate_page</c> is not ours.
/// </summary>
internal sealed class KnownSymbols
{
    public const string RuntimeNamespace = "Kernel.Mm";
    public const string AnnotationsNamespace = "MmuNotifierAnalyzers.Annotations";

    private static readonly ConditionalWeakTable<Compilation, KnownSymbols> Cache = new();

    private static readonly ConditionalWeakTable<IAssemblySymbol, StrongBox<bool>> UsesRuntime = new();

    private KnownSymbols(Compilation compilation)
    {
        Compilation = compilation;
        Linux = compilation.GetTypeByMetadataName("Kernel.Mm.Linux");
        MmStruct = compilation.GetTypeByMetadataName("Kernel.Mm.mm_struct");
        VmAreaStruct = compilation.GetTypeByMetadataName("Kernel.Mm.vm_area_struct");
        Page = compilation.GetTypeByMetadataName("Kernel.Mm.page");
        SpinlockT = compilation.GetTypeByMetadataName("Kernel.Mm.spinlock_t");
        MmuNotifierOps = compilation.GetTypeByMetadataName("Kernel.Mm.mmu_notifier_ops");
        MmuNotifierRange = compilation.GetTypeByMetadataName("Kernel.Mm.mmu_notifier_range");
        MmuIntervalNotifierOps = compilation.GetTypeByMetadataName("Kernel.Mm.mmu_interval_notifier_ops");
        GfpT = compilation.GetTypeByMetadataName("Kernel.Mm.gfp_t");
        MmuIntervalNotifier = compilation.GetTypeByMetadataName("Kernel.Mm.mmu_interval_notifier");
        MmuIntervalInvalidateFn = compilation.GetTypeByMetadataName("Kernel.Mm.mmu_interval_invalidate_fn");
        RwSemaphore = compilation.GetTypeByMetadataName("Kernel.Mm.rw_semaphore");
        var types = ImmutableArray.Create(Linux, MmStruct, VmAreaStruct, Page, SpinlockT, MmuNotifierOps, MmuNotifierRange, MmuIntervalNotifierOps, GfpT, MmuIntervalNotifier, MmuIntervalInvalidateFn, RwSemaphore);
        ReferencedTypes = types.Any(t => t?.ContainingAssembly is ISourceAssemblySymbol) ? default : types;

        InvalidatePage = Methods("mmu_notifier_invalidate_page");
        RangeStart = Methods("mmu_notifier_invalidate_range_start");
        RangeEnd = Methods("mmu_notifier_invalidate_range_end");
        RangeStartNonblock = Methods("mmu_notifier_invalidate_range_start_nonblock");
        InvalidateRange = Methods("mmu_notifier_invalidate_range");
        ClearFlushNotify = Methods("ptep_clear_flush_notify", "pmdp_huge_clear_flush_notify");
        ChangePte = Methods("mmu_notifier_change_pte", "set_pte_at_notify");
        RangeInit = Methods("mmu_notifier_range_init");
        RangeBlockable = Methods("mmu_notifier_range_blockable");
        GfpAllocators = Methods("kmalloc", "alloc_page_vma", "alloc_pages", "__get_free_pages", "kzalloc");
        PageRelease = Methods("put_page", "page_cache_release");
        IntervalSetSeq = Methods("mmu_interval_set_seq");
        MutexLock = Methods("mutex_lock");
        MutexTrylock = Methods("mutex_trylock");
        MutexUnlock = Methods("mutex_unlock");
        EntryUpdates = Methods(
            "set_pte_at", "set_pmd_at", "set_huge_pte_at", "pte_clear", "ptep_set_wrprotect", "huge_ptep_set_wrprotect",
            "ptep_clear_flush", "ptep_get_and_clear", "pmdp_huge_clear_flush", "pmdp_huge_get_and_clear", "pmdp_clear_flush",
            "huge_ptep_clear_flush", "huge_ptep_get_and_clear", "pmdp_splitting_flush");
        PageTableChanges = EntryUpdates.Union(Methods("unmap_page_range"));
        EntryClears = Methods("ptep_clear_flush", "ptep_get_and_clear", "pmdp_huge_clear_flush", "pmdp_huge_get_and_clear", "pmdp_clear_flush", "huge_ptep_clear_flush", "huge_ptep_get_and_clear");
        EntrySplittingFlush = Methods("pmdp_splitting_flush");
        EntrySetters = Methods("set_pte_at", "set_pmd_at", "set_huge_pte_at");
        EntryChanges = EntryClears.Union(EntrySplittingFlush).Union(EntrySetters);
        EntryDowngrades = Methods("pte_wrprotect", "pte_mkclean", "pte_mkold", "pmd_wrprotect", "pmd_mkold", "huge_pte_wrprotect");
        SlotReads = Methods("ptep_get", "pmdp_get", "huge_ptep_get");
        InitMm = Linux?.GetMembers("init_mm").FirstOrDefault(m => m is IFieldSymbol or IPropertySymbol);

        SemaphoreReadAcquires = Methods("down_read", "down_read_killable");
        SemaphoreWriteAcquires = Methods("down_write", "down_write_killable");
        SemaphoreReadTrylocks = Methods("down_read_trylock");
        SemaphoreWriteTrylocks = Methods("down_write_trylock");
        SemaphoreReleases = Methods("up_read", "up_write");
        SemaphoreDowngrades = Methods("downgrade_write");
        Register = Methods("mmu_notifier_register", "mmu_notifier_get");
        RegisterLocked = Methods("__mmu_notifier_register", "mmu_notifier_get_locked");
        Unregister = Methods("mmu_notifier_unregister");
        MmapSem = MmStruct?.GetMembers("mmap_sem").OfType<IFieldSymbol>().FirstOrDefault();
        MmapLock = MmStruct?.GetMembers("mmap_lock").OfType<IPropertySymbol>().FirstOrDefault();

        PageSize = ConstantOf("PAGE_SIZE");
        HugePmdSize = ConstantOf("HPAGE_PMD_SIZE");

        // Page arithmetic (MMU007/MMU008, read through Flow/RangeArithmetic). The consts are
        // matched as field references in the operation tree: C# folds them into constants.
        CompoundOrder = Methods("compound_order");
        CompoundNr = Methods("compound_nr", "hpage_nr_pages", "thp_nr_pages");
        PageSizeOf = Methods("page_size");
        HugePageSize = Methods("huge_page_size");
        HugePageMask = Methods("huge_page_mask");
        HugePageOrder = Methods("huge_page_order");
        PagesPerHugePage = Methods("pages_per_huge_page");
        PmdAlignedAddressUsers = Methods(
            "pmdp_huge_clear_flush", "pmdp_clear_flush", "pmdp_huge_get_and_clear", "pmdp_splitting_flush",
            "pmdp_huge_clear_flush_notify", "page_check_address_pmd");
        PageSizeField = Field("PAGE_SIZE");
        PageShiftField = Field("PAGE_SHIFT");
        HpagePmdSize = Field("HPAGE_PMD_SIZE");
        HpagePmdMask = Field("HPAGE_PMD_MASK");
        HpagePmdOrder = Field("HPAGE_PMD_ORDER");
        HpagePmdNr = Field("HPAGE_PMD_NR");

        OpsInvalidatePage = OpsMember("invalidate_page");
        OpsInvalidateRangeStart = OpsMember("invalidate_range_start");
        OpsInvalidateRangeEnd = OpsMember("invalidate_range_end");
        OpsInvalidateRangeStartRange = OpsMember("invalidate_range_start_range");
        OpsInvalidateRangeEndRange = OpsMember("invalidate_range_end_range");
        OpsInvalidateRange = OpsMember("invalidate_range");
        OpsChangePte = OpsMember("change_pte");
        OpsClearFlushYoung = OpsMember("clear_flush_young");
        OpsTestYoung = OpsMember("test_young");
        OpsRelease = OpsMember("release");
        IntervalOpsInvalidate = MmuIntervalNotifierOps?.GetMembers("invalidate").OfType<IPropertySymbol>().FirstOrDefault();

        HasAnnotations = compilation.GetTypesByMetadataName(AnnotationsNamespace + ".MaySleepAttribute").Length > 0
            || compilation.GetTypesByMetadataName(AnnotationsNamespace + ".AtomicContextAttribute").Length > 0
            || compilation.GetTypesByMetadataName(AnnotationsNamespace + ".AcquiresLockAttribute").Length > 0
            || compilation.GetTypesByMetadataName(AnnotationsNamespace + ".OpensInvalidationRangeAttribute").Length > 0;
    }

    public Compilation Compilation { get; }

    /// <summary>Nothing to analyze: neither the runtime nor any annotation is referenced.
    /// Analyzers register no further action, so projects that do not use us pay nothing.</summary>
    public bool IsEmpty => Linux is null && !HasAnnotations;

    public bool HasAnnotations { get; }

    public INamedTypeSymbol? Linux { get; }

    /// <summary>
    /// The runtime's types as resolved here, when every one comes from metadata (default when one is
    /// declared in source, this compilation's or a referenced project's). Everything else this class
    /// holds is read from them, so two compilations with the same referenced types judge a
    /// referenced method alike (<see cref="Flow.ApiModel"/>).
    /// </summary>
    public ImmutableArray<INamedTypeSymbol?> ReferencedTypes { get; }

    public INamedTypeSymbol? MmStruct { get; }
    public INamedTypeSymbol? VmAreaStruct { get; }
    public INamedTypeSymbol? Page { get; }
    public INamedTypeSymbol? SpinlockT { get; }
    public INamedTypeSymbol? MmuNotifierOps { get; }
    public INamedTypeSymbol? MmuNotifierRange { get; }
    public INamedTypeSymbol? MmuIntervalNotifierOps { get; }
    public INamedTypeSymbol? GfpT { get; }
    public INamedTypeSymbol? MmuIntervalNotifier { get; }

    /// <summary>The delegate type of <c>mmu_interval_notifier_ops.invalidate</c>.</summary>
    public INamedTypeSymbol? MmuIntervalInvalidateFn { get; }
    public INamedTypeSymbol? RwSemaphore { get; }

    /// <summary><c>down_read</c> (and <c>down_read_killable</c> where Kernel.Mm has it).</summary>
    public ImmutableHashSet<IMethodSymbol> SemaphoreReadAcquires { get; }
    /// <summary><c>down_write</c> (and <c>down_write_killable</c> where Kernel.Mm has it).</summary>
    public ImmutableHashSet<IMethodSymbol> SemaphoreWriteAcquires { get; }
    public ImmutableHashSet<IMethodSymbol> SemaphoreReadTrylocks { get; }
    public ImmutableHashSet<IMethodSymbol> SemaphoreWriteTrylocks { get; }
    /// <summary><c>up_read</c>, <c>up_write</c>.</summary>
    public ImmutableHashSet<IMethodSymbol> SemaphoreReleases { get; }
    public ImmutableHashSet<IMethodSymbol> SemaphoreDowngrades { get; }
    /// <summary><c>mmu_notifier_register</c>, <c>mmu_notifier_get</c> (5.4): take mmap_sem for write themselves.</summary>
    public ImmutableHashSet<IMethodSymbol> Register { get; }
    /// <summary><c>__mmu_notifier_register</c>, <c>mmu_notifier_get_locked</c> (5.4): for a caller that holds mmap_sem for write.</summary>
    public ImmutableHashSet<IMethodSymbol> RegisterLocked { get; }
    public ImmutableHashSet<IMethodSymbol> Unregister { get; }
    /// <summary><c>mm_struct.mmap_sem</c>.</summary>
    public IFieldSymbol? MmapSem { get; }
    /// <summary><c>mm_struct.mmap_lock</c>, the 5.8 name of the same semaphore.</summary>
    public IPropertySymbol? MmapLock { get; }

    /// <summary><c>mmu_notifier_invalidate_page</c> (removed in 4.13).</summary>
    public ImmutableHashSet<IMethodSymbol> InvalidatePage { get; }
    /// <summary>Both forms of <c>mmu_notifier_invalidate_range_start</c>.</summary>
    public ImmutableHashSet<IMethodSymbol> RangeStart { get; }
    /// <summary><c>mmu_notifier_invalidate_range_start_nonblock</c>: opens a range only when it returns 0.</summary>
    public ImmutableHashSet<IMethodSymbol> RangeStartNonblock { get; }
    /// <summary>Both forms of <c>mmu_notifier_invalidate_range_end</c>.</summary>
    public ImmutableHashSet<IMethodSymbol> RangeEnd { get; }
    /// <summary><c>mmu_notifier_invalidate_range</c>.</summary>
    public ImmutableHashSet<IMethodSymbol> InvalidateRange { get; }
    /// <summary><c>ptep_clear_flush_notify</c>, <c>pmdp_huge_clear_flush_notify</c>.</summary>
    public ImmutableHashSet<IMethodSymbol> ClearFlushNotify { get; }
    /// <summary><c>mmu_notifier_change_pte</c>, <c>set_pte_at_notify</c>.</summary>
    public ImmutableHashSet<IMethodSymbol> ChangePte { get; }
    public ImmutableHashSet<IMethodSymbol> RangeInit { get; }
    /// <summary><c>mmu_notifier_range_blockable(range)</c>: whether the range's callbacks may sleep.</summary>
    public ImmutableHashSet<IMethodSymbol> RangeBlockable { get; }
    /// <summary>Calls that change a user mm's page tables (set, clear, downgrade or zap entries):
    /// what a path whose non-blocking start was refused must not do (MMU014).</summary>
    public ImmutableHashSet<IMethodSymbol> PageTableChanges { get; }

    /// <summary>Calls that change one entry under its lock (<see cref="PageTableChanges"/> but the
    /// zap of a whole range): what the fixes put <c>invalidate_range</c> right after, and what a
    /// notifying wrapper of 2012 hides.</summary>
    public ImmutableHashSet<IMethodSymbol> EntryUpdates { get; }

    /// <summary>Allocators that sleep iff their gfp flags allow direct reclaim.</summary>
    public ImmutableHashSet<IMethodSymbol> GfpAllocators { get; }
    public ImmutableHashSet<IMethodSymbol> PageRelease { get; }

    /// <summary><c>mmu_interval_set_seq</c>: what an interval notifier's <c>-&gt;invalidate</c> must call.</summary>
    public ImmutableHashSet<IMethodSymbol> IntervalSetSeq { get; }

    /// <summary>The mutex API: a sleeping driver lock (MMU012's <c>umem_mutex</c>, <c>svmm->mutex</c>).</summary>
    public ImmutableHashSet<IMethodSymbol> MutexLock { get; }
    public ImmutableHashSet<IMethodSymbol> MutexTrylock { get; }
    public ImmutableHashSet<IMethodSymbol> MutexUnlock { get; }

    /// <summary>Clear a present entry without telling any notifier (the caller must invalidate).</summary>
    public ImmutableHashSet<IMethodSymbol> EntryClears { get; }

    /// <summary><c>pmdp_splitting_flush</c> (2012 THP): marks a huge pmd splitting and flushes, no notifier.</summary>
    public ImmutableHashSet<IMethodSymbol> EntrySplittingFlush { get; }

    /// <summary><c>set_pte_at</c>, <c>set_pmd_at</c>, <c>set_huge_pte_at</c>: write an entry, no notifier.</summary>
    public ImmutableHashSet<IMethodSymbol> EntrySetters { get; }

    /// <summary>What MMU013 counts as a change of an entry: <see cref="EntryClears"/>,
    /// <see cref="EntrySplittingFlush"/> and <see cref="EntrySetters"/>.</summary>
    public ImmutableHashSet<IMethodSymbol> EntryChanges { get; }

    /// <summary>Entry transforms that take a right away (write, dirty, accessed): what a secondary MMU must re-fault for.</summary>
    public ImmutableHashSet<IMethodSymbol> EntryDowngrades { get; }

    /// <summary><c>ptep_get</c>, <c>pmdp_get</c>, <c>huge_ptep_get</c>: the C <c>*ptep</c>.</summary>
    public ImmutableHashSet<IMethodSymbol> SlotReads { get; }

    /// <summary><c>init_mm</c> (a field or property of <c>Linux</c>), the kernel's own page tables (no secondary MMU mirrors them).</summary>
    public ISymbol? InitMm { get; }

    /// <summary>The runtime's <c>PAGE_SIZE</c> (0 when absent).</summary>
    public ulong PageSize { get; }

    /// <summary>The runtime's <c>HPAGE_PMD_SIZE</c> (0 when absent).</summary>
    public ulong HugePmdSize { get; }

    /// <summary><c>compound_order(page)</c>: an order (log2 of a number of pages).</summary>
    public ImmutableHashSet<IMethodSymbol> CompoundOrder { get; }
    /// <summary><c>compound_nr</c> (and <c>hpage_nr_pages</c> / <c>thp_nr_pages</c> where Kernel.Mm has them): a number of pages.</summary>
    public ImmutableHashSet<IMethodSymbol> CompoundNr { get; }
    /// <summary><c>page_size(page)</c> where Kernel.Mm has it: bytes.</summary>
    public ImmutableHashSet<IMethodSymbol> PageSizeOf { get; }
    public ImmutableHashSet<IMethodSymbol> HugePageSize { get; }
    public ImmutableHashSet<IMethodSymbol> HugePageMask { get; }
    public ImmutableHashSet<IMethodSymbol> HugePageOrder { get; }
    public ImmutableHashSet<IMethodSymbol> PagesPerHugePage { get; }
    /// <summary>Kernel.Mm functions that throw unless their address is HPAGE_PMD aligned.</summary>
    public ImmutableHashSet<IMethodSymbol> PmdAlignedAddressUsers { get; }
    public IFieldSymbol? PageSizeField { get; }
    public IFieldSymbol? PageShiftField { get; }
    public IFieldSymbol? HpagePmdSize { get; }
    public IFieldSymbol? HpagePmdMask { get; }
    public IFieldSymbol? HpagePmdOrder { get; }
    public IFieldSymbol? HpagePmdNr { get; }

    public IPropertySymbol? OpsInvalidatePage { get; }
    public IPropertySymbol? OpsInvalidateRangeStart { get; }
    public IPropertySymbol? OpsInvalidateRangeEnd { get; }

    /// <summary>The 4.20+ form of <c>-&gt;invalidate_range_start</c>, <c>(mn, range)</c>, which may be asked not to block.</summary>
    public IPropertySymbol? OpsInvalidateRangeStartRange { get; }

    /// <summary>The 4.20+ form of <c>-&gt;invalidate_range_end</c>, <c>(mn, range)</c>.</summary>
    public IPropertySymbol? OpsInvalidateRangeEndRange { get; }
    public IPropertySymbol? OpsInvalidateRange { get; }
    public IPropertySymbol? OpsChangePte { get; }
    public IPropertySymbol? OpsClearFlushYoung { get; }
    public IPropertySymbol? OpsTestYoung { get; }
    public IPropertySymbol? OpsRelease { get; }
    /// <summary><c>mmu_interval_notifier_ops.invalidate</c> (5.5).</summary>
    public IPropertySymbol? IntervalOpsInvalidate { get; }

    public static KnownSymbols Get(Compilation compilation) =>
        Cache.GetValue(compilation, static c => new KnownSymbols(c));

    /// <summary>True when <paramref name="method"/> (or what it was constructed from) is in <paramref name="set"/>.</summary>
    public static bool Is(IMethodSymbol? method, ImmutableHashSet<IMethodSymbol> set) =>
        method is not null && set.Count > 0 && (set.Contains(method) || set.Contains(method.OriginalDefinition));

    /// <summary>Whether a referenced assembly is a kernel library written against the runtime or the
    /// annotations (or declaring its own copies of them): the only ones whose methods can carry our effects.
    /// Kept with the assembly's symbol, which the compilations sharing a reference share: looking
    /// for the annotation types in each of a project's ~160 framework assemblies was about a
    /// millisecond of every compilation of an editor.</summary>
    public static bool UsesRuntimeOrAnnotations(IAssemblySymbol assembly) =>
        UsesRuntime.GetValue(assembly, static a => new StrongBox<bool>(ReadUsesRuntimeOrAnnotations(a))).Value;

    private static bool ReadUsesRuntimeOrAnnotations(IAssemblySymbol assembly)
    {
        if (assembly.Name is "Kernel.Mm" or "MmuNotifierAnalyzers.Annotations")
        {
            return assembly.Name == "Kernel.Mm";
        }

        foreach (var module in assembly.Modules)
        {
            foreach (var referenced in module.ReferencedAssemblies)
            {
                if (referenced.Name is "Kernel.Mm" or "MmuNotifierAnalyzers.Annotations")
                {
                    return true;
                }
            }
        }

        return assembly.GetTypeByMetadataName(AnnotationsNamespace + ".AcquiresLockAttribute") is not null
            || assembly.GetTypeByMetadataName(AnnotationsNamespace + ".AtomicContextAttribute") is not null;
    }

    private ImmutableHashSet<IMethodSymbol> Methods(params string[] names)
    {
        if (Linux is null)
        {
            return ImmutableHashSet<IMethodSymbol>.Empty;
        }

        return names
            .SelectMany(n => Linux.GetMembers(n))
            .OfType<IMethodSymbol>()
            .ToImmutableHashSet<IMethodSymbol>(SymbolEqualityComparer.Default);
    }

    private ulong ConstantOf(string name) =>
        Linux?.GetMembers(name).OfType<IFieldSymbol>().FirstOrDefault() is { HasConstantValue: true, ConstantValue: ulong value } ? value : 0;

    private IFieldSymbol? Field(string name) =>
        Linux?.GetMembers(name).OfType<IFieldSymbol>().FirstOrDefault();

    private IPropertySymbol? OpsMember(string name) =>
        MmuNotifierOps?.GetMembers(name).OfType<IPropertySymbol>().FirstOrDefault();
}
