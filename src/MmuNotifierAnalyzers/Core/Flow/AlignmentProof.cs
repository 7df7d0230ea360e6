using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>
/// Whether a parameter that a method never writes holds a huge-page-aligned address:
/// <list type="bullet">
/// <item>the method itself requires it: it passes the parameter to a Kernel.Mm function that throws
/// on an address not HPAGE_PMD aligned (<see cref="KnownSymbols.PmdAlignedAddressUsers"/>), or asserts
/// it through a <c>[DoesNotReturnIf]</c> parameter (<c>VM_BUG_ON((address &amp; ~HPAGE_PMD_MASK) != 0)</c>);</item>
/// <item>or every invocation of the method in the compilation passes an aligned value (a masked
/// expression, a local every write of which is masked, or a parameter proven so in turn, three calls
/// deep at most), there is at least one, and the method is never used other than by a call (a
/// method group assigned to an ops member or a delegate lets callers we cannot see pass anything).</item>
/// </list>
/// The call sites come from <see cref="CallSites"/>, indexed per file the first time a rule asks.
/// </summary>
internal sealed class AlignmentProof
{
    private const int MaxCallDepth = 3;

    private static readonly ConditionalWeakTable<Compilation, AlignmentProof> Cache = new();

    private readonly Compilation _compilation;
    private readonly KnownSymbols _symbols;
    private readonly ConcurrentDictionary<(IParameterSymbol, HugeSize), bool> _callSiteResults =
        new(new ParameterKeyComparer());

    private AlignmentProof(Compilation compilation, KnownSymbols symbols)
    {
        _compilation = compilation;
        _symbols = symbols;
    }

    public static AlignmentProof Get(KnownSymbols symbols) =>
        Cache.GetOrCreate(symbols.Compilation, symbols, static (c, s) => new AlignmentProof(c, s));

    /// <summary>True when <paramref name="parameter"/> (never written in its method, whose body is
    /// <paramref name="root"/>) is proven aligned to a huge page that fits <paramref name="length"/>.</summary>
    public bool IsAligned(IParameterSymbol parameter, IOperation root, SizeTerm length, CancellationToken cancellationToken) =>
        RequiredByMethod(parameter, root, length) || ByCallSites(parameter, length.Size, 0, new HashSet<IParameterSymbol>(SymbolEqualityComparer.Default), cancellationToken);

    private bool RequiredByMethod(IParameterSymbol parameter, IOperation root, SizeTerm length)
    {
        foreach (var invocation in root.Descendants().OfType<IInvocationOperation>())
        {
            if (KnownSymbols.Is(invocation.TargetMethod, _symbols.PmdAlignedAddressUsers)
                && RangeArithmetic.MaskFits(new SizeTerm(Dimension.Mask, HugeSize.Pmd, null), length)
                && invocation.Arguments.Any(a => IsReferenceTo(a.Value, parameter) && RangeArithmetic.HoldsEntryValue(parameter, a.Value, root)))
            {
                return true;
            }

            foreach (var argument in invocation.Arguments)
            {
                if (argument.Parameter is { } p && DoesNotReturnIf(p) is { } when && Asserts(argument.Value, parameter, when, length, root))
                {
                    return true;
                }
            }
        }

        return false;
    }

    // VM_BUG_ON((address & ~HPAGE_PMD_MASK) != 0) with [DoesNotReturnIf(true)]; == 0 with false.
    private bool Asserts(IOperation condition, IParameterSymbol parameter, bool when, SizeTerm length, IOperation root)
    {
        if (RangeArithmetic.Strip(condition) is not IBinaryOperation comparison
            || comparison.OperatorKind is not (BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals)
            || (comparison.OperatorKind == BinaryOperatorKind.NotEquals) != when)
        {
            return false;
        }

        var (offset, zero) = IsZero(comparison.RightOperand) ? (comparison.LeftOperand, comparison.RightOperand) : (comparison.RightOperand, comparison.LeftOperand);
        if (!IsZero(zero) || RangeArithmetic.Strip(offset) is not IBinaryOperation { OperatorKind: BinaryOperatorKind.And } and)
        {
            return false;
        }

        foreach (var (value, mask) in new[] { (and.LeftOperand, and.RightOperand), (and.RightOperand, and.LeftOperand) })
        {
            var term = RangeArithmetic.ClassifyTerm(mask, _symbols);
            if (term.Dimension == Dimension.OffsetMask && IsReferenceTo(value, parameter) && RangeArithmetic.HoldsEntryValue(parameter, value, root)
                && RangeArithmetic.MaskFits(new SizeTerm(Dimension.Mask, term.Size, term.Subject), length))
            {
                return true;
            }
        }

        return false;
    }

