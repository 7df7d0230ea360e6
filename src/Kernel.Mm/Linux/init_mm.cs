using System.Threading;

namespace Kernel.Mm;

// mm/init-mm.c
public static partial class Linux
{
    private static mm_struct? s_init_mm;

    /// <summary>
    /// <c>init_mm</c>: the kernel's own address space (vmalloc, the direct map). No secondary MMU
    /// mirrors it, so a change of its entries needs no invalidation (MMU013 leaves it alone). Made
    /// on first use, so that it takes no mm id from the address spaces a test creates.
    /// </summary>
    public static mm_struct init_mm => LazyInitializer.EnsureInitialized(ref s_init_mm, () => new mm_struct());
}
