using System.Threading.Tasks;
using MmuNotifierAnalyzers.CodeFixes;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.SleepUnderSpinlockAnalyzer, MmuNotifierAnalyzers.CodeFixes.AtomicAllocationCodeFix>;
using VerifyAtomic = MmuNotifierAnalyzers.Tests.Verifiers.CSharpCodeFixVerifier<MmuNotifierAnalyzers.Rules.SleepInAtomicCallbackAnalyzer, MmuNotifierAnalyzers.CodeFixes.AtomicAllocationCodeFix>;

namespace MmuNotifierAnalyzers.Tests.Rules;

/// <summary>
/// MMU005 / MMU004 on an allocation: GFP_KERNEL → GFP_ATOMIC, or (under a lock the method takes)
/// the allocation moved before the lock. The real functions are ported from the named kernels
/// (buggy form before the fixing commit); the framework checks each fix one by one and in Fix All
/// (document, project, solution), that the result compiles and that it leaves no new finding.
/// </summary>
public sealed class AtomicAllocationCodeFixTests
{
    private const string Usings = "using Kernel.Mm;\nusing MmuNotifierAnalyzers.Annotations;\nusing static Kernel.Mm.Linux;\n\n";

    /// <summary>drivers/tty/serial/8250/8250_port.c, v4.5 (added by e490c9144cfa "tty: Add software
    /// emulated RS485 support for 8250"); fixed in v4.6-rc1 by b18a183eaac2 "tty: serial: Use
    /// GFP_ATOMIC instead of GFP_KERNEL in serial8250_em485_init()": the caller,
    /// serial8250_config_rs485, holds p->port.lock.</summary>
    private const string Serial8250 = Usings + @"sealed class uart_port { public spinlock_t @lock = new(); }
sealed class uart_8250_em485 { public uart_8250_port? port; public object? active_timer; }
sealed class uart_8250_port { public uart_port port = new(); public uart_8250_em485? em485; }

static class Serial8250
{
    const nuint sizeof_uart_8250_em485 = 64;

    static void serial8250_em485_rts_after_send(uart_8250_port p) { }

    /* hrtimer_init() of the two tx timers elided: Kernel.Mm has no hrtimers. */
    [MustHoldLock(""p.port.lock"")]
    static int serial8250_em485_init(uart_8250_port p)
    {
        if (p.em485 != null)
            return 0;

        p.em485 = {|#0:kmalloc(sizeof_uart_8250_em485, GFP_KERNEL)|} is null ? null : new uart_8250_em485();
        if (p.em485 == null)
            return -ENOMEM;

        p.em485.port = p;
        p.em485.active_timer = null;
        serial8250_em485_rts_after_send(p);

        return 0;
    }
}
";

    [Fact]
    public async Task Serial8250Em485InitGetsGfpAtomicAsItsFixDid()
    {
        var test = new Verify.Test
        {
            TestCode = Serial8250.Replace("{|#0:", "[|").Replace(")|}", ")|]"),
            FixedCode = Serial8250.Replace("{|#0:", string.Empty).Replace(")|}", ")").Replace("GFP_KERNEL)", "GFP_ATOMIC)"),
            CodeActionEquivalenceKey = AtomicAllocationCodeFix.AtomicKey,
        };
        await test.RunAsync();
    }

    /// <summary>drivers/net/ethernet/hisilicon/hns3/hns3pf/hclge_main.c, v5.3 (dd74f815dd41 "net: hns3:
    /// Add support for rule add/delete for flow director"); fixed in v5.4 by "net: hns3: change GFP
    /// flag during lock period" (Yufeng Mo, 2019-07). The allocation sits in an if under the lock,
    /// after exits that unlock and return: moving it before the lock would leak it on those paths,
    /// so only GFP_ATOMIC is offered, which is what the kernel did.</summary>
    private const string Hclge = Usings + @"sealed class hclge_fd_rule { public ushort location; public ushort flow_id; public ushort queue_id; }
sealed class hclge_dev
{
    public spinlock_t fd_rule_lock = new();
    public int fd_active_type;
    public bool[] fd_bmap = new bool[128];
    public ushort rule_num = 128;
    public hclge_fd_rule?[] rules = new hclge_fd_rule?[128];
}

static class Hclge
{
    const int HCLGE_FD_EP_ACTIVE = 1;
    const int ENOSPC = 28;
    const nuint sizeof_hclge_fd_rule = 96;

    static hclge_fd_rule? hclge_fd_search_flow_keys(hclge_dev hdev, ushort flow_id)
    {
        foreach (var rule in hdev.rules)
            if (rule != null && rule.flow_id == flow_id)
                return rule;
        return null;
    }

