using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.InconsistentNotifierOpsAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU011InconsistentNotifierOpsTests
{
    private const string Usings = "using Kernel.Mm;\nusing MmuNotifierAnalyzers.Annotations;\nusing static Kernel.Mm.Linux;\n";

    private const string Callbacks = @"
    static void inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static void start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static void end(mmu_notifier mn, mm_struct mm, ulong start, ulong end) { }
    static int start_range(mmu_notifier mn, mmu_notifier_range range) => 0;
    static void end_range(mmu_notifier mn, mmu_notifier_range range) { }
";

    [Fact]
    public async Task Fires_on_invalidate_range_with_start_and_end_at_the_invalidate_range_member()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{" + Callbacks + @"
    static readonly mmu_notifier_ops ops = new()
    {
        {|#0:invalidate_range = inv|},
        {|#1:invalidate_range_start = start|},
        invalidate_range_end = end,
    };
}
", Verify.Diagnostic().WithLocation(0).WithLocation(1).WithArguments(
            "invalidate_range = inv",
            "is set together with invalidate_range_start/invalidate_range_end: a notifier implements either ->invalidate_range (a secondary TLB that walks the CPU page table, flushed under the page-table lock) or the invalidate_range_start/end pair, not both; do this work in the start/end pair (KVM moved its APIC-page reload there in 2023), or drop start/end if the device shares the CPU page table (amd_iommu_v2 since 3.19)"));
    }

    [Fact]
    public async Task Fires_on_invalidate_range_with_the_4_20_range_form()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{" + Callbacks + @"
    static readonly mmu_notifier_ops ops = new mmu_notifier_ops
    {
        invalidate_range_end_range = end_range,
        [|invalidate_range = inv|],
        invalidate_range_start_range = start_range,
    };
}
");
    }

    [Fact]
    public async Task Fires_on_invalidate_range_with_an_end_only()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{" + Callbacks + @"
    static readonly mmu_notifier_ops ops = new() { [|invalidate_range = inv|], invalidate_range_end = end };
}
");
    }

    [Fact]
    public async Task Fires_on_a_start_without_end_and_without_a_scheme()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{" + Callbacks + @"
    static readonly mmu_notifier_ops ops = new() { {|#0:invalidate_range_start_range = start_range|} };
}
", Verify.Diagnostic().WithLocation(0).WithArguments(
            "invalidate_range_start_range = start_range",
            "is set with no invalidate_range_end and no sequence scheme: nothing keeps the secondary MMU from re-establishing a mapping of the range after start dropped it and before the primary page table is updated; add an invalidate_range_end with a count and sequence number that the fault path re-checks (a method marked [SequenceRetryCheck] reading what start writes, as KVM's mmu_notifier_count/mmu_notifier_seq), or use an interval notifier (mmu_interval_notifier_insert, 5.5)"));
    }

    [Fact]
    public async Task Silent_on_a_start_that_bumps_a_sequence_the_retry_check_reads()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
sealed class dev : mmu_notifier
{
    public ulong invalidate_seq;
    public int active;
}

static class T
{
    static void dev_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        var d = (dev)mn;
        if (start < end)
        {
            d.invalidate_seq++;
        }
    }

    [SequenceRetryCheck]
    static bool dev_retry(dev d, ulong seq) => d.invalidate_seq != seq;

    static readonly mmu_notifier_ops ops = new() { invalidate_range_start = dev_start };
}
");
    }

    [Fact]
    public async Task Silent_when_the_start_lambda_passes_the_counter_by_ref_to_an_atomic()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
sealed class dev : mmu_notifier
{
    public int range_active;
}

static class T
{
    static void atomic_inc(ref int v) => System.Threading.Interlocked.Increment(ref v);

    [SequenceRead]
    static int dev_read_begin(dev d) => System.Threading.Volatile.Read(ref d.range_active);

    static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range_start = (mn, mm, start, end) => atomic_inc(ref ((dev)mn).range_active),
    };
}
");
    }

    [Fact]
    public async Task Fires_when_the_counter_start_writes_is_read_by_no_sequence_check()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
sealed class dev : mmu_notifier
{
    public ulong invalidate_seq;
    public ulong other;
}

static class T
{
    static void dev_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end) => ((dev)mn).invalidate_seq++;

    // Not a sequence check: not annotated.
    static bool dev_retry(dev d, ulong seq) => d.invalidate_seq != seq;

    [SequenceRetryCheck]
    static bool other_retry(dev d, ulong seq) => d.other != seq;

    static readonly mmu_notifier_ops ops = new() { [|invalidate_range_start = dev_start|] };
}
");
    }

    [Fact]
    public async Task Fires_when_start_only_takes_and_drops_a_driver_lock()
    {
        // A lock taken and dropped inside start is not a scheme: nothing stops a fault after it.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static readonly mutex dev_lock = new();

    static void dev_start(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        mutex_lock(dev_lock);
        mutex_unlock(dev_lock);
    }

    static readonly mmu_notifier_ops ops = new() { [|invalidate_range_start = dev_start|] };
}
");
    }

    [Fact]
    public async Task Silent_on_one_model_each()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{" + Callbacks + @"
    static readonly mmu_notifier_ops iommu = new() { invalidate_range = inv };
    static readonly mmu_notifier_ops kvm = new() { invalidate_range_start = start, invalidate_range_end = end };
    static readonly mmu_notifier_ops kvm_4_20 = new() { invalidate_range_start_range = start_range, invalidate_range_end_range = end_range };
    static readonly mmu_notifier_ops mixed_forms = new() { invalidate_range_start = start, invalidate_range_end_range = end_range };
    static readonly mmu_notifier_ops nulls = new() { invalidate_range = null, invalidate_range_start = start, invalidate_range_end = end };
    static readonly mmu_notifier_ops end_only = new() { invalidate_range_end = end };
    static readonly mmu_interval_notifier_ops interval = new() { invalidate = (sub, range, seq) => true };
}
");
    }

    [Fact]
    public async Task Silent_on_a_name_alike_ops_type_outside_the_runtime()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
sealed class my_ops
{
    public System.Action? invalidate_range { get; init; }
    public System.Action? invalidate_range_start { get; init; }
}

static class T
{
    static readonly my_ops ops = new() { invalidate_range = () => { }, invalidate_range_start = () => { } };
}
");
    }

    [Fact]
    public async Task Fires_in_a_table_built_inside_a_method_in_every_branch()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{" + Callbacks + @"
    static mmu_notifier_ops make(bool iommu, int kind)
    {
        if (iommu)
        {
            return new mmu_notifier_ops { invalidate_range = inv };
        }

        switch (kind)
        {
            case 0:
                return new() { [|invalidate_range_start = start|] };
            default:
                var local = () => new mmu_notifier_ops { [|invalidate_range = inv|], invalidate_range_start = start, invalidate_range_end = end };
                return local();
        }
    }
}
");
    }
}
