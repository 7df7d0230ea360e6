using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;

namespace Kernel.Mm.SecondaryMmu;

/// <summary>
/// A secondary MMU (a hypervisor's shadow page table, a device mirror, an IOTLB) as the
/// <see cref="CoherenceChecker"/> sees it: every translation it currently holds.
/// </summary>
/// <remarks>
/// Reading the translations never takes the MMU's own lock and never sleeps: the checker calls
/// these members from <see cref="mm_struct.InvalidationEnded"/> and
/// <see cref="MmRuntime.PageFreeing"/>, which can run under a page-table spinlock. Hardware
/// walks its tables the same way, without the driver's lock.
/// </remarks>
public interface ISecondaryMmu
{
    /// <summary>The name used in step logs and violation messages.</summary>
    string Name { get; }

    /// <summary>The address space this MMU mirrors.</summary>
    mm_struct Mm { get; }

    /// <summary>Every translation (page-aligned virtual address, page) the MMU holds now.</summary>
    IEnumerable<(ulong address, page page)> Translations();

    /// <summary>The page the MMU translates <paramref name="address"/> to, if any.</summary>
    bool TryGetTranslation(ulong address, [NotNullWhen(true)] out page? page);

    /// <summary>What the MMU saw and did, in order (callbacks, faults, retries).</summary>
    MmuStepLog Steps { get; }
}

/// <summary>The outcome of one secondary-MMU fault.</summary>
public enum SecondaryFaultResult
{
    /// <summary>The translation was installed.</summary>
    Installed,

    /// <summary>An invalidation ran (or was running) while the page was looked up: nothing was
    /// installed and the access must fault again (KVM's <c>RET_PF_RETRY</c>, ODP's <c>-EAGAIN</c>).</summary>
    Retry,

    /// <summary>The CPU could not map the address (no vma, no permission, out of memory).</summary>
    Failed,
}
