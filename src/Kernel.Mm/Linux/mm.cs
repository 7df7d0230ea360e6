using System;
using System.Collections.Generic;
using System.Threading;
using MmuNotifierAnalyzers.Annotations;

namespace Kernel.Mm;

// include/linux/mm.h, include/linux/mm_types.h, kernel/fork.c, mm/mmap.c
public static partial class Linux
{
    public const int PAGE_SHIFT = 12;
    public const ulong PAGE_SIZE = 1UL << PAGE_SHIFT;
    public const ulong PAGE_MASK = ~(PAGE_SIZE - 1);
    public const int HPAGE_PMD_SHIFT = 21;
    public const ulong HPAGE_PMD_SIZE = 1UL << HPAGE_PMD_SHIFT;
    public const ulong HPAGE_PMD_MASK = ~(HPAGE_PMD_SIZE - 1);
    public const int HPAGE_PMD_ORDER = HPAGE_PMD_SHIFT - PAGE_SHIFT;
    public const int HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;

    public const ulong VM_NONE = 0x0;
    public const ulong VM_READ = 0x1;
    public const ulong VM_WRITE = 0x2;
    public const ulong VM_EXEC = 0x4;
    public const ulong VM_SHARED = 0x8;
    public const ulong VM_MAYREAD = 0x10;
    public const ulong VM_MAYWRITE = 0x20;
    public const ulong VM_MAYEXEC = 0x40;
    public const ulong VM_MAYSHARE = 0x80;
    public const ulong VM_GROWSDOWN = 0x100;
    public const ulong VM_PFNMAP = 0x400;
    public const ulong VM_LOCKED = 0x2000;
    public const ulong VM_IO = 0x4000;
    public const ulong VM_DONTCOPY = 0x20000;
    public const ulong VM_DONTEXPAND = 0x40000;
    public const ulong VM_ACCOUNT = 0x100000;
    public const ulong VM_NORESERVE = 0x200000;
    public const ulong VM_HUGETLB = 0x400000;
    public const ulong VM_MIXEDMAP = 0x10000000;
    /// <summary>madvise(MADV_HUGEPAGE): anonymous faults map 2 MiB THPs where the range allows.</summary>
    public const ulong VM_HUGEPAGE = 0x20000000;
    public const ulong VM_NOHUGEPAGE = 0x40000000;

    public const uint FAULT_FLAG_WRITE = 0x01;
    public const uint FAULT_FLAG_MKWRITE = 0x02;
    public const uint FAULT_FLAG_ALLOW_RETRY = 0x04;
    public const uint FAULT_FLAG_RETRY_NOWAIT = 0x08;
    public const uint FAULT_FLAG_KILLABLE = 0x10;
    public const uint FAULT_FLAG_TRIED = 0x20;
    public const uint FAULT_FLAG_USER = 0x40;
    public const uint FAULT_FLAG_REMOTE = 0x80;

    public static readonly vm_fault_t VM_FAULT_OOM = new(0x0001);
    public static readonly vm_fault_t VM_FAULT_SIGBUS = new(0x0002);
    public static readonly vm_fault_t VM_FAULT_MAJOR = new(0x0004);
    public static readonly vm_fault_t VM_FAULT_WRITE = new(0x0008);
    public static readonly vm_fault_t VM_FAULT_HWPOISON = new(0x0010);
    public static readonly vm_fault_t VM_FAULT_SIGSEGV = new(0x0040);
    public static readonly vm_fault_t VM_FAULT_NOPAGE = new(0x0100);
    public static readonly vm_fault_t VM_FAULT_LOCKED = new(0x0200);
    public static readonly vm_fault_t VM_FAULT_RETRY = new(0x0400);
    public static readonly vm_fault_t VM_FAULT_FALLBACK = new(0x0800);
    public static readonly vm_fault_t VM_FAULT_ERROR = new(0x0001 | 0x0002 | 0x0040 | 0x0010 | 0x0800);

    public const int ENOMEM = 12;
    public const int EINVAL = 22;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EAGAIN = 11;
    public const int EINTR = 4;

    // ---- address spaces ------------------------------------------------------------------

    /// <summary>A new, empty address space with <c>mm_users</c> = 1.</summary>
    public static mm_struct mm_alloc()
    {
        var mm = new mm_struct();
        mm.pgd = alloc_pt_table(mm, 4, 0);
        return mm;
    }

