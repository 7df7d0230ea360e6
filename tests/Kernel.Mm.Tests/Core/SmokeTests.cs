using Kernel.Mm;
using Xunit;
using static Kernel.Mm.Linux;

namespace Kernel.Mm.Tests.Core;

public class SmokeTests
{
    [Fact]
    public void Anonymous_fault_maps_a_page_and_notifier_sees_start_end()
    {
        var (mm, vma) = TestMm.Anon();
        var mn = RecordingNotifier.Create();
        Assert.Equal(0, mmu_notifier_register(mn, mm));

        vm_fault_t r = handle_mm_fault(vma, TestMm.Base + 0x123, FAULT_FLAG_WRITE);
        Assert.Equal(0, (int)r);
        var pte = TestMm.PteOf(mm, TestMm.Base);
        Assert.True(pte_present(pte));
        Assert.True(pte_write(pte));

        mmu_notifier_invalidate_range_start(mm, TestMm.Base, TestMm.Base + PAGE_SIZE);
        mmu_notifier_invalidate_range_end(mm, TestMm.Base, TestMm.Base + PAGE_SIZE);
        Assert.Equal(new[] { "start 10000000-10001000", "end 10000000-10001000" }, mn.Snapshot());

        mmu_notifier_unregister(mn, mm);
        mmput(mm);
    }
}