    static ushort find_first_zero_bit(bool[] map)
    {
        ushort i = 0;
        while (i < map.Length && map[i])
            i++;
        return i;
    }

    static int hclge_fd_config_rule(hclge_dev hdev, hclge_fd_rule rule)
    {
        hdev.rules[rule.location] = rule;
        return 0;
    }

    /* spin_lock_bh/spin_unlock_bh: spin_lock/spin_unlock, bottom halves are not modelled. */
    static int hclge_add_fd_entry_by_arfs(hclge_dev hdev, ushort queue_id, ushort flow_id)
    {
        hclge_fd_rule? rule;
        ushort bit_id;
        int ret;

        spin_lock(hdev.fd_rule_lock);

        /* when there is already fd rule existed add by user,
         * arfs should not work
         */
        if (hdev.fd_active_type == HCLGE_FD_EP_ACTIVE)
        {
            spin_unlock(hdev.fd_rule_lock);

            return -EOPNOTSUPP;
        }

        rule = hclge_fd_search_flow_keys(hdev, flow_id);
        if (rule == null)
        {
            bit_id = find_first_zero_bit(hdev.fd_bmap);
            if (bit_id >= hdev.rule_num)
            {
                spin_unlock(hdev.fd_rule_lock);

                return -ENOSPC;
            }

            rule = {|#0:kzalloc(sizeof_hclge_fd_rule, GFP_KERNEL)|} is null ? null : new hclge_fd_rule();
            if (rule == null)
            {
                spin_unlock(hdev.fd_rule_lock);

                return -ENOMEM;
            }

            hdev.fd_bmap[bit_id] = true;
            rule.location = bit_id;
            rule.flow_id = flow_id;
            rule.queue_id = queue_id;
            ret = hclge_fd_config_rule(hdev, rule);

            spin_unlock(hdev.fd_rule_lock);

            if (ret != 0)
                return ret;

            return rule.location;
        }

        spin_unlock(hdev.fd_rule_lock);

        if (rule.queue_id == queue_id)
            return rule.location;

        rule.queue_id = queue_id;
        return rule.location;
    }

    const int EOPNOTSUPP = 95;
}
";

    [Fact]
    public async Task HclgeArfsRuleGetsGfpAtomicAsItsFixDid()
    {
        await new Verify.Test
        {
            TestCode = Hclge.Replace("{|#0:", "[|").Replace(")|}", ")|]"),
            FixedCode = Hclge.Replace("{|#0:", string.Empty).Replace(")|}", ")").Replace("GFP_KERNEL)", "GFP_ATOMIC)"),
        }.RunAsync();
    }

    [Fact]
    public async Task HclgeArfsRuleIsNotMovedPastTheExitsThatUnlock()
    {
        var source = Hclge.Replace("{|#0:", "[|").Replace(")|}", ")|]");
        await new Verify.Test { TestCode = source, FixedCode = source, CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey }.RunAsync();
    }

    /// <summary>arch/um/drivers/chan_kern.c, v2.6.13: parse_chan() runs under a spinlock taken by
    /// line_open() (through parse_chan_pair()); fixed in v2.6.14 by "uml: use GFP_ATOMIC for
    /// allocations under spinlocks" (Paolo Giarrusso, 2005-09).</summary>
    private const string ParseChan = Usings + @"sealed class chan_opts { }
sealed class chan_ops { public System.Func<string, int, chan_opts, object?> init = (s, d, o) => new object(); }
sealed class chan { public bool primary = true; public bool input; public bool output; public chan_ops? ops; public object? data; }
sealed class line { public spinlock_t @lock = new(); }

static class ChanKern
{
    const nuint sizeof_chan = 64;

    static chan_ops? get_ops(string str) => new chan_ops();

    [MustHoldLock(""l.lock"")]
    static chan? parse_chan(line l, string str, int device, chan_opts opts)
    {
        chan_ops? ops = get_ops(str);
        object? data;
        chan? chan;

        if (ops == null) return (null);
        data = ops.init(str, device, opts);
        if (data == null) return (null);

        chan = {|#0:kmalloc(sizeof_chan, GFP_KERNEL)|} is null ? null : new chan();
        if (chan == null) return (null);
        chan.ops = ops;
        chan.data = data;
        return (chan);
    }
}
";

    [Fact]
    public async Task UmlParseChanGetsGfpAtomicAsItsFixDid()
    {
        await Verify.VerifyCodeFixAsync(
            ParseChan.Replace("{|#0:", "[|").Replace(")|}", ")|]"),
            ParseChan.Replace("{|#0:", string.Empty).Replace(")|}", ")").Replace("GFP_KERNEL)", "GFP_ATOMIC)"));
    }