    /// <summary>Takes a user reference (<c>mm_users</c>).</summary>
    public static void mmget(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        int old;
        do
        {
            old = Volatile.Read(ref mm.mm_users);
            if (old <= 0)
            {
                throw new InvalidOperationException($"mmget: {mm} has no users left (torn down)");
            }
        }
        while (Interlocked.CompareExchange(ref mm.mm_users, old + 1, old) != old);
    }

    /// <summary>Takes a user reference unless the mm is already being torn down.</summary>
    public static bool mmget_not_zero(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        int old;
        do
        {
            old = Volatile.Read(ref mm.mm_users);
            if (old <= 0)
            {
                return false;
            }
        }
        while (Interlocked.CompareExchange(ref mm.mm_users, old + 1, old) != old);
        return true;
    }

    /// <summary>
    /// Drops a user reference. The last one tears the address space down (exit_mmap): reports
    /// MMU002 for a start still open, calls every notifier's <c>-&gt;release</c> (and invalidates every
    /// interval notifier), unmaps everything and frees the page tables. May sleep.
    /// </summary>
    [MaySleep]
    public static void mmput(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        might_sleep_in(nameof(mmput));
        int v = Interlocked.Decrement(ref mm.mm_users);
        if (v < 0)
        {
            Interlocked.Increment(ref mm.mm_users);
            throw new InvalidOperationException($"mmput: {mm} has no users left (mmput without mmget)");
        }

        if (v == 0)
        {
            exit_mmap(mm);
            mmdrop(mm);
        }
    }

    /// <summary>Pins the mm_struct itself (<c>mm_count</c>), not the address space.</summary>
    public static void mmgrab(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        Interlocked.Increment(ref mm.mm_count);
    }

    public static void mmdrop(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        if (Interlocked.Decrement(ref mm.mm_count) < 0)
        {
            Interlocked.Increment(ref mm.mm_count);
            throw new InvalidOperationException($"mmdrop: {mm} mm_count underflow");
        }
    }

    private static void exit_mmap(mm_struct mm)
    {
        string? violation = InvalidationTwin.OpenAtTeardown(mm);

        try
        {
            exit_mmap_teardown(mm);
        }
        finally
        {
            // Reported after the teardown, so a throwing sink does not leave a half-torn-down mm.
            if (violation is not null)
            {
                MmRuntime.Report(RuleIdentifiers.UnbalancedRange, violation);
            }
        }
    }

    private static void exit_mmap_teardown(mm_struct mm)
    {

        mmu_notifier_release(mm);
        foreach (var vma in mm.Vmas)
        {
            unmap_single_vma(vma, vma.vm_start, vma.vm_end, notify: true);
        }

        lock (mm.mmap)
        {
            foreach (var vma in mm.mmap)
            {
                unlink_anon_vma(vma);
                vma.inserted = false;
            }

            mm.mmap.Clear();
        }

        free_pgtables(mm);
        mm.torn_down = true;
    }

    // ---- vmas ------------------------------------------------------------------------------

    /// <summary>A new vma of <paramref name="mm"/>; set its fields, then <see cref="insert_vm_struct"/>.</summary>
    public static vm_area_struct vm_area_alloc(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        return new vm_area_struct(mm);
    }

    /// <summary>The page protection of <paramref name="vm_flags"/> (private writable maps start
    /// read-only: COW).</summary>
    public static pgprot_t vm_get_page_prot(ulong vm_flags)
    {
        if ((vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) == 0)
        {
            return PAGE_NONE;
        }

        if ((vm_flags & (VM_WRITE | VM_SHARED)) == (VM_WRITE | VM_SHARED))
        {
            return PAGE_SHARED;
        }

        return PAGE_READONLY;
    }

    /// <summary>
    /// Links <paramref name="vma"/> into <paramref name="mm"/>. Returns 0, or -ENOMEM when it overlaps
    /// an existing vma. The range must be page aligned and non-empty (ArgumentException otherwise).
    /// A zero <c>vm_page_prot</c> is derived from <c>vm_flags</c>; a zero <c>vm_pgoff</c> of an
    /// anonymous vma becomes <c>vm_start &gt;&gt; PAGE_SHIFT</c>.
    /// </summary>
    public static int insert_vm_struct(mm_struct mm, vm_area_struct vma)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(vma);
        if (!ReferenceEquals(vma.vm_mm, mm))
        {
            throw new ArgumentException($"insert_vm_struct: {vma} belongs to {vma.vm_mm}, not {mm}", nameof(vma));
        }

