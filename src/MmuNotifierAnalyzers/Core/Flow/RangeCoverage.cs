using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>What the value arithmetic can prove about a range covering another.</summary>
internal enum Coverage
{
    /// <summary>Provably inside.</summary>
    Covered,

    /// <summary>Provably not inside (a bound lies outside on every value of the shared base).</summary>
    NotCovered,

    /// <summary>Neither can be shown (different bases, a mask of unknown alignment, the 4.20 range object).</summary>
    Unknown,
}

/// <summary>
/// Bounds arithmetic over <see cref="Value"/>s: a value is read as <c>base + [lo, hi]</c> (sums and
/// differences with constants shift the interval, <c>x &amp; ~(2^k - 1)</c> widens it by
/// <c>2^k - 1</c> below), so <c>[haddr, haddr + HPAGE_PMD_SIZE)</c> is shown to cover
/// <c>[haddr, haddr + PAGE_SIZE)</c> and not <c>[haddr + HPAGE_PMD_SIZE, ...)</c>.
/// </summary>
internal static class RangeCoverage
{
    /// <summary>Whether [<paramref name="outerStart"/>, <paramref name="outerEnd"/>) covers [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public static Coverage Covers(Value? outerStart, Value? outerEnd, Value? start, Value? end)
    {
        var low = AtMost(outerStart, start);
        var high = AtMost(end, outerEnd);
        if (low == Coverage.NotCovered || high == Coverage.NotCovered)
        {
            return Coverage.NotCovered;
        }

        return low == Coverage.Covered && high == Coverage.Covered ? Coverage.Covered : Coverage.Unknown;
    }

    /// <summary><paramref name="a"/> &lt;= <paramref name="b"/>: Covered when proven, NotCovered when disproven.</summary>
    private static Coverage AtMost(Value? a, Value? b)
    {
        if (a is null || b is null)
        {
            return Coverage.Unknown;
        }

        var x = Bounds(a);
        var y = Bounds(b);
        if (!Equals(x.Base, y.Base))
        {
            return Coverage.Unknown;
        }

        if (x.High <= y.Low)
        {
            return Coverage.Covered;
        }

        return x.Low > y.High ? Coverage.NotCovered : Coverage.Unknown;
    }

    /// <summary>The value as <c>Base + [Low, High]</c>; Base null for a constant.</summary>
    internal static (Value? Base, decimal Low, decimal High) Bounds(Value value)
    {
        if (AsInteger(value) is { } constant)
        {
            return (null, constant, constant);
        }

        if (value.Kind == ValueKind.Binary && value.Left is { } left && value.Right is { } right)
        {
            switch ((BinaryOperatorKind)value.Extra)
            {
                case BinaryOperatorKind.Add when AsInteger(right) is { } c:
                    return Shift(Bounds(left), c);
                case BinaryOperatorKind.Add when AsInteger(left) is { } c:
                    return Shift(Bounds(right), c);
                case BinaryOperatorKind.Subtract when AsInteger(right) is { } c:
                    return Shift(Bounds(left), -c);
                case BinaryOperatorKind.And when AlignmentOf(right) is { } alignment:
                    {
                        var inner = Bounds(left);
                        return (inner.Base, inner.Low - (alignment - 1), inner.High);
                    }
            }
        }

        return (value, 0, 0);
    }

    private static (Value? Base, decimal Low, decimal High) Shift((Value? Base, decimal Low, decimal High) bounds, decimal by) =>
        (bounds.Base, bounds.Low + by, bounds.High + by);

    /// <summary>2^k for a mask <c>~(2^k - 1)</c> (PAGE_MASK, HPAGE_PMD_MASK), else null.</summary>
    private static decimal? AlignmentOf(Value mask)
    {
        if (mask.IsConstant && mask.Payload is ulong m && m != 0)
        {
            var alignment = ~m + 1;
            return (alignment & (alignment - 1)) == 0 && alignment != 0 ? alignment : null;
        }

        return null;
    }

    private static decimal? AsInteger(Value value) => value.IsConstant
        ? value.Payload switch
        {
            int i => i,
            long l => l,
            uint u => u,
            ulong ul => ul,
            _ => null,
        }
        : null;
}
