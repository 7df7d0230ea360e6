using System;
using System.Collections.Generic;
using System.Linq;
using Kernel.Mm;
using Kernel.Mm.SecondaryMmu;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Scenarios;

/// <summary>
/// The scenario tests share pages through the global allocator and the checker listens to every
/// page freed in the process: they must not run beside other tests, or another test's free
/// would land in this test's checker (and its report in the other test's sink).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ScenarioCollection
{
    public const string Name = "Seed scenarios (serial)";
}

/// <summary>
/// One address space as the seed scenarios need it: the runtime's reports collected (not
/// thrown), the three secondary MMUs (KVM-like shadow MMU, ODP-like interval mirror, IOMMU-like
/// shared-table client) registered, and a coherence checker watching all three.
/// </summary>
internal sealed class ScenarioRig : IDisposable
{
    public const ulong Base = 0x40000000UL;          // 1 GiB: 2 MiB aligned for THP / hugetlb

    private readonly IDisposable _sinkScope;
    private readonly List<IDisposable> _owned = new();

    public ScenarioRig()
    {
        _sinkScope = MmRuntime.UseSink(Sink);
        Mm = mm_alloc();
    }

    public CollectingViolationSink Sink { get; } = new();

    public mm_struct Mm { get; }

    public KvmLikeMmu Kvm { get; private set; } = null!;

    public OdpLikeMirror Odp { get; private set; } = null!;

    public IommuLikeClient Iommu { get; private set; } = null!;

    public CoherenceChecker Checker { get; private set; } = null!;

    public IEnumerable<ISecondaryMmu> Secondaries => new ISecondaryMmu[] { Kvm, Odp, Iommu };

    /// <summary>An anonymous private writable vma (plus <paramref name="extraFlags"/>).</summary>
    public vm_area_struct AddVma(ulong start, ulong size, ulong extraFlags = 0, mm_struct? mm = null)
    {
        mm ??= Mm;
        var vma = vm_area_alloc(mm);
        vma.vm_start = start;
        vma.vm_end = start + size;
        vma.vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | extraFlags;
        Assert.Equal(0, insert_vm_struct(mm, vma));
        return vma;
    }

    /// <summary>Registers the checker, then the three secondary MMUs (the ODP mirror over
    /// [<paramref name="start"/>, +<paramref name="size"/>)).</summary>
    public void AttachSecondaries(ulong start, ulong size)
    {
        Checker = Own(new CoherenceChecker(Mm));
        Kvm = Own(new KvmLikeMmu(Mm));
        Odp = Own(new OdpLikeMirror(Mm));
        Odp.RegisterRegion(start, size);
        Iommu = Own(new IommuLikeClient(Mm));
        Checker.Attach(Kvm);
        Checker.Attach(Odp);
        Checker.Attach(Iommu);
    }

    /// <summary>Registers one more secondary MMU (a broken one) under the checker, owned by the rig.
    /// Call <see cref="AttachSecondaries"/> first.</summary>
    public T AttachExtra<T>(T mmu)
        where T : ISecondaryMmu, IDisposable
    {
        Own(mmu);
        Checker.Attach(mmu);
        return mmu;
    }

    private T Own<T>(T disposable)
        where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary>The CPU touches <paramref name="address"/>.</summary>
    public void CpuFault(ulong address, bool write)
    {
        var vma = find_vma(Mm, address)!;
        vm_fault_t ret = handle_mm_fault(vma, address, write ? FAULT_FLAG_WRITE : 0);
        Assert.Equal(0, (int)(ret & (VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)));
    }

    /// <summary>Every secondary MMU maps <paramref name="address"/> (device / guest access).</summary>
    public void SecondariesMap(ulong address, bool write)
    {
        Assert.NotNull(Kvm.Access(address, write));
        Assert.NotNull(Odp.Access(address, write));
        Assert.NotNull(Iommu.Translate(address, write));
    }

    /// <summary>The page the CPU maps at <paramref name="address"/> (pte or huge pmd), or null.</summary>
    public page? CpuPage(ulong address, mm_struct? mm = null)
    {
        mm ??= Mm;
        var pmd = mm_find_pmd(mm, address);
        if (pmd is null)
        {
            return null;
        }

        var pmdval = pmdp_get(pmd);
        if (pmd_trans_huge(pmdval))
        {
            return pfn_to_page(pmd_pfn(pmdval) + ((address & ~HPAGE_PMD_MASK) >> PAGE_SHIFT));
        }

        var pte = ptep_get(pte_offset_map(pmd, address));
        return pte_present(pte) ? pte_page(pte) : null;
    }

    public pte_t CpuPte(ulong address, mm_struct? mm = null)
    {
        var pmd = mm_find_pmd(mm ?? Mm, address);
        return pmd is null || pmd_trans_huge(pmdp_get(pmd)) ? default : ptep_get(pte_offset_map(pmd, address));
    }

    /// <summary>Secondary MMUs that still translate <paramref name="address"/>.</summary>
    public string[] MappersOf(ulong address) =>
        Secondaries.Where(m => m.TryGetTranslation(address, out _)).Select(m => m.Name).ToArray();

    /// <summary>Secondary MMUs that translate <paramref name="address"/> to a page other than the CPU's.</summary>
    public string[] StaleAt(ulong address)
    {
        page? cpu = CpuPage(address);
        return Secondaries
            .Where(m => m.TryGetTranslation(address, out page? p) && !ReferenceEquals(p, cpu))
            .Select(m => m.Name)
            .ToArray();
    }

    /// <summary>The distinct ids reported so far (runtime twin and checker), sorted.</summary>
    public string[] Ids() => Sink.Violations.Select(v => v.RuleId).Distinct().OrderBy(id => id, StringComparer.Ordinal).ToArray();

    public string Report() => string.Join(Environment.NewLine, Sink.Violations.Select(v => v.Message));

    /// <summary>Asserts the distinct report ids, showing every report when they differ.</summary>
    public void AssertIds(params string[] expected)
    {
        var sorted = expected.OrderBy(id => id, StringComparer.Ordinal).ToArray();
        Assert.True(sorted.SequenceEqual(Ids()),
            $"expected [{string.Join(", ", sorted)}] but got [{string.Join(", ", Ids())}]:{Environment.NewLine}{Report()}");
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }

        mmput(Mm);
        _sinkScope.Dispose();
    }
}