        if ((vma.vm_start & ~PAGE_MASK) != 0 || (vma.vm_end & ~PAGE_MASK) != 0)
        {
            throw new ArgumentException($"insert_vm_struct: [0x{vma.vm_start:x}, 0x{vma.vm_end:x}) is not page aligned", nameof(vma));
        }

        if (vma.vm_end <= vma.vm_start || vma.vm_end > TASK_SIZE)
        {
            throw new ArgumentException($"insert_vm_struct: [0x{vma.vm_start:x}, 0x{vma.vm_end:x}) is empty or beyond TASK_SIZE", nameof(vma));
        }

        if ((vma.vm_flags & VM_HUGETLB) != 0 && ((vma.vm_start | vma.vm_end) & ~HPAGE_PMD_MASK) != 0)
        {
            throw new ArgumentException($"insert_vm_struct: hugetlb vma [0x{vma.vm_start:x}, 0x{vma.vm_end:x}) is not aligned to the huge page size", nameof(vma));
        }

        if (vma.vm_page_prot.val == 0)
        {
            vma.vm_page_prot = vm_get_page_prot(vma.vm_flags);
        }

        if (vma.vm_pgoff == 0)
        {
            vma.vm_pgoff = vma.vm_start >> PAGE_SHIFT;
        }

        lock (mm.mmap)
        {
            if (mm.torn_down)
            {
                throw new InvalidOperationException($"insert_vm_struct: {mm} was torn down");
            }

            if (vma.inserted)
            {
                throw new InvalidOperationException($"insert_vm_struct: {vma} is already inserted");
            }

            int i = 0;
            while (i < mm.mmap.Count && mm.mmap[i].vm_start < vma.vm_start)
            {
                i++;
            }

            if ((i > 0 && mm.mmap[i - 1].vm_end > vma.vm_start) || (i < mm.mmap.Count && mm.mmap[i].vm_start < vma.vm_end))
            {
                return -ENOMEM;
            }

            mm.mmap.Insert(i, vma);
            vma.inserted = true;
        }

        if (vma.anon_vma is not null)
        {
            lock (vma.anon_vma.vmas)
            {
                if (!vma.anon_vma.vmas.Contains(vma))
                {
                    vma.anon_vma.vmas.Add(vma);
                }
            }
        }

