using System.Threading.Tasks;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.RegistrationMisuseAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU015RegistrationMisuseTests
{
    private const string Usings = "using Kernel.Mm;\nusing MmuNotifierAnalyzers.Annotations;\nusing static Kernel.Mm.Linux;\n";

    [Fact]
    public async Task Fires_on_register_under_the_same_mms_write_lock()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static int f(mmu_notifier mn, mm_struct mm)
    {
        {|#1:down_write(mm.mmap_sem)|};
        int r = {|#0:mmu_notifier_register(mn, mm)|};
        up_write(mm.mmap_sem);
        return r;
    }
}
", Verify.Diagnostic().WithLocation(0).WithLocation(1).WithArguments(
            "mmu_notifier_register",
            "takes mm's mmap_sem for write itself, but 'mm.mmap_sem' is held here (taken for write at line 9): its down_write waits for this very holder, a deadlock; call __mmu_notifier_register under the write lock, or register before taking it"));
    }

    [Fact]
    public async Task Fires_on_register_under_a_read_hold_through_mmap_lock_and_on_some_path()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mmu_notifier mn, mm_struct mm, bool locked)
    {
        if (locked)
        {
            down_read(mm.mmap_lock);
        }

        {|#0:mmu_notifier_register(mn, mm)|};
        if (locked)
        {
            up_read(mm.mmap_sem);
        }
    }
}
", Verify.Diagnostic().WithLocation(0).WithLocation(11, 13).WithArguments(
            "mmu_notifier_register",
            "takes mm's mmap_sem for write itself, but 'mm.mmap_lock' is held here on some path (taken for read at line 11): its down_write waits for this very holder, a deadlock; call __mmu_notifier_register under the write lock, or register before taking it"));
    }

    [Fact]
    public async Task Fires_on_register_in_a_method_entered_with_the_lock()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    [MustHoldLock(""mm.mmap_sem"")]
    static void f(mmu_notifier mn, mm_struct mm) => [|mmu_notifier_register(mn, mm)|];
}
");
    }

    [Fact]
    public async Task Silent_on_register_outside_the_lock_or_under_another_mms()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mmu_notifier mn, mm_struct mm, mm_struct other)
    {
        down_write(mm.mmap_sem);
        up_write(mm.mmap_sem);
        mmu_notifier_register(mn, mm);

        down_read(other.mmap_sem);
        mmu_notifier_register(mn, mm);
        up_read(other.mmap_sem);

        if (down_read_trylock(mm.mmap_sem))
        {
            up_read(mm.mmap_sem);
        }

        mmu_notifier_register(mn, mm);
    }
}
");
    }

    [Fact]
    public async Task Fires_on_locked_register_without_the_lock_and_under_a_read_hold()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mmu_notifier mn, mm_struct mm)
    {
        {|#0:__mmu_notifier_register(mn, mm)|};
        {|#2:down_read(mm.mmap_sem)|};
        {|#1:__mmu_notifier_register(mn, mm)|};
        up_read(mm.mmap_sem);
    }
}
",
            Verify.Diagnostic().WithLocation(0).WithArguments(
                "__mmu_notifier_register",
                "is the registration for a caller that holds the mm's mmap_sem for write, but mm's mmap_sem is not held for write here: the mm's notifier state is set up unlocked, racing with another registration and with exit_mmap; take down_write(mm.mmap_sem) around it, or call mmu_notifier_register, which does"),
            Verify.Diagnostic().WithLocation(1).WithLocation(2).WithArguments(
                "__mmu_notifier_register",
                "is the registration for a caller that holds the mm's mmap_sem for write, but 'mm.mmap_sem' is held only for read here (taken for read at line 10): the mm's notifier state is set up unlocked, racing with another registration and with exit_mmap; take down_write(mm.mmap_sem) around it, or call mmu_notifier_register, which does"));
    }

    [Fact]
    public async Task Fires_on_locked_register_after_downgrade_or_on_a_path_without_the_lock()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void f(mmu_notifier mn, mm_struct mm, int kind)
    {
        down_write(mm.mmap_sem);
        downgrade_write(mm.mmap_sem);
        [|__mmu_notifier_register(mn, mm)|];
        up_read(mm.mmap_sem);

        switch (kind)
        {
            case 0:
                down_write(mm.mmap_sem);
                break;
        }

        [|__mmu_notifier_register(mn, mm)|];
    }
}
");
    }

    [Fact]
    public async Task Silent_on_locked_register_under_the_write_lock_in_every_shape()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static int f(mmu_notifier mn, mm_struct mm, mmu_notifier[] many)
    {
        down_write(mm.mmap_lock);
        try
        {
            return __mmu_notifier_register(mn, mm);
        }
        finally
        {
            up_write(mm.mmap_sem);
        }
    }

    static void loop(mm_struct mm, mmu_notifier[] many)
    {
        foreach (var mn in many)
        {
            down_write(mm.mmap_sem);
            __mmu_notifier_register(mn, mm);
            up_write(mm.mmap_sem);
        }
    }

    static int trylock(mmu_notifier mn, mm_struct mm)
    {
        if (!down_write_trylock(mm.mmap_sem))
            return -4;
        int r = __mmu_notifier_register(mn, mm);
        if (r != 0)
            goto out_unlock;
        r = 1;
    out_unlock:
        up_write(mm.mmap_sem);
        return r;
    }

    [MustHoldLock(""mm.mmap_sem"")]
    static int entered(mmu_notifier mn, mm_struct mm) => __mmu_notifier_register(mn, mm);

    static void local(mmu_notifier mn, mm_struct mm)
    {
        down_write(mm.mmap_sem);
        register();
        up_write(mm.mmap_sem);

        // A local function is its own method; the lock its caller holds is not its own.
        void register() => [|__mmu_notifier_register(mn, mm)|];
    }
}
");
    }

    [Fact]
    public async Task Silent_on_a_helper_whose_every_caller_holds_the_write_lock()
    {
        // amdkfd (3.19): kfd_create_process takes mmap_sem for write; create_process registers.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static int create_process(mmu_notifier mn, mm_struct mm) => __mmu_notifier_register(mn, mm);

    static int kfd_create_process(mmu_notifier mn, mm_struct mm)
    {
        down_write(mm.mmap_sem);
        int r = create_process(mn, mm);
        up_write(mm.mmap_sem);
        return r;
    }
}
");
    }

    [Fact]
    public async Task Fires_on_register_in_a_helper_below_a_caller_that_holds_the_lock()
    {
        // sgi-gru as posted in 2008: f_op->mmap runs under mmap_sem; three calls down it registers.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static mm_struct current_mm = null!;

    static void gru_register_mmu_notifier(mmu_notifier mn) => {|#0:mmu_notifier_register(mn, current_mm)|};

    static void gru_alloc_gts(mmu_notifier mn) => gru_register_mmu_notifier(mn);

    static void gru_alloc_vma_data(mmu_notifier mn, bool ok)
    {
        if (ok)
            gru_alloc_gts(mn);
    }

    [MustHoldLock(""vma.vm_mm.mmap_sem"")]
    static void gru_file_mmap(vm_area_struct vma, mmu_notifier mn) => gru_alloc_vma_data(mn, true);
}
", Verify.Diagnostic().WithLocation(0).WithArguments(
            "mmu_notifier_register",
            "takes current_mm's mmap_sem for write itself, but its caller gru_file_mmap holds 'vma.vm_mm.mmap_sem' (held on entry: the method is annotated [MustHoldLock(\"vma.vm_mm.mmap_sem\")]) on a path that calls down to here (gru_file_mmap → gru_alloc_vma_data → gru_alloc_gts → gru_register_mmu_notifier → mmu_notifier_register): its down_write waits for that holder, a deadlock; call __mmu_notifier_register, which expects the caller's write lock, or register before the lock is taken"));
    }

    [Fact]
    public async Task Fires_on_register_in_a_helper_a_caller_calls_under_a_read_hold_on_some_path()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void register(mmu_notifier mn, mm_struct mm) => {|#0:mmu_notifier_register(mn, mm)|};

    static void fault(mmu_notifier mn, mm_struct mm, bool locked)
    {
        if (locked)
            {|#1:down_read(mm.mmap_sem)|};
        register(mn, mm);
        if (locked)
            up_read(mm.mmap_sem);
    }
}
", Verify.Diagnostic().WithLocation(0).WithLocation(1).WithArguments(
            "mmu_notifier_register",
            "takes mm's mmap_sem for write itself, but its caller fault holds 'mm.mmap_sem' (taken for read at line 12) on a path that calls down to here (fault → register → mmu_notifier_register): its down_write waits for that holder, a deadlock; call __mmu_notifier_register, which expects the caller's write lock, or register before the lock is taken"));
    }

    [Fact]
    public async Task Silent_on_register_in_a_helper_whose_callers_hold_no_lock_at_the_call()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void register(mmu_notifier mn, mm_struct mm) => mmu_notifier_register(mn, mm);

    static void bind(mmu_notifier mn, mm_struct mm)
    {
        down_read(mm.mmap_sem);
        up_read(mm.mmap_sem);
        register(mn, mm);
    }

    static void queued(mmu_notifier mn, mm_struct mm, System.Collections.Generic.Queue<System.Action> wq)
    {
        down_write(mm.mmap_sem);
        // Runs later, on a worker: not under this lock.
        wq.Enqueue(() => register(mn, mm));
        up_write(mm.mmap_sem);
    }
}
");
    }

    [Fact]
    public async Task Silent_on_a_locked_register_three_calls_below_the_write_lock()
    {
        // sgi-gru as merged: gru_alloc_locked_gts → gru_alloc_thread_state → gru_alloc_gts →
        // gru_register_mmu_notifier → __mmu_notifier_register.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void gru_register_mmu_notifier(mmu_notifier mn, mm_struct mm) => __mmu_notifier_register(mn, mm);

    static void gru_alloc_gts(mmu_notifier mn, mm_struct mm, bool vma)
    {
        if (vma)
            gru_register_mmu_notifier(mn, mm);
    }

    static void gru_alloc_thread_state(mmu_notifier mn, mm_struct mm) => gru_alloc_gts(mn, mm, true);

    static void gru_alloc_locked_gts(mmu_notifier mn, mm_struct mm)
    {
        down_write(mm.mmap_sem);
        gru_alloc_thread_state(mn, mm);
        downgrade_write(mm.mmap_sem);
        up_read(mm.mmap_sem);
    }
}
");
    }

    [Fact]
    public async Task Fires_on_a_locked_register_when_a_caller_further_up_does_not_hold_the_lock()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void register(mmu_notifier mn, mm_struct mm) => [|__mmu_notifier_register(mn, mm)|];

    static void alloc(mmu_notifier mn, mm_struct mm) => register(mn, mm);

    static void locked(mmu_notifier mn, mm_struct mm)
    {
        down_write(mm.mmap_sem);
        alloc(mn, mm);
        up_write(mm.mmap_sem);
    }

    static void unlocked(mmu_notifier mn, mm_struct mm) => alloc(mn, mm);

    static void recursive(mmu_notifier mn, mm_struct mm, int depth)
    {
        if (depth > 0)
            recursive(mn, mm, depth - 1);
        else
            alloc(mn, mm);
    }
}
");
    }

    [Fact]
    public async Task Fires_on_a_helper_one_of_whose_callers_does_not_hold_the_lock()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static int create_process(mmu_notifier mn, mm_struct mm) => [|__mmu_notifier_register(mn, mm)|];

    static int locked(mmu_notifier mn, mm_struct mm)
    {
        down_write(mm.mmap_sem);
        int r = create_process(mn, mm);
        up_write(mm.mmap_sem);
        return r;
    }

    static int unlocked(mmu_notifier mn, mm_struct mm) => create_process(mn, mm);
}
");
    }

    [Fact]
    public async Task A_helpers_finding_names_the_caller_that_reaches_it_without_the_write_hold()
    {
        // HMM before v5.3 (KernelPorts/v4_18_hmm.cs): the mirror registers under the write lock, the
        // range API under a read hold; the finding says which caller lacks the hold, and the chain.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static int hmm_register(mmu_notifier mn, mm_struct mm) => {|#0:__mmu_notifier_register(mn, mm)|};

    static int hmm_get(mmu_notifier mn, mm_struct mm) => hmm_register(mn, mm);

    static int hmm_mirror_register(mmu_notifier mn, mm_struct mm)
    {
        down_write(mm.mmap_sem);
        int r = hmm_register(mn, mm);
        up_write(mm.mmap_sem);
        return r;
    }

    static int hmm_vma_fault(mmu_notifier mn, mm_struct mm)
    {
        down_read(mm.mmap_sem);
        int r = hmm_get(mn, mm);
        up_read(mm.mmap_sem);
        return r;
    }
}
",
            Verify.Diagnostic().WithLocation(0).WithArguments(
                "__mmu_notifier_register",
                "is the registration for a caller that holds the mm's mmap_sem for write, but mm's mmap_sem is not held for write here, nor by hmm_vma_fault on the way in (hmm_vma_fault \u2192 hmm_get \u2192 hmm_register): the mm's notifier state is set up unlocked, racing with another registration and with exit_mmap; take down_write(mm.mmap_sem) around it, or call mmu_notifier_register, which does"));
    }

    [Fact]
    public async Task Fires_on_unregister_in_the_release_callback_itself()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void mn_release(mmu_notifier mn, mm_struct mm)
    {
        {|#0:mmu_notifier_unregister(mn, mm)|};
    }

    static readonly mmu_notifier_ops ops = new() { release = mn_release };
}
", Verify.Diagnostic().WithLocation(0).WithArguments(
            "mmu_notifier_unregister",
            "is reached from inside a notifier callback (release 'mn_release' → mmu_notifier_unregister): it calls synchronize_srcu, which waits for every callback in flight, this one included, so it never returns; defer the unregister to a work item, or use mmu_notifier_put (5.4), which frees the notifier after an SRCU grace period"));
    }

    [Fact]
    public async Task Fires_at_the_helper_with_the_chain_from_the_callback()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void __unbind_pasid(mmu_notifier mn, mm_struct mm)
    {
        if (mm != null)
        {
            {|#0:mmu_notifier_unregister(mn, mm)|};
        }
    }

    static void unbind_pasid(mmu_notifier mn, mm_struct mm) => __unbind_pasid(mn, mm);

    static void mn_release(mmu_notifier mn, mm_struct mm) => unbind_pasid(mn, mm);

    static void amd_iommu_unbind_pasid(mmu_notifier mn, mm_struct mm) => __unbind_pasid(mn, mm);

    static readonly mmu_notifier_ops ops = new() { release = mn_release };
}
", Verify.Diagnostic().WithLocation(0).WithArguments(
            "mmu_notifier_unregister",
            "is reached from inside a notifier callback (release 'mn_release' → unbind_pasid → __unbind_pasid → mmu_notifier_unregister): it calls synchronize_srcu, which waits for every callback in flight, this one included, so it never returns; defer the unregister to a work item, or use mmu_notifier_put (5.4), which frees the notifier after an SRCU grace period"));
    }

    [Fact]
    public async Task Fires_from_a_lambda_callback_and_an_invalidate_callback()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void teardown(mmu_notifier mn, mm_struct mm) => [|mmu_notifier_unregister(mn, mm)|];

    static readonly mmu_notifier_ops ops = new()
    {
        invalidate_range_start = (mn, mm, start, end) =>
        {
            if (start == 0)
                teardown(mn, mm);
        },
        release = (mn, mm) => {|#0:mmu_notifier_unregister(mn, mm)|},
    };
}
", Verify.Diagnostic().WithLocation(0).WithArguments(
            "mmu_notifier_unregister",
            "is reached from inside a notifier callback (release lambda → mmu_notifier_unregister): it calls synchronize_srcu, which waits for every callback in flight, this one included, so it never returns; defer the unregister to a work item, or use mmu_notifier_put (5.4), which frees the notifier after an SRCU grace period"));
    }

    [Fact]
    public async Task Fires_in_a_local_function_the_callback_calls()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static void mn_release(mmu_notifier mn, mm_struct mm)
    {
        for (var i = 0; i < 2; i++)
        {
            if (i == 1)
                drop();
        }

        void drop() => [|mmu_notifier_unregister(mn, mm)|];
    }

    static readonly mmu_notifier_ops ops = new() { release = mn_release };
}
");
    }

    [Fact]
    public async Task Silent_when_release_defers_the_unregister_to_a_work_item()
    {
        // radeon_mn (4.14): release schedules radeon_mn_destroy, which unregisters later.
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static readonly System.Collections.Generic.Queue<System.Action> wq = new();

    static void destroy(mmu_notifier mn, mm_struct mm) => mmu_notifier_unregister(mn, mm);

    static void mn_release(mmu_notifier mn, mm_struct mm) => wq.Enqueue(() => destroy(mn, mm));

    static void close(mmu_notifier mn, mm_struct mm) => mmu_notifier_unregister(mn, mm);

    static readonly mmu_notifier_ops ops = new() { release = mn_release };
    static readonly System.Action<mmu_notifier, mm_struct> later = destroy;
}
");
    }

    [Fact]
    public async Task Silent_on_name_alikes_outside_the_runtime()
    {
        await Verify.VerifyAnalyzerAsync(Usings + @"
static class T
{
    static int mmu_notifier_register(object mn, mm_struct mm) => 0;
    static void mmu_notifier_unregister(object mn, mm_struct mm) { }

    static void mn_release(mmu_notifier mn, mm_struct mm)
    {
        mmu_notifier_unregister(mn, mm);
        down_write(mm.mmap_sem);
        mmu_notifier_register(mn, mm);
        up_write(mm.mmap_sem);
    }

    static readonly mmu_notifier_ops ops = new() { release = mn_release };
}
");
    }
}