    [Fact]
    public async Task AllocationWhoseInputsAreReadyMovesBeforeTheLock()
    {
        await new Verify.Test
        {
            TestCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; public nuint size = 64; }

static class Drv
{
    static int fill(dev d)
    {
        nuint size = d.size;
        spin_lock(d.@lock);
        d.buf = null;
        // room for the next record
        object? p = [|kzalloc(size, GFP_KERNEL | __GFP_NOWARN)|];
        d.buf = p;
        spin_unlock(d.@lock);
        return p == null ? -ENOMEM : 0;
    }
}
",
            FixedCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? buf; public nuint size = 64; }

static class Drv
{
    static int fill(dev d)
    {
        nuint size = d.size;
        // room for the next record
        object? p = kzalloc(size, GFP_KERNEL | __GFP_NOWARN);
        spin_lock(d.@lock);
        d.buf = null;
        d.buf = p;
        spin_unlock(d.@lock);
        return p == null ? -ENOMEM : 0;
    }
}
",
            CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey,
        }.RunAsync();
    }

    [Fact]
    public async Task TwoAllocationsUnderOneLockMoveInOneFixAllPass()
    {
        await new Verify.Test
        {
            TestCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? a; public object? b; }

static class Drv
{
    static void fill(dev d)
    {
        spin_lock(d.@lock);
        object? a = [|kmalloc(32, GFP_KERNEL)|];
        object? b = [|kmalloc(64, GFP_KERNEL)|];
        d.a = a;
        d.b = b;
        spin_unlock(d.@lock);
    }
}
",
            FixedCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public object? a; public object? b; }

static class Drv
{
    static void fill(dev d)
    {
        object? a = kmalloc(32, GFP_KERNEL);
        object? b = kmalloc(64, GFP_KERNEL);
        spin_lock(d.@lock);
        d.a = a;
        d.b = b;
        spin_unlock(d.@lock);
    }
}
",
            CodeActionEquivalenceKey = AtomicAllocationCodeFix.MoveKey,
        }.RunAsync();
    }

    [Fact]
    public async Task SizeComputedUnderTheLockKeepsTheAllocationThere()
    {
        // The size is read under the lock: only GFP_ATOMIC is right.
        await new Verify.Test
        {
            TestCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public nuint size; }

static class Drv
{
    static object? grow(dev d)
    {
        spin_lock(d.@lock);
        nuint size = d.size * 2;
        object? p = [|kmalloc(size, GFP_KERNEL)|];
        spin_unlock(d.@lock);
        return p;
    }
}
",
            FixedCode = Usings + @"sealed class dev { public spinlock_t @lock = new(); public nuint size; }

static class Drv
{
    static object? grow(dev d)
    {
        spin_lock(d.@lock);
        nuint size = d.size * 2;
        object? p = kmalloc(size, GFP_ATOMIC);
        spin_unlock(d.@lock);
        return p;
    }
}
",
        }.RunAsync();
    }

    [Fact]
    public async Task NoRepairForAMutexOrUnknownFlagsUnderASpinlock()
    {
        // mutex_lock under a spinlock has no mechanical repair; flags from a parameter or GFP_NOFS
        // are not rewritten (and neither allocation can move: one is conditional, the other
        // reads flags that may be known only here).
        const string Source = Usings + @"sealed class dev { public spinlock_t @lock = new(); public mutex m = new(); }

static class Drv
{
    static void f(dev d, gfp_t gfp)
    {
        spin_lock(d.@lock);
        [|mutex_lock(d.m)|];
        mutex_unlock(d.m);
        if (gfp != GFP_KERNEL)
            [|kmalloc(16, gfp)|];
        else
            [|kmalloc(16, GFP_NOFS)|];
        spin_unlock(d.@lock);
    }
}
";
        await Verify.VerifyCodeFixAsync(Source, Source);
    }

    [Fact]
    public async Task AllocationInAnAtomicCallbackGetsGfpAtomic()
    {
        await VerifyAtomic.VerifyCodeFixAsync(
            Usings + @"static class Iommu
{
    static object? last;

    static int my_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        last = [|kzalloc(32, Linux.GFP_KERNEL)|];
        return 0;
    }

    public static readonly mmu_notifier_ops ops = new() { clear_flush_young = my_clear_flush_young };
}
",
            Usings + @"static class Iommu
{
    static object? last;

    static int my_clear_flush_young(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        last = kzalloc(32, Linux.GFP_ATOMIC);
        return 0;
    }

    public static readonly mmu_notifier_ops ops = new() { clear_flush_young = my_clear_flush_young };
}
");
    }
}