    private bool ByCallSites(IParameterSymbol parameter, HugeSize size, int depth, HashSet<IParameterSymbol> visiting, CancellationToken cancellationToken)
    {
        if (depth > MaxCallDepth || parameter.ContainingSymbol is not IMethodSymbol method)
        {
            return false;
        }

        if (_callSiteResults.TryGetValue((parameter, size), out var known))
        {
            return known;
        }

        if (!visiting.Add(parameter))
        {
            // A recursive call passing the parameter on unchanged: neutral.
            return true;
        }

        var result = ComputeByCallSites(method, parameter, size, depth, visiting, cancellationToken);
        visiting.Remove(parameter);
        if (depth == 0)
        {
            _callSiteResults.TryAdd((parameter, size), result);
        }

        return result;
    }

    private bool ComputeByCallSites(IMethodSymbol method, IParameterSymbol parameter, HugeSize size, int depth, HashSet<IParameterSymbol> visiting, CancellationToken cancellationToken)
    {
        var calls = CallSites.Get(_compilation).CallsTo(method, cancellationToken);
        if (calls is null || calls.Count == 0)
        {
            return false;
        }

        foreach (var (call, _) in calls)
        {
            var argument = call.Arguments.FirstOrDefault(a => a.Parameter is not null && a.Parameter.Ordinal == parameter.Ordinal);
            if (argument is null || argument.ArgumentKind != ArgumentKind.Explicit)
            {
                return false;
            }

            var form = RangeArithmetic.ClassifyAddress(argument.Value, _symbols);
            var length = new SizeTerm(Dimension.Bytes, size, null);
            var aligned = form.Shape switch
            {
                AddressShape.Masked => size == HugeSize.Pmd ? RangeArithmetic.MaskFits(form.Term, length) : form.Term.Size == size || form.Term.Size == HugeSize.Pmd && size == HugeSize.Compound,
                AddressShape.Parameter => form.Parameter is not null
                    && (RequiredByMethod(form.Parameter, RangeArithmetic.Root(argument), length)
                        || ByCallSites(form.Parameter, size, depth + 1, visiting, cancellationToken)),
                _ => false,
            };
            if (!aligned)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsReferenceTo(IOperation value, IParameterSymbol parameter) =>
        RangeArithmetic.Strip(value) is IParameterReferenceOperation reference && SymbolEqualityComparer.Default.Equals(reference.Parameter, parameter);

    private static bool IsZero(IOperation operation) =>
        RangeArithmetic.Strip(operation).ConstantValue is { HasValue: true, Value: var v }
        && v switch { int i => i == 0, uint u => u == 0, long l => l == 0, ulong ul => ul == 0, _ => false };

    private static bool? DoesNotReturnIf(IParameterSymbol parameter)
    {
        foreach (var attribute in parameter.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() == "System.Diagnostics.CodeAnalysis.DoesNotReturnIfAttribute"
                && attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is bool when)
            {
                return when;
            }
        }

        return null;
    }

    [SuppressMessage(
        "MicrosoftCodeAnalysisCorrectness",
        "RS1030:Do not invoke Compilation.GetSemanticModel() method within a diagnostic analyzer",
        Justification = "A parameter's call sites are in other methods and files; only the uses of that method's name are bound, and only when a rule has a candidate.")]

    private sealed class ParameterKeyComparer : IEqualityComparer<(IParameterSymbol, HugeSize)>
    {
        public bool Equals((IParameterSymbol, HugeSize) x, (IParameterSymbol, HugeSize) y) =>
            x.Item2 == y.Item2 && SymbolEqualityComparer.Default.Equals(x.Item1, y.Item1);

        public int GetHashCode((IParameterSymbol, HugeSize) obj) =>
            SymbolEqualityComparer.Default.GetHashCode(obj.Item1) * 31 + (int)obj.Item2;
    }
}
