using Xunit;

namespace Kernel.Mm.Tests.Core;

/// <summary>
/// Tests that free a page and then touch it again (double free) must not share the allocator with
/// tests running in parallel: a freed pfn can be handed to another test at once.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Kernel.Mm allocator (serial)";
}