        return 0;
    }

    /// <summary>The first vma with <c>vm_end &gt; addr</c> (it may start above
    /// <paramref name="addr"/>, as in the kernel), or null. Valid while <c>mmap_lock</c> is held.</summary>
    [LooksUpPages]
    public static vm_area_struct? find_vma(mm_struct mm, ulong addr)
    {
        ArgumentNullException.ThrowIfNull(mm);
        lock (mm.mmap)
        {
            foreach (var vma in mm.mmap)
            {
                if (vma.vm_end > addr)
                {
                    return vma;
                }
            }
        }

        return null;
    }

    /// <summary>The vma containing <paramref name="addr"/>, or null. Valid while <c>mmap_lock</c> is held.</summary>
    [LooksUpPages]
    public static vm_area_struct? vma_lookup(mm_struct mm, ulong addr)
    {
        var vma = find_vma(mm, addr);
        return vma is not null && vma.vm_start <= addr ? vma : null;
    }

    /// <summary>Gives <paramref name="vma"/> an anon_vma (the reverse map of its anonymous pages).
    /// May sleep (it allocates): call it before taking the page-table lock.</summary>
    [MaySleep]
    public static int anon_vma_prepare(vm_area_struct vma)
    {
        ArgumentNullException.ThrowIfNull(vma);
        if (vma.anon_vma is null)
        {
            might_sleep_in(nameof(anon_vma_prepare));
        }

        return __anon_vma_prepare(vma);
    }

    internal static int __anon_vma_prepare(vm_area_struct vma)
    {
        if (vma.anon_vma is not null)
        {
            return 0;
        }

        var av = new anon_vma();
        lock (av.vmas)
        {
            av.vmas.Add(vma);
        }

        if (Interlocked.CompareExchange(ref vma.anon_vma, av, null) is not null)
        {
            return 0; // raced with another fault: use theirs
        }

        return 0;
    }

    private static void unlink_anon_vma(vm_area_struct vma)
    {
        var av = vma.anon_vma;
        if (av is null)
        {
            return;
        }

        lock (av.vmas)
        {
            av.vmas.Remove(vma);
        }
    }

    /// <summary>The page index of <paramref name="address"/> in <paramref name="vma"/>'s mapping.</summary>
    public static ulong linear_page_index(vm_area_struct vma, ulong address)
    {
        ArgumentNullException.ThrowIfNull(vma);
        return ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff;
    }

    /// <summary>True for a private writable mapping (copy-on-write).</summary>
    public static bool is_cow_mapping(ulong flags) => (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;

    public static bool is_vm_hugetlb_page(vm_area_struct vma)
    {
        ArgumentNullException.ThrowIfNull(vma);
        return (vma.vm_flags & VM_HUGETLB) != 0;
    }

    /// <summary>
    /// munmap: unmaps [start, start+len) (start/end bracketed, pages freed after the invalidation)
    /// and removes the vmas it covers completely (partial vmas are trimmed). Returns 0 or -EINVAL.
    /// </summary>
    [MaySleep]
    public static int do_munmap(mm_struct mm, ulong start, ulong len)
    {
        ArgumentNullException.ThrowIfNull(mm);
        might_sleep_in(nameof(do_munmap));
        if ((start & ~PAGE_MASK) != 0 || len == 0)
        {
            return -EINVAL;
        }

        ulong end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
        foreach (var vma in mm.Vmas)
        {
            if (vma.vm_end <= start || vma.vm_start >= end)
            {
                continue;
            }

            ulong s = Math.Max(start, vma.vm_start);
            ulong e = Math.Min(end, vma.vm_end);
            unmap_single_vma(vma, s, e, notify: true);
            lock (mm.mmap)
            {
                if (s == vma.vm_start && e == vma.vm_end)
                {
                    mm.mmap.Remove(vma);
                    vma.inserted = false;
                    unlink_anon_vma(vma);
                }
                else if (s == vma.vm_start)
                {
                    vma.vm_pgoff += (e - vma.vm_start) >> PAGE_SHIFT;
                    vma.vm_start = e;
                }
                else if (e == vma.vm_end)
                {
                    vma.vm_end = s;
                }
                else
                {
                    // Split: the tail becomes a new vma sharing the anon_vma.
                    var tail = new vm_area_struct(mm)
                    {
                        vm_start = e,
                        vm_end = vma.vm_end,
                        vm_flags = vma.vm_flags,
                        vm_page_prot = vma.vm_page_prot,
                        vm_pgoff = vma.vm_pgoff + ((e - vma.vm_start) >> PAGE_SHIFT),
                        anon_vma = vma.anon_vma,
                        vm_private_data = vma.vm_private_data,
                        inserted = true,
                    };
                    vma.vm_end = s;
                    mm.mmap.Insert(mm.mmap.IndexOf(vma) + 1, tail);
                    if (tail.anon_vma is not null)
                    {
                        lock (tail.anon_vma.vmas)
                        {
                            tail.anon_vma.vmas.Add(tail);
                        }
                    }
                }
            }
        }

        return 0;
    }

    /// <summary>
    /// fork's address-space copy: a new mm with the same vmas; anonymous pages are shared
    /// copy-on-write (both PTEs write-protected, the parent's range bracketed by start/end as
    /// <c>copy_page_range</c> does).
    /// </summary>
    [MaySleep]
    public static mm_struct dup_mm(mm_struct oldmm)
    {
        ArgumentNullException.ThrowIfNull(oldmm);
        might_sleep_in(nameof(dup_mm));
        var mm = mm_alloc();
        foreach (var vma in oldmm.Vmas)
        {
            if ((vma.vm_flags & VM_DONTCOPY) != 0)
            {
                continue;
            }

            anon_vma_prepare(vma);
            var tmp = new vm_area_struct(mm)
            {
                vm_start = vma.vm_start,
                vm_end = vma.vm_end,
                vm_flags = vma.vm_flags,
                vm_page_prot = vma.vm_page_prot,
                vm_pgoff = vma.vm_pgoff,
                anon_vma = vma.anon_vma,
                vm_private_data = vma.vm_private_data,
            };
            insert_vm_struct(mm, tmp);
            copy_page_range(mm, oldmm, vma, tmp);
        }

        return mm;
    }
}
