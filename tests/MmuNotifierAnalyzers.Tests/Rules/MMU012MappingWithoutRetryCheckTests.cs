using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using MmuNotifierAnalyzers.Tests.Meta;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.MappingWithoutRetryCheckAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU012MappingWithoutRetryCheckTests
{
    // A device mirror on an interval notifier, as hmm.rst's driver loop has it: a mutex the
    // invalidate callback takes, a page lookup and an install into the device page table.
    private const string Driver = @"using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

sealed class dev_notifier : mmu_interval_notifier
{
    public readonly mutex @lock = new();
    public readonly spinlock_t spin = new();
}

static class dev
{
    public const int EAGAIN = 11;

    [LooksUpPages]
    public static int lookup(dev_notifier n, ulong address) => 0;

    [EstablishesSecondaryMapping]
    public static void install(dev_notifier n, ulong address) { }
}
";

    private static Task VerifyAsync(string body, params Microsoft.CodeAnalysis.Testing.DiagnosticResult[] expected) =>
        Verify.VerifyAnalyzerAsync(Driver + body, expected);

    [Fact]
    public async Task Silent_on_the_canonical_driver_loop_with_goto_again()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, ulong address)
    {
    again:
        ulong seq = mmu_interval_read_begin(n);
        int ret = dev.lookup(n, address);
        if (ret != 0)
            return ret;
        mutex_lock(n.@lock);
        if (mmu_interval_read_retry(n, seq))
        {
            mutex_unlock(n.@lock);
            goto again;
        }
        dev.install(n, address);
        mutex_unlock(n.@lock);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task Silent_on_a_while_loop_with_continue_and_break()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, ulong address)
    {
        ulong seq;
        while (true)
        {
            seq = mmu_interval_read_begin(n);
            if (dev.lookup(n, address) != 0)
                continue;
            mutex_lock(n.@lock);
            if (mmu_interval_read_retry(n, seq))
            {
                mutex_unlock(n.@lock);
                continue;
            }
            break;
        }
        dev.install(n, address);
        mutex_unlock(n.@lock);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task Fires_when_no_retry_check_runs_after_the_read()
    {
        await VerifyAsync(@"
static class T
{
    static void fault(dev_notifier n, ulong address)
    {
        ulong seq = mmu_interval_read_begin(n);
        dev.lookup(n, address);
        mutex_lock(n.@lock);
        {|#0:dev.install(n, address)|};
        mutex_unlock(n.@lock);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("install", "installs a secondary mapping from sequence 'seq' (read at line 26) on a path that runs no retry check after the read (from line 26 to here): an invalidation that ran since the read leaves this mapping stale; under the driver lock, check the sequence (mmu_interval_read_retry) and retry when it moved, then install before dropping the lock"));
    }

    [Fact]
    public async Task Fires_when_the_check_runs_before_the_lock_is_taken()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, ulong address)
    {
        ulong seq = mmu_interval_read_begin(n);
        dev.lookup(n, address);
        if (mmu_interval_read_retry(n, seq))
            return -dev.EAGAIN;
        mutex_lock(n.@lock);
        {|#0:dev.install(n, address)|};
        mutex_unlock(n.@lock);
        return 0;
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("install", "installs a secondary mapping from sequence 'seq' (read at line 26) checked by the retry check 'mmu_interval_read_retry' at line 28 with no driver lock held ('n.@lock' is taken at line 30, after the check): an invalidation can run between the check and the install; take the lock the invalidate callback takes before the check and install before dropping it"));
    }

    [Fact]
    public async Task Fires_when_the_lock_is_dropped_before_the_install_even_if_retaken()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, ulong address)
    {
        ulong seq = mmu_interval_read_begin(n);
        dev.lookup(n, address);
        mutex_lock(n.@lock);
        bool stale = mmu_interval_read_retry(n, seq);
        mutex_unlock(n.@lock);
        if (stale)
            return -dev.EAGAIN;
        mutex_lock(n.@lock);
        {|#0:dev.install(n, address)|};
        mutex_unlock(n.@lock);
        return 0;
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("install", "installs a secondary mapping from sequence 'seq' (read at line 26) after 'n.@lock', held at the retry check 'mmu_interval_read_retry' at line 29, was released at line 30: an invalidation can run between the unlock and the install; install before dropping the lock"));
    }

    [Fact]
    public async Task Fires_when_the_result_of_the_check_does_not_guard_the_install()
    {
        await VerifyAsync(@"
static class T
{
    static void fault(dev_notifier n, ulong address)
    {
        ulong seq = mmu_interval_read_begin(n);
        dev.lookup(n, address);
        mutex_lock(n.@lock);
        mmu_interval_read_retry(n, seq);
        {|#0:dev.install(n, address)|};
        mutex_unlock(n.@lock);
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("install", "installs a secondary mapping from sequence 'seq' (read at line 26) whatever the retry check 'mmu_interval_read_retry' at line 29 answered on this path: its result must guard the install (retry, goto again / return -EAGAIN, when it says the sequence moved)"));
    }

    [Fact]
    public async Task Fires_when_the_retry_branch_falls_through_to_the_install()
    {
        await VerifyAsync(@"
static class T
{
    static void fault(dev_notifier n, ulong address)
    {
        ulong seq = mmu_interval_read_begin(n);
        dev.lookup(n, address);
        mutex_lock(n.@lock);
        if (mmu_interval_read_retry(n, seq))
        {
            // forgot to retry
        }
        [|dev.install(n, address)|];
        mutex_unlock(n.@lock);
    }
}
");
    }

    [Fact]
    public async Task Fires_at_the_read_when_the_sequence_is_read_after_the_page_lookup()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, ulong address)
    {
        dev.lookup(n, address);
        ulong seq = {|#0:mmu_interval_read_begin(n)|};
        mutex_lock(n.@lock);
        if (mmu_interval_read_retry(n, seq))
        {
            mutex_unlock(n.@lock);
            return -dev.EAGAIN;
        }
        dev.install(n, address);
        dev.install(n, address + 4096);
        mutex_unlock(n.@lock);
        return 0;
    }
}
", Verify.Diagnostic().WithLocation(0).WithArguments("mmu_interval_read_begin(n)", "reads sequence 'seq' after 'lookup' at line 26 looked up what 'install' at line 34 installs, with no lock held at the lookup still held here: an invalidation between the lookup and the read passes the retry check unseen and the mapping is built from a stale lookup; read the sequence before the lookup, or before dropping the lock it ran under"));
    }

    [Fact]
    public async Task A_lookup_under_a_lock_still_held_at_the_read_is_not_stale()
    {
        // KVM's fix for user_mem_abort / kvm_riscv_gstage_map (v6.3): the VMA found under
        // mmap_lock cannot change before mmap_read_unlock, so reading the sequence before the
        // unlock covers it; reading it after the unlock does not.
        await VerifyAsync(@"
static class T
{
    static int fixed_fault(dev_notifier n, mm_struct mm, ulong address)
    {
        down_read(mm.mmap_lock);
        var vma = vma_lookup(mm, address);
        ulong seq = mmu_interval_read_begin(n);
        up_read(mm.mmap_lock);
        mutex_lock(n.@lock);
        if (mmu_interval_read_retry(n, seq))
        {
            mutex_unlock(n.@lock);
            return -dev.EAGAIN;
        }
        dev.install(n, address);
        mutex_unlock(n.@lock);
        return 0;
    }

    static int buggy_fault(dev_notifier n, mm_struct mm, ulong address)
    {
        down_read(mm.mmap_lock);
        var vma = vma_lookup(mm, address);
        up_read(mm.mmap_lock);
        ulong seq = [|mmu_interval_read_begin(n)|];
        mutex_lock(n.@lock);
        if (mmu_interval_read_retry(n, seq))
        {
            mutex_unlock(n.@lock);
            return -dev.EAGAIN;
        }
        dev.install(n, address);
        mutex_unlock(n.@lock);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task A_drivers_own_rw_semaphore_is_a_driver_lock()
    {
        // drm_gpusvm: ->invalidate takes notifier_lock for write around mmu_interval_set_seq, the
        // fault path checks the sequence with it held for read.
        await VerifyAsync(@"
sealed class gpusvm : mmu_interval_notifier
{
    public readonly rw_semaphore notifier_lock = new(""notifier_lock"");
}

static class T
{
    static bool invalidate(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        var g = (gpusvm)mni;
        if (!mmu_notifier_range_blockable(range))
            return false;
        down_write(g.notifier_lock);
        mmu_interval_set_seq(mni, cur_seq);
        up_write(g.notifier_lock);
        return true;
    }

    static int fault(gpusvm g, dev_notifier n, ulong address)
    {
    retry:
        ulong seq = mmu_interval_read_begin(g);
        dev.lookup(n, address);
        down_read(g.notifier_lock);
        if (mmu_interval_read_retry(g, seq))
        {
            up_read(g.notifier_lock);
            goto retry;
        }
        dev.install(n, address);
        up_read(g.notifier_lock);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task A_check_under_mmap_lock_alone_is_not_under_the_driver_lock()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, mm_struct mm, ulong address)
    {
        ulong seq = mmu_interval_read_begin(n);
        down_read(mm.mmap_lock);
        dev.lookup(n, address);
        if (mmu_interval_read_retry(n, seq))
        {
            up_read(mm.mmap_lock);
            return -dev.EAGAIN;
        }
        [|dev.install(n, address)|];
        up_read(mm.mmap_lock);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task Fires_only_on_the_path_that_skips_the_check()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, ulong address, bool fast)
    {
        ulong seq = mmu_interval_read_begin(n);
        dev.lookup(n, address);
        mutex_lock(n.@lock);
        if (!fast && mmu_interval_read_retry(n, seq))
        {
            mutex_unlock(n.@lock);
            return -dev.EAGAIN;
        }
        [|dev.install(n, address)|];
        mutex_unlock(n.@lock);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task Silent_with_a_spinlock_try_finally_and_a_switch()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, ulong address, int mode)
    {
        ulong seq = mmu_interval_read_begin(n);
        switch (mode)
        {
            case 0:
                dev.lookup(n, address);
                break;
            default:
                return -1;
        }
        spin_lock(n.spin);
        try
        {
            if (mmu_interval_read_retry(n, seq))
                return -dev.EAGAIN;
            dev.install(n, address);
        }
        finally
        {
            spin_unlock(n.spin);
        }
        return 0;
    }
}
");
    }

    [Fact]
    public async Task Silent_with_a_negated_check_and_mutex_trylock()
    {
        await VerifyAsync(@"
static class T
{
    static int fault(dev_notifier n, ulong address)
    {
        ulong seq = mmu_interval_read_begin(n);
        dev.lookup(n, address);
        if (!mutex_trylock(n.@lock))
            return -dev.EAGAIN;
        if (!mmu_interval_read_retry(n, seq))
        {
            dev.install(n, address);
            mutex_unlock(n.@lock);
            return 0;
        }
        mutex_unlock(n.@lock);
        return -dev.EAGAIN;
    }
}
");
    }

    [Fact]
    public async Task Lambdas_and_local_functions_are_analysed_on_their_own()
    {
        await VerifyAsync(@"
static class T
{
    static System.Func<int> fault(dev_notifier n, ulong address)
    {
        void unchecked_fault()
        {
            ulong seq = mmu_interval_read_begin(n);
            mutex_lock(n.@lock);
            [|dev.install(n, address)|];
            mutex_unlock(n.@lock);
        }

        unchecked_fault();
        return () =>
        {
            ulong seq = mmu_interval_read_begin(n);
            dev.lookup(n, address);
            mutex_lock(n.@lock);
            if (mmu_interval_read_retry(n, seq))
            {
                mutex_unlock(n.@lock);
                return -dev.EAGAIN;
            }
            dev.install(n, address);
            mutex_unlock(n.@lock);
            return 0;
        };
    }
}
");
    }

    [Fact]
    public async Task Silent_on_a_driver_lock_with_no_sequence_scheme()
    {
        // A driver that pins pages (no sequence read at all) is not using the protocol.
        await VerifyAsync(@"
static class T
{
    static void map(dev_notifier n, ulong address)
    {
        dev.lookup(n, address);
        mutex_lock(n.@lock);
        dev.install(n, address);
        mutex_unlock(n.@lock);
    }
}
");
    }

    [Fact]
    public async Task Silent_when_an_annotated_helper_checks_under_the_callers_lock()
    {
        // nouveau_range_done / hmm_range_valid: true while the sequence is valid.
        await VerifyAsync(@"
static class T
{
    [SequenceRetryCheck(TrueWhenValid = true)]
    static bool range_done(dev_notifier n, ulong seq) => !mmu_interval_read_retry(n, seq);

    static int fault(dev_notifier n, ulong address)
    {
        ulong seq = mmu_interval_read_begin(n);
        dev.lookup(n, address);
        mutex_lock(n.@lock);
        if (!range_done(n, seq))
        {
            mutex_unlock(n.@lock);
            return -dev.EAGAIN;
        }
        dev.install(n, address);
        mutex_unlock(n.@lock);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task Silent_on_name_alikes_and_an_unrelated_seqcount()
    {
        await VerifyAsync(@"
static class T
{
    static ulong mmu_interval_read_begin(dev_notifier n) => 0;
    static uint read_seqcount_begin(object s) => 0;
    static void install(dev_notifier n, ulong address) { }

    static void f(dev_notifier n, ulong address, object s)
    {
        ulong seq = mmu_interval_read_begin(n);
        uint c = read_seqcount_begin(s);
        mutex_lock(n.@lock);
        dev.install(n, address);
        install(n, address);
        mutex_unlock(n.@lock);
    }
}
");
    }

    [Fact]
    public async Task A_sequence_field_and_an_int_retry_check_kvm_style()
    {
        await VerifyAsync(@"
sealed class kvm
{
    public readonly spinlock_t mmu_lock = new();
    [SequenceRead] public ulong mmu_notifier_seq;
    public long mmu_notifier_count;
}

static class T
{
    [SequenceRetryCheck]
    static int mmu_notifier_retry(kvm kvm, ulong mmu_seq) => kvm.mmu_notifier_count != 0 || kvm.mmu_notifier_seq != mmu_seq ? 1 : 0;

    [EstablishesSecondaryMapping]
    static void map_spte(kvm kvm, ulong gfn) { }

    static int fixed_fault(kvm kvm, ulong gfn)
    {
        ulong mmu_seq = kvm.mmu_notifier_seq;
        spin_lock(kvm.mmu_lock);
        if (mmu_notifier_retry(kvm, mmu_seq) != 0)
            goto out_unlock;
        map_spte(kvm, gfn);
    out_unlock:
        spin_unlock(kvm.mmu_lock);
        return 0;
    }

    static int buggy_fault(kvm kvm, ulong gfn)
    {
        ulong mmu_seq = kvm.mmu_notifier_seq;
        spin_lock(kvm.mmu_lock);
        [|map_spte(kvm, gfn)|];
        spin_unlock(kvm.mmu_lock);
        return 0;
    }
}
");
    }

    [Fact]
    public async Task Invalidate_must_set_the_sequence_under_the_lock_whenever_it_returns_true()
    {
        await VerifyAsync(@"
static class T
{
    static bool good_invalidate(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        var n = (dev_notifier)mni;
        if (mmu_notifier_range_blockable(range))
            mutex_lock(n.@lock);
        else if (!mutex_trylock(n.@lock))
            return false;
        mmu_interval_set_seq(mni, cur_seq);
        mutex_unlock(n.@lock);
        return true;
    }

    static bool conditional_invalidate(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        var n = (dev_notifier)mni;
        mutex_lock(n.@lock);
        if (range.@event != mmu_notifier_event.MMU_NOTIFY_RELEASE)
            mmu_interval_set_seq(mni, cur_seq);
        mutex_unlock(n.@lock);
        {|#0:return|} true;
    }

    static bool unlocked_invalidate(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        {|#1:mmu_interval_set_seq(mni, cur_seq)|};
        return true;
    }
}
",
            Verify.Diagnostic().WithLocation(0).WithArguments("conditional_invalidate", "returns true at line 43 on a path that does not call mmu_interval_set_seq: a fault path that read the sequence before this invalidation passes its retry check and keeps a stale mapping; call mmu_interval_set_seq(mni, cur_seq) under the driver lock on every path that returns true"),
            Verify.Diagnostic().WithLocation(1).WithArguments("mmu_interval_set_seq", "moves the interval's sequence with no driver lock held on some path into 'unlocked_invalidate': a fault path can pass its retry check just before and install after the invalidation; call it under the lock the fault path checks the sequence under"));
    }

    [Fact]
    public async Task Invalidate_may_ignore_only_its_own_migration()
    {
        // MMU_NOTIFY_MIGRATE's documented exception (lib/test_hmm.c, nouveau): the device's own
        // migration handles its pages. Ignoring every migration, whoever started it, is not that.
        await VerifyAsync(@"
static class T
{
    static readonly object self = new();

    static bool own_migration(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        var n = (dev_notifier)mni;
        if (range.@event == mmu_notifier_event.MMU_NOTIFY_MIGRATE && range.owner == self)
            return true;
        mutex_lock(n.@lock);
        mmu_interval_set_seq(mni, cur_seq);
        mutex_unlock(n.@lock);
        return true;
    }

    static bool every_migration(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        var n = (dev_notifier)mni;
        if (range.@event == mmu_notifier_event.MMU_NOTIFY_MIGRATE)
            {|#0:return|} true;
        mutex_lock(n.@lock);
        mmu_interval_set_seq(mni, cur_seq);
        mutex_unlock(n.@lock);
        return true;
    }
}
",
            Verify.Diagnostic().WithLocation(0).WithArguments("every_migration", "returns true at line 41 on a path that does not call mmu_interval_set_seq: a fault path that read the sequence before this invalidation passes its retry check and keeps a stale mapping; call mmu_interval_set_seq(mni, cur_seq) under the driver lock on every path that returns true"));
    }

    [Fact]
    public async Task The_runtime_and_its_secondary_mmus_are_clean()
    {
        // Kernel.Mm's own sources but the broken clients: OdpLikeMirror's fault path (read_begin, umem_mutex, read_retry)
        // and its ->invalidate (set_seq under umem_mutex, false when a non-blockable range finds
        // the mutex busy), KvmLikeMmu, and every runtime function that reads or looks up.
        var root = Path.Combine(RepositoryLayout.Root, "src");
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var trees = RepositoryLayout.SourceFiles(Path.Combine(root, "Kernel.Mm"))
            .Append(Path.Combine(root, "Shared", "RuleIdentifiers.Ids.cs"))
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: f))
            .Append(CSharpSyntaxTree.ParseText("global using MmuNotifierAnalyzers;", parse, path: "GlobalUsings.cs"))
            .ToList();
        var compilation = CSharpCompilation.Create(
            "Kernel.Mm",
            trees,
            TestReferences.Framework.Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));

        var result = await AnalysisRunner.AnalyzeAsync(compilation, new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty), ImmutableArray.Create<DiagnosticAnalyzer>(new MmuNotifierAnalyzers.Rules.MappingWithoutRetryCheckAnalyzer()), CancellationToken.None);
        Assert.Empty(result.AnalyzerExceptions);
        // The deliberately broken clients are held to their markers by BrokenClientsTests.
        Assert.Empty(result.AnalyzerDiagnostics.Where(d => !Path.GetFileName(d.Location.SourceTree!.FilePath).StartsWith("Broken", StringComparison.Ordinal)
            && !d.Location.SourceTree!.FilePath.Contains(Path.DirectorySeparatorChar + "Broken" + Path.DirectorySeparatorChar, StringComparison.Ordinal)));
    }
}
