extern alias fixedports;

using System;
using Kernel.Mm;
using Seeds.Common;
using Xunit;
using static Kernel.Mm.Linux;
using After = Seeds.After;
using Before000 = Seeds.Before.Seed000;
using Before004 = Seeds.Before.Seed004;
using Fixed000 = fixedports::Seeds.Before.Seed000;
using Fixed004 = fixedports::Seeds.Before.Seed004;

namespace Kernel.Mm.Tests.Scenarios;

/// <summary>__xip_unmap (mm/filemap_xip.c): the sparse page unmapped from every vma of the file.</summary>
[Collection(ScenarioCollection.Name)]
public sealed class XipScenarios
{
    private const ulong Base = ScenarioRig.Base;
    private const ulong Size = 16 * PAGE_SIZE;
    private const ulong Other = Base + 0x200000UL;
    private const ulong PgOff = 0x100;
    private const ulong Hole = PgOff + 2;                      // the file offset being written

    private static void Unmap(Action<address_space, ulong> form, string[] stillMapping, params string[] ids)
    {
        page sparse = alloc_page(GFP_HIGHUSER | __GFP_ZERO)!;  // filemap_xip's reference
        try
        {
            using (var rig = new ScenarioRig())
            {
                var mapping = new address_space();
                foreach (ulong start in new[] { Base, Other })
                {
                    var vma = vm_area_alloc(rig.Mm);
                    vma.vm_start = start;
                    vma.vm_end = start + Size;
                    vma.vm_flags = VM_READ | VM_MAYREAD | VM_SHARED | VM_MAYSHARE;
                    vma.vm_pgoff = PgOff;
                    Assert.Equal(0, insert_vm_struct(rig.Mm, vma));
                    mapping.i_mmap.Add(vma);
                }

                rig.AttachSecondaries(Base, Size);
                kernel.__xip_sparse_page = sparse;
                ulong a = Base + ((Hole - PgOff) << PAGE_SHIFT);
                ulong b = Other + ((Hole - PgOff) << PAGE_SHIFT);
                Assert.Equal(0, kernel.vm_insert_page(find_vma(rig.Mm, a)!, a, sparse));   // xip_file_fault
                Assert.Equal(0, kernel.vm_insert_page(find_vma(rig.Mm, b)!, b, sparse));
                Assert.Equal(2, page_mapcount(sparse));
                rig.SecondariesMap(a, write: false);

                form(mapping, Hole);

                Assert.Null(rig.CpuPage(a));
                Assert.Null(rig.CpuPage(b));
                Assert.Equal(0, page_mapcount(sparse));
                Assert.Equal(1, page_count(sparse));
                Assert.Equal(stillMapping, rig.MappersOf(a));
                rig.Checker.CheckAll();
                rig.AssertIds(ids);
            }
        }
        finally
        {
            kernel.__xip_sparse_page = null;
            put_page(sparse);
        }
    }

    [Theory]
    [InlineData(Forms.After)]
    [InlineData(Forms.Seed004Fixed)]
    [InlineData(Forms.Seed000Fixed)]
    public void xip_unmap_after_form_invalidates_before_dropping_the_page(string form) =>
        Unmap(form switch
        {
            Forms.After => After.filemap_xip.__xip_unmap,
            Forms.Seed004Fixed => Fixed004.filemap_xip.__xip_unmap,
            Forms.Seed000Fixed => Fixed000.filemap_xip.__xip_unmap,
            _ => throw Forms.Unknown(form),
        }, Array.Empty<string>());

    [Fact]
    public void xip_unmap_seed004_form_calls_invalidate_page_under_the_pt_lock() =>
        Unmap(Before004.filemap_xip.__xip_unmap, new[] { "kvm", "odp", "iommu" }, "COHERENCE", "MMU001", "MMU005");

    [Fact]
    public void xip_unmap_seed000_form_calls_invalidate_page_after_the_pt_lock() =>
        Unmap(Before000.filemap_xip.__xip_unmap, new[] { "kvm", "odp", "iommu" }, "COHERENCE", "MMU001");
}
