using System.Collections.Generic;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;
using MmuNotifierAnalyzers.Rules;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;
using Verify = MmuNotifierAnalyzers.Tests.Verifiers.CSharpAnalyzerVerifier<MmuNotifierAnalyzers.Rules.SleepConfigurationAnalyzer>;

namespace MmuNotifierAnalyzers.Tests.Rules;

public class MMU900SleepConfigurationTests
{
    private const string Driver = @"using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace Driver;

public sealed class Dev
{
    static readonly mutex dev_lock = new mutex();

    public Dev() { }

    public int size { get; set; }

    public static void flush_dev_tlb(ulong start) { mutex_lock(dev_lock); mutex_unlock(dev_lock); }
    public static void fw_call(int cmd) { }
}
";

    private static DiagnosticResult Expect(int marker, string text, string file, string problem) =>
        Verify.Diagnostic().WithLocation(marker).WithArguments(text, file, problem);

    [Fact]
    public async Task Valid_lines_report_nothing()
    {
        var test = new Verify.Test { TestCode = Driver };
        test.TestState.AdditionalFiles.Add(("MmuNotifier.Sleep.txt", @"# comment

M:Driver.Dev.fw_call(System.Int32)
!M:Driver.Dev.flush_dev_tlb(System.UInt64)   # trailing comment
M:Driver.Dev.fw_call
T:Driver.Dev
P:Driver.*
M:Driver.Dev.flush_*
T:Driver.*
  M:Kernel.Mm.Linux.mutex_lock(Kernel.Mm.mutex)
M:System.Threading.Thread.Sleep(System.Int32)
"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Malformed_lines_are_reported_at_their_line()
    {
        var test = new Verify.Test { TestCode = Driver };
        test.TestState.AdditionalFiles.Add(("/0/MmuNotifier.Sleep.txt", @"# the driver's list
{|#0:Driver.Dev.flush_dev_tlb|}
   {|#1:F:Driver.Dev.dev_lock|}   # fields never sleep
{|#2:M:Driver.*.flush|}
{|#3:M:Driver.Dev.fw call(System.Int32)|}
{|#4:M:Driver.Dev.fw_call(System.Int32|}
{|#5:!|}
M:Driver.Dev.fw_call(System.Int32)
"));
        test.ExpectedDiagnostics.Add(Expect(0, "Driver.Dev.flush_dev_tlb", "MmuNotifier.Sleep.txt", "expected a documentation-comment id such as 'M:Driver.Dev.flush_dev_tlb(System.UInt64)' or 'T:Driver.Dev'"));
        test.ExpectedDiagnostics.Add(Expect(1, "F:Driver.Dev.dev_lock", "MmuNotifier.Sleep.txt", "'F:' ids name no method: use 'M:', 'P:' (a property's accessors) or 'T:' (every method of a type)"));
        test.ExpectedDiagnostics.Add(Expect(2, "M:Driver.*.flush", "MmuNotifier.Sleep.txt", "'*' is allowed only at the end of an id"));
        test.ExpectedDiagnostics.Add(Expect(3, "M:Driver.Dev.fw call(System.Int32)", "MmuNotifier.Sleep.txt", "blanks are not allowed in an id (one id per line)"));
        test.ExpectedDiagnostics.Add(Expect(4, "M:Driver.Dev.fw_call(System.Int32", "MmuNotifier.Sleep.txt", "unbalanced parentheses in the parameter list"));
        test.ExpectedDiagnostics.Add(Expect(5, "!", "MmuNotifier.Sleep.txt", "expected a documentation-comment id such as 'M:Driver.Dev.flush_dev_tlb(System.UInt64)' or 'T:Driver.Dev'"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Ids_that_name_nothing_are_reported()
    {
        var test = new Verify.Test { TestCode = Driver };
        test.TestState.AdditionalFiles.Add(("/0/gpu.MmuNotifier.Sleep.txt", @"{|#0:M:Driver.Dev.flush_dev_tlb(System.Int32)|}
{|#1:M:Driver.Dev.nope|}
{|#2:!T:Driver.Gpu|}
{|#3:M:Nowhere.*|}
M:Driver.Dev.#ctor
"));
        test.ExpectedDiagnostics.Add(Expect(0, "M:Driver.Dev.flush_dev_tlb(System.Int32)", "gpu.MmuNotifier.Sleep.txt", "it names no method in the compilation or its references"));
        test.ExpectedDiagnostics.Add(Expect(1, "M:Driver.Dev.nope", "gpu.MmuNotifier.Sleep.txt", "it names no method in the compilation or its references"));
        test.ExpectedDiagnostics.Add(Expect(2, "!T:Driver.Gpu", "gpu.MmuNotifier.Sleep.txt", "it names no type in the compilation or its references"));
        test.ExpectedDiagnostics.Add(Expect(3, "M:Nowhere.*", "gpu.MmuNotifier.Sleep.txt", "no symbol's id starts with it"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Other_additional_files_are_not_read()
    {
        var test = new Verify.Test { TestCode = Driver };
        test.TestState.AdditionalFiles.Add(("/0/BannedSymbols.txt", "this is not ours\n"));
        test.TestState.AdditionalFiles.Add(("/0/MmuNotifier.Sleep.txt.bak", "neither is this\n"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Several_files_are_merged_and_a_bad_line_does_not_stop_the_good_ones()
    {
        var test = new BothTest
        {
            TestCode = @"using Kernel.Mm;
using static Kernel.Mm.Linux;

namespace Driver;

static class Dev
{
    public static void fw_call(int cmd) { }
    public static void fw_reset() { }

    static void my_inv(mmu_notifier mn, mm_struct mm, ulong start, ulong end)
    {
        {|#0:fw_call(1)|};
        {|#1:fw_reset()|};
    }

    public static readonly mmu_notifier_ops ops = new() { invalidate_range = my_inv };
}
",
        };
        test.TestState.AdditionalFiles.Add(("/0/a/MmuNotifier.Sleep.txt", "{|#2:garbage line|}\nM:Driver.Dev.fw_call(System.Int32)\n"));
        test.TestState.AdditionalFiles.Add(("/0/b/MmuNotifier.Sleep.txt", "M:Driver.Dev.fw_reset\n"));
        test.ExpectedDiagnostics.Add(CSharpAnalyzerVerifier<SleepInAtomicCallbackAnalyzer>.Diagnostic().WithLocation(0)
            .WithArguments("invalidate_range", "my_inv", "fw_call", "fw_call (may sleep, per MmuNotifier.Sleep.txt)"));
        test.ExpectedDiagnostics.Add(CSharpAnalyzerVerifier<SleepInAtomicCallbackAnalyzer>.Diagnostic().WithLocation(1)
            .WithArguments("invalidate_range", "my_inv", "fw_reset", "fw_reset (may sleep, per MmuNotifier.Sleep.txt)"));
        test.ExpectedDiagnostics.Add(Verify.Diagnostic().WithLocation(2)
            .WithArguments("garbage line", "MmuNotifier.Sleep.txt", "expected a documentation-comment id such as 'M:Driver.Dev.flush_dev_tlb(System.UInt64)' or 'T:Driver.Dev'"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Severity_comes_from_a_global_config()
    {
        var test = new Verify.Test { TestCode = Driver };
        test.TestState.AdditionalFiles.Add(("/0/MmuNotifier.Sleep.txt", "garbage line\n"));
        test.TestState.AnalyzerConfigFiles.Add(("/.globalconfig", "is_global = true\ndotnet_diagnostic.MMU900.severity = none\n"));
        await test.RunAsync();
    }

    [Fact]
    public async Task Severity_can_be_raised_to_error()
    {
        var test = new Verify.Test { TestCode = Driver };
        test.TestState.AdditionalFiles.Add(("/0/MmuNotifier.Sleep.txt", "{|#0:garbage line|}\n"));
        test.TestState.AnalyzerConfigFiles.Add(("/.globalconfig", "is_global = true\ndotnet_diagnostic.MMU900.severity = error\n"));
        test.ExpectedDiagnostics.Add(Expect(0, "garbage line", "MmuNotifier.Sleep.txt", "expected a documentation-comment id such as 'M:Driver.Dev.flush_dev_tlb(System.UInt64)' or 'T:Driver.Dev'")
            .WithSeverity(Microsoft.CodeAnalysis.DiagnosticSeverity.Error));
        await test.RunAsync();
    }

    private sealed class BothTest : CSharpAnalyzerTest<SleepInAtomicCallbackAnalyzer, DefaultVerifier>
    {
        public BothTest() => KernelTestProject.Configure(this);

        protected override Project ApplyCompilationOptions(Project project) =>
            KernelTestProject.WithConfigurableSeverities(base.ApplyCompilationOptions(project), GetDiagnosticAnalyzers());

        protected override IEnumerable<DiagnosticAnalyzer> GetDiagnosticAnalyzers() =>
            new DiagnosticAnalyzer[] { new SleepInAtomicCallbackAnalyzer(), new SleepConfigurationAnalyzer() };
    }
}
