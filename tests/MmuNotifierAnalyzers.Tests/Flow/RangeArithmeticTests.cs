using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;
using MmuNotifierAnalyzers.Core;
using MmuNotifierAnalyzers.Core.Flow;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Flow;

/// <summary>The classification MMU007 and MMU008 share, one expression at a time.</summary>
public sealed class RangeArithmeticTests
{
    [Theory]
    [InlineData("compound_order(page)", "Order", "Compound")]
    [InlineData("HPAGE_PMD_ORDER", "Order", "Pmd")]
    [InlineData("huge_page_order(h)", "Order", "HugeTlb")]
    [InlineData("1UL << compound_order(page)", "Pages", "Compound")]
    [InlineData("(ulong)(1 << compound_order(page))", "Pages", "Compound")]
    [InlineData("compound_nr(page)", "Pages", "Compound")]
    [InlineData("HPAGE_PMD_NR", "Pages", "Pmd")]
    [InlineData("1UL << HPAGE_PMD_ORDER", "Pages", "Pmd")]
    [InlineData("pages_per_huge_page(h)", "Pages", "HugeTlb")]
    [InlineData("PAGE_SIZE << compound_order(page)", "Bytes", "Compound")]
    [InlineData("compound_nr(page) * PAGE_SIZE", "Bytes", "Compound")]
    [InlineData("PAGE_SIZE * HPAGE_PMD_NR", "Bytes", "Pmd")]
    [InlineData("compound_nr(page) << PAGE_SHIFT", "Bytes", "Compound")]
    [InlineData("HPAGE_PMD_SIZE", "Bytes", "Pmd")]
    [InlineData("huge_page_size(h)", "Bytes", "HugeTlb")]
    [InlineData("HPAGE_PMD_MASK", "Mask", "Pmd")]
    [InlineData("huge_page_mask(h)", "Mask", "HugeTlb")]
    [InlineData("~((PAGE_SIZE << compound_order(page)) - 1)", "Mask", "Compound")]
    [InlineData("~(HPAGE_PMD_SIZE - 1)", "Mask", "Pmd")]
    [InlineData("~HPAGE_PMD_MASK", "OffsetMask", "Pmd")]
    [InlineData("PAGE_SIZE", "Unknown", "None")]
    [InlineData("512UL", "Unknown", "None")]
    [InlineData("2UL << compound_order(page)", "Unknown", "None")]
    [InlineData("PAGE_MASK", "Unknown", "None")]
    public void Terms(string expression, string dimension, string size)
    {
        var (operation, symbols) = Bind(expression);
        var term = RangeArithmetic.ClassifyTerm(operation, symbols);
        Assert.Equal(dimension, term.Dimension.ToString());
        Assert.Equal(size, term.Size.ToString());
    }

    [Theory]
    [InlineData("address + (1UL << compound_order(page))", "Sum", "Pages")]
    [InlineData("HPAGE_PMD_NR + address", "Sum", "Pages")]
    [InlineData("address + HPAGE_PMD_SIZE", "Sum", "Bytes")]
    [InlineData("address & HPAGE_PMD_MASK", "Masked", "Mask")]
    [InlineData("huge_page_mask(h) & address", "Masked", "Mask")]
    [InlineData("address", "Parameter", "Unknown")]
    [InlineData("address + PAGE_SIZE", "Unknown", "Unknown")]
    [InlineData("address & PAGE_MASK", "Unknown", "Unknown")]
    public void Addresses(string expression, string shape, string dimension)
    {
        var (operation, symbols) = Bind(expression);
        var form = RangeArithmetic.ClassifyAddress(operation, symbols);
        Assert.Equal(shape, form.Shape.ToString());
        Assert.Equal(dimension, form.Term.Dimension.ToString());
        Assert.Single(form.Writes);
    }

    [Fact]
    public void LocalsAreFollowedWhenEveryWriteAgrees()
    {
        var (same, symbols) = Bind("end", "ulong end = address + HPAGE_PMD_NR; if (address == 0) end = address + (1 << HPAGE_PMD_ORDER);");
        var form = RangeArithmetic.ClassifyAddress(same, symbols);
        Assert.True(form.AddsPages);
        Assert.Equal(2, form.Writes.Length);

        var (mixed, _) = Bind("end", "ulong end = address + HPAGE_PMD_NR; if (address == 0) end = address + PAGE_SIZE;");
        Assert.Equal(AddressShape.Unknown, RangeArithmetic.ClassifyAddress(mixed, symbols).Shape);

        var (byRef, _) = Bind("end", "ulong end = address + HPAGE_PMD_NR; touch(ref end);");
        Assert.Equal(AddressShape.Unknown, RangeArithmetic.ClassifyAddress(byRef, symbols).Shape);

        var (written, _) = Bind("address", "address += PAGE_SIZE;");
        Assert.Equal(AddressShape.Unknown, RangeArithmetic.ClassifyAddress(written, symbols).Shape);
    }

    private static (IOperation Operation, KnownSymbols Symbols) Bind(string expression, string statements = "")
    {
        var source = "using Kernel.Mm;\nusing static Kernel.Mm.Linux;\nstatic class C\n{\n    static void touch(ref ulong x) { }\n"
            + "    static object f(page page, hstate h, ulong address)\n    {\n        " + statements + "\n        return " + expression + ";\n    }\n}\n";
        var tree = CSharpSyntaxTree.ParseText(source);
        var compilation = CSharpCompilation.Create("T", new[] { tree }, TestReferences.Framework.Add(TestReferences.KernelMm).Add(TestReferences.Annotations),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        var model = compilation.GetSemanticModel(tree);
        var returned = tree.GetRoot().DescendantNodes().OfType<ReturnStatementSyntax>().Single().Expression!;
        var operation = ((IReturnOperation)model.GetOperation(returned.Parent!)!).ReturnedValue!;
        return (operation, KnownSymbols.Get(compilation));
    }
}
