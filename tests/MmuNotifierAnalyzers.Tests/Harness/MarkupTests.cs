using System;
using MmuNotifierAnalyzers.Tests.Verifiers;
using Xunit;

namespace MmuNotifierAnalyzers.Tests.Harness;

public sealed class MarkupTests
{
    [Fact]
    public void PlainTextIsUnchanged()
    {
        var (text, spans) = TestMarkup.Parse("class C { int[] a = new int[1]; bool b = true || false; }");
        Assert.Equal("class C { int[] a = new int[1]; bool b = true || false; }", text);
        Assert.Empty(spans);
    }

    [Fact]
    public void AllThreeFormsAndNesting()
    {
        var (text, spans) = TestMarkup.Parse("a [|b|] {|MMU001:c {|#0:d|}|} e");
        Assert.Equal("a b c d e", text);
        Assert.Equal(3, spans.Length);
        Assert.Equal(new MarkupSpan(string.Empty, new Microsoft.CodeAnalysis.Text.TextSpan(2, 1)), spans[0]);
        Assert.Equal(new MarkupSpan("MMU001", Microsoft.CodeAnalysis.Text.TextSpan.FromBounds(4, 7)), spans[1]);
        Assert.Equal(new MarkupSpan("#0", Microsoft.CodeAnalysis.Text.TextSpan.FromBounds(6, 7)), spans[2]);
    }

    [Fact]
    public void EmptySpanIsAllowed()
    {
        var (text, spans) = TestMarkup.Parse("x[||]y");
        Assert.Equal("xy", text);
        Assert.Equal(new Microsoft.CodeAnalysis.Text.TextSpan(1, 0), spans[0].Span);
    }

    [Fact]
    public void BraceThatIsNotMarkupIsKept()
    {
        // "{|" not followed by NAME: is ordinary text.
        var (text, spans) = TestMarkup.Parse("s = \"{| x\";");
        Assert.Equal("s = \"{| x\";", text);
        Assert.Empty(spans);
    }

    [Theory]
    [InlineData("[|a")]
    [InlineData("a|]")]
    [InlineData("[|a|}")]
    [InlineData("{|X:a|]")]
    public void UnbalancedMarkupThrows(string markup)
    {
        Assert.Throws<FormatException>(() => TestMarkup.Parse(markup));
    }
}
