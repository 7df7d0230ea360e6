using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>What a size-like value counts.</summary>
internal enum Dimension
{
    Unknown,

    /// <summary>A number of bytes: <c>PAGE_SIZE &lt;&lt; compound_order(page)</c>, <c>HPAGE_PMD_SIZE</c>, <c>huge_page_size(h)</c>.</summary>
    Bytes,

    /// <summary>A number of pages: <c>1UL &lt;&lt; compound_order(page)</c>, <c>compound_nr(page)</c>, <c>HPAGE_PMD_NR</c>, <c>pages_per_huge_page(h)</c>.</summary>
    Pages,

    /// <summary>log2 of a number of pages: <c>compound_order(page)</c>, <c>HPAGE_PMD_ORDER</c>, <c>huge_page_order(h)</c>.</summary>
    Order,

    /// <summary>Keeps the huge-page-aligned part of an address: <c>HPAGE_PMD_MASK</c>, <c>huge_page_mask(h)</c>, <c>~(size - 1)</c>.</summary>
    Mask,

    /// <summary>Keeps the offset inside the huge page: <c>~HPAGE_PMD_MASK</c>, <c>size - 1</c>.</summary>
    OffsetMask,
}

/// <summary>Which huge page a size is the size of.</summary>
internal enum HugeSize
{
    None,

    /// <summary>The compound page of a <c>page</c> (<c>compound_order(page)</c>).</summary>
    Compound,

    /// <summary>A PMD-mapped huge page (<c>HPAGE_PMD_*</c>).</summary>
    Pmd,

    /// <summary>A hugetlb page of an <c>hstate</c> (<c>huge_page_*(h)</c>).</summary>
    HugeTlb,
}

/// <summary>A size-like value: what it counts, of which huge page, and of which page or hstate
/// (<see cref="Subject"/>: the argument of <c>compound_order</c> / <c>huge_page_size</c>, null for PMD).</summary>
internal sealed class SizeTerm
{
    public static readonly SizeTerm Unknown = new(Dimension.Unknown, HugeSize.None, null);

    public SizeTerm(Dimension dimension, HugeSize size, IOperation? subject)
    {
        Dimension = dimension;
        Size = size;
        Subject = subject;
    }

    public Dimension Dimension { get; }

    public HugeSize Size { get; }

    public IOperation? Subject { get; }

    public bool IsKnown => Dimension != Dimension.Unknown;

    public bool SameAs(SizeTerm other) =>
        Dimension == other.Dimension && Size == other.Size && RangeArithmetic.SameValue(Subject, other.Subject);
}

/// <summary>The shape of an address value.</summary>
internal enum AddressShape
{
    Unknown,

    /// <summary><c>x + length</c> with a huge-page length (in bytes or, wrongly, in pages).</summary>
    Sum,

    /// <summary><c>x &amp; mask</c> with a huge-page mask.</summary>
    Masked,

    /// <summary>A parameter of the method, never written in it.</summary>
    Parameter,
}

/// <summary>One place an address is written in the source: the argument itself, or the value of one
/// write to the local the argument names.</summary>
internal sealed class AddressWrite
{
    public AddressWrite(IOperation value, IOperation? @base, IOperation? term)
    {
        Value = value;
        Base = @base;
        Term = term;
    }

    /// <summary>The address expression as written.</summary>
    public IOperation Value { get; }

    /// <summary><see cref="AddressShape.Sum"/>: the <c>x</c> of <c>x + length</c>; <see cref="AddressShape.Masked"/>: the masked operand.</summary>
    public IOperation? Base { get; }

    /// <summary><see cref="AddressShape.Sum"/>: the length operand as written; <see cref="AddressShape.Masked"/>: the mask operand.</summary>
    public IOperation? Term { get; }
}

/// <summary>An address value classified: its shape, its length or mask, and where it is written.</summary>
internal sealed class AddressForm
{
    public AddressForm(AddressShape shape, SizeTerm term, IParameterSymbol? parameter, ImmutableArray<AddressWrite> writes)
    {
        Shape = shape;
        Term = term;
        Parameter = parameter;
        Writes = writes;
    }

    public AddressShape Shape { get; }

    /// <summary>The length of a <see cref="AddressShape.Sum"/>, the mask of a <see cref="AddressShape.Masked"/>.</summary>
    public SizeTerm Term { get; }

    public IParameterSymbol? Parameter { get; }

    /// <summary>Every place the value is written (one, or one per write of the local it comes from); empty when a write is not understood.</summary>
    public ImmutableArray<AddressWrite> Writes { get; }

    /// <summary>An end address that adds a number of pages to a byte address (MMU007).</summary>
    public bool AddsPages => Shape == AddressShape.Sum && Term.Dimension == Dimension.Pages && Term.Size != HugeSize.None;

    /// <summary>An end address whose length is a huge page, in bytes or in pages (MMU008's candidates).</summary>
    public bool CoversHugePage => Shape == AddressShape.Sum && Term.Size != HugeSize.None && Term.Dimension is Dimension.Bytes or Dimension.Pages;

    public bool SameAs(AddressForm other) =>
        Shape == other.Shape && Term.SameAs(other.Term) && SymbolEqualityComparer.Default.Equals(Parameter, other.Parameter);
}

/// <summary>
/// The one place that classifies page arithmetic over <see cref="IOperation"/>: bytes, pages, orders
/// and masks of a compound / PMD / hugetlb page; "a number of pages added to an address"; "masked to
/// the huge page". Kernel.Mm's functions and consts are matched by symbol (<see cref="KnownSymbols"/>),
/// the consts as field references in the operation tree, never by their folded value. A local is
/// followed to its writes in the method (lambdas and local functions included): when every write
/// classifies the same, the local does; a write through <c>ref</c>/<c>out</c>, a compound assignment
/// or an increment makes it unknown. Rules read this; their policy stays in the rule files.
/// </summary>
internal static class RangeArithmetic
{
    private const int MaxDepth = 8;

    /// <summary>Classifies a size-like value.</summary>
    public static SizeTerm ClassifyTerm(IOperation operation, KnownSymbols symbols) =>
        Term(operation, symbols, new HashSet<ISymbol>(SymbolEqualityComparer.Default), 0);

    /// <summary>Classifies an address value (following locals to their writes).</summary>
    public static AddressForm ClassifyAddress(IOperation operation, KnownSymbols symbols) =>
        Addresses.GetOrCreate(operation, symbols, static (o, s) => Address(o, s, new HashSet<ISymbol>(SymbolEqualityComparer.Default), 0));

    /// <summary>True when <paramref name="mask"/> keeps the part of an address aligned to a huge page of
    /// <paramref name="length"/>: the same huge page (same page / hstate), or a PMD mask for a compound
    /// page (a THP is PMD sized).</summary>
    public static bool MaskFits(SizeTerm mask, SizeTerm length)
    {
        if (mask.Dimension != Dimension.Mask || mask.Size == HugeSize.None)
        {
            return false;
        }

        if (mask.Size == length.Size)
        {
            return mask.Size == HugeSize.Pmd || SameValue(mask.Subject, length.Subject);
        }

        return mask.Size == HugeSize.Pmd && length.Size == HugeSize.Compound;
    }

    /// <summary>Conversions (implicit and casts) do not change what a value counts.</summary>
    public static IOperation Strip(IOperation operation)
    {
        while (true)
        {
            switch (operation)
            {
                case IConversionOperation conversion when conversion.Operand is not null:
                    operation = conversion.Operand;
                    continue;
                case IParenthesizedOperation parenthesized when parenthesized.Operand is not null:
                    operation = parenthesized.Operand;
                    continue;
                default:
                    return operation;
            }
        }
    }

    /// <summary>The same value, as far as the syntax shows: the same local or parameter, the same member
    /// of the same value, or the same text.</summary>
    public static bool SameValue(IOperation? a, IOperation? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        a = Strip(a);
        b = Strip(b);
        switch (a, b)
        {
            case (ILocalReferenceOperation x, ILocalReferenceOperation y):
                return SymbolEqualityComparer.Default.Equals(x.Local, y.Local);
            case (IParameterReferenceOperation x, IParameterReferenceOperation y):
                return SymbolEqualityComparer.Default.Equals(x.Parameter, y.Parameter);
            case (IFieldReferenceOperation x, IFieldReferenceOperation y):
                return SymbolEqualityComparer.Default.Equals(x.Field, y.Field) && SameValue(x.Instance, y.Instance);
            case (IPropertyReferenceOperation x, IPropertyReferenceOperation y):
                return SymbolEqualityComparer.Default.Equals(x.Property, y.Property) && SameValue(x.Instance, y.Instance) && x.Arguments.IsEmpty && y.Arguments.IsEmpty;
            case (IInstanceReferenceOperation, IInstanceReferenceOperation):
                return true;
            default:
                return Normalize(a.Syntax.ToString()) == Normalize(b.Syntax.ToString())
                    && a.Kind is not (OperationKind.Invocation or OperationKind.Increment or OperationKind.SimpleAssignment or OperationKind.CompoundAssignment);
        }
    }

    /// <summary>The outermost operation above <paramref name="operation"/> (the method body).</summary>
    public static IOperation Root(IOperation operation)
    {
        while (operation.Parent is not null)
        {
            operation = operation.Parent;
        }

        return operation;
    }

    /// <summary>The values written to <paramref name="symbol"/> (a local or parameter) under
    /// <paramref name="root"/>; null when one write is not a plain assignment (ref/out, compound
    /// assignment, increment, deconstruction) or the symbol is a ref local.</summary>
    public static IReadOnlyList<IOperation>? Writes(ISymbol symbol, IOperation root)
    {
        if (symbol is ILocalSymbol { RefKind: not RefKind.None })
        {
            return null;
        }

        return IndexOf(root).Of(symbol);
    }

    private static WriteIndex IndexOf(IOperation root) =>
        WriteIndexes.TryGetValue(root, out var found) ? found : WriteIndexes.GetValue(root, static r => new WriteIndex(r));

    /// <summary>Every body's writes, indexed in one walk: the rules follow a local for each range call
    /// (MMU007 and MMU008 each classify every end), and a walk of the body per local was a fifth of
    /// their time.</summary>
    private static readonly ConditionalWeakTable<IOperation, WriteIndex> WriteIndexes = new();

    /// <summary>Each address classified once: MMU007 and MMU008 classify the same ends of the same
    /// operation tree (the driver's semantic model hands every rule the same one).</summary>
    private static readonly ConditionalWeakTable<IOperation, AddressForm> Addresses = new();

    private sealed class WriteIndex
    {
        private static readonly IReadOnlyList<IOperation> None = System.Array.Empty<IOperation>();
        private readonly Dictionary<ISymbol, List<IOperation>?> _writes = new(SymbolEqualityComparer.Default);

        public WriteIndex(IOperation root)
        {
            foreach (var operation in root.Descendants())
            {
                switch (operation)
                {
                    case IVariableDeclaratorOperation declarator:
                        if (declarator.GetVariableInitializer()?.Value is { } initial)
                        {
                            Add(declarator.Symbol, initial);
                        }

                        break;
                    case ILocalReferenceOperation local when IsWrite(operation, out var value):
                        Add(local.Local, value);
                        break;
                    case IParameterReferenceOperation parameter when IsWrite(operation, out var value):
                        Add(parameter.Parameter, value);
                        break;
                }
            }
        }

        public IReadOnlyList<IOperation>? Of(ISymbol symbol) =>
            _writes.TryGetValue(symbol, out var writes) ? writes : None;

        /// <summary>Whether anything writes <paramref name="symbol"/> (plainly or not).</summary>
        public bool IsWritten(ISymbol symbol) => _writes.ContainsKey(symbol);

        /// <summary>A write whose value is not plain (null) makes the symbol's writes unknown for good.</summary>
        private void Add(ISymbol symbol, IOperation? value)
        {
            if (!_writes.TryGetValue(symbol, out var writes))
            {
                _writes[symbol] = value is null ? null : new List<IOperation> { value };
            }
            else if (writes is not null)
            {
                if (value is null)
                {
                    _writes[symbol] = null;
                }
                else
                {
                    writes.Add(value);
                }
            }
        }
    }

    /// <summary>True when no write to <paramref name="parameter"/> can run before <paramref name="use"/>:
    /// every write comes later in the source and shares no loop with the use, and no <c>goto</c>
    /// jumps back to a label above the use. The use then reads the value the caller passed.</summary>
    public static bool HoldsEntryValue(IParameterSymbol parameter, IOperation use, IOperation root)
    {
        // Most parameters are never written: no walk for them.
        if (!IndexOf(root).IsWritten(parameter))
        {
            return true;
        }

        var sites = new List<IOperation>();
        var hasGoto = false;
        foreach (var operation in root.Descendants())
        {
            // A goto back to a label above the use can carry a later write to it; a forward goto, or
            // one back to a label below the use, cannot.
            if (operation is IBranchOperation { BranchKind: BranchKind.GoTo } branch
                && (branch.Target.Locations.Length == 0
                    || (branch.Target.Locations[0].SourceSpan.Start < branch.Syntax.SpanStart && branch.Target.Locations[0].SourceSpan.Start <= use.Syntax.SpanStart)))
            {
                hasGoto = true;
            }

            if (operation is IParameterReferenceOperation reference && SymbolEqualityComparer.Default.Equals(reference.Parameter, parameter)
                && IsWrite(operation, out _))
            {
                sites.Add(operation);
            }
        }

        if (sites.Count == 0)
        {
            return true;
        }

        if (hasGoto)
        {
            return false;
        }

        var useLoops = Loops(use);
        foreach (var site in sites)
        {
            if (site.Syntax.SpanStart <= use.Syntax.SpanStart || Loops(site).Overlaps(useLoops)
                || InFunction(site))
            {
                return false;
            }
        }

        return true;
    }

    private static bool InFunction(IOperation operation)
    {
        for (var current = operation.Parent; current is not null; current = current.Parent)
        {
            if (current is IAnonymousFunctionOperation or ILocalFunctionOperation)
            {
                return true;
            }
        }

        return false;
    }

    private static HashSet<IOperation> Loops(IOperation operation)
    {
        var loops = new HashSet<IOperation>();
        for (var current = operation.Parent; current is not null; current = current.Parent)
        {
            if (current is ILoopOperation)
            {
                loops.Add(current);
            }
        }

        return loops;
    }

    private static bool IsWrite(IOperation reference, out IOperation? value)
    {
        value = null;
        switch (reference.Parent)
        {
            case ISimpleAssignmentOperation assignment when assignment.Target == reference:
                value = assignment.IsRef ? null : assignment.Value;
                return true;
            case ICompoundAssignmentOperation compound when compound.Target == reference:
            case IIncrementOrDecrementOperation:
            case IDeconstructionAssignmentOperation:
            case ITupleOperation { Parent: IDeconstructionAssignmentOperation }:
                return true;
            case IArgumentOperation argument when argument.Parameter?.RefKind is RefKind.Ref or RefKind.Out:
                return true;
            case IDeclarationExpressionOperation:
                return true;
            default:
                return false;
        }
    }

    private static SizeTerm Term(IOperation operation, KnownSymbols symbols, HashSet<ISymbol> visiting, int depth)
    {
        if (depth > MaxDepth)
        {
            return SizeTerm.Unknown;
        }

        operation = Strip(operation);
        switch (operation)
        {
            case IInvocationOperation invocation:
                {
                    var method = invocation.TargetMethod;
                    var subject = invocation.Arguments.Length > 0 ? invocation.Arguments[0].Value : null;
                    if (KnownSymbols.Is(method, symbols.CompoundOrder))
                    {
                        return new SizeTerm(Dimension.Order, HugeSize.Compound, subject);
                    }

                    if (KnownSymbols.Is(method, symbols.CompoundNr))
                    {
                        return new SizeTerm(Dimension.Pages, HugeSize.Compound, subject);
                    }

                    if (KnownSymbols.Is(method, symbols.PageSizeOf))
                    {
                        return new SizeTerm(Dimension.Bytes, HugeSize.Compound, subject);
                    }

                    if (KnownSymbols.Is(method, symbols.HugePageOrder))
                    {
                        return new SizeTerm(Dimension.Order, HugeSize.HugeTlb, subject);
                    }

                    if (KnownSymbols.Is(method, symbols.PagesPerHugePage))
                    {
                        return new SizeTerm(Dimension.Pages, HugeSize.HugeTlb, subject);
                    }

                    if (KnownSymbols.Is(method, symbols.HugePageSize))
                    {
                        return new SizeTerm(Dimension.Bytes, HugeSize.HugeTlb, subject);
                    }

                    if (KnownSymbols.Is(method, symbols.HugePageMask))
                    {
                        return new SizeTerm(Dimension.Mask, HugeSize.HugeTlb, subject);
                    }

                    return SizeTerm.Unknown;
                }

            case IFieldReferenceOperation field:
                {
                    var f = field.Field.OriginalDefinition;
                    if (Is(f, symbols.HpagePmdOrder))
                    {
                        return new SizeTerm(Dimension.Order, HugeSize.Pmd, null);
                    }

                    if (Is(f, symbols.HpagePmdNr))
                    {
                        return new SizeTerm(Dimension.Pages, HugeSize.Pmd, null);
                    }

                    if (Is(f, symbols.HpagePmdSize))
                    {
                        return new SizeTerm(Dimension.Bytes, HugeSize.Pmd, null);
                    }

                    if (Is(f, symbols.HpagePmdMask))
                    {
                        return new SizeTerm(Dimension.Mask, HugeSize.Pmd, null);
                    }

                    return SizeTerm.Unknown;
                }

            case IBinaryOperation binary:
                return BinaryTerm(binary, symbols, visiting, depth);

            case IUnaryOperation { OperatorKind: UnaryOperatorKind.BitwiseNegation } negation:
                {
                    var inner = Term(negation.Operand, symbols, visiting, depth + 1);
                    return inner.Dimension switch
                    {
                        Dimension.OffsetMask => new SizeTerm(Dimension.Mask, inner.Size, inner.Subject),
                        Dimension.Mask => new SizeTerm(Dimension.OffsetMask, inner.Size, inner.Subject),
                        _ => SizeTerm.Unknown,
                    };
                }

            case ILocalReferenceOperation local:
                return Followed(local.Local, operation, symbols, visiting, depth, static (o, s, v, d) => Term(o, s, v, d), SizeTerm.Unknown, (a, b) => a.SameAs(b));

            default:
                return SizeTerm.Unknown;
        }
    }

    private static SizeTerm BinaryTerm(IBinaryOperation binary, KnownSymbols symbols, HashSet<ISymbol> visiting, int depth)
    {
        switch (binary.OperatorKind)
        {
            case BinaryOperatorKind.LeftShift:
                {
                    var left = Strip(binary.LeftOperand);
                    var right = Term(binary.RightOperand, symbols, visiting, depth + 1);
                    if (right.Dimension == Dimension.Order)
                    {
                        if (IsField(left, symbols.PageSizeField))
                        {
                            return new SizeTerm(Dimension.Bytes, right.Size, right.Subject);
                        }

                        if (left is ILiteralOperation && IsOne(left))
                        {
                            return new SizeTerm(Dimension.Pages, right.Size, right.Subject);
                        }

                        return SizeTerm.Unknown;
                    }

                    // nr << PAGE_SHIFT: pages to bytes.
                    var pages = Term(left, symbols, visiting, depth + 1);
                    return pages.Dimension == Dimension.Pages && IsField(Strip(binary.RightOperand), symbols.PageShiftField)
                        ? new SizeTerm(Dimension.Bytes, pages.Size, pages.Subject)
                        : SizeTerm.Unknown;
                }

            case BinaryOperatorKind.Multiply:
                {
                    // nr * PAGE_SIZE, PAGE_SIZE * nr.
                    var (pagesSide, other) = IsField(Strip(binary.RightOperand), symbols.PageSizeField)
                        ? (binary.LeftOperand, binary.RightOperand)
                        : (binary.RightOperand, binary.LeftOperand);
                    if (!IsField(Strip(other), symbols.PageSizeField))
                    {
                        return SizeTerm.Unknown;
                    }

                    var pages = Term(pagesSide, symbols, visiting, depth + 1);
                    return pages.Dimension == Dimension.Pages ? new SizeTerm(Dimension.Bytes, pages.Size, pages.Subject) : SizeTerm.Unknown;
                }

            case BinaryOperatorKind.Subtract:
                {
                    // size - 1: the offset bits.
                    var size = Term(binary.LeftOperand, symbols, visiting, depth + 1);
                    return size.Dimension == Dimension.Bytes && IsOne(Strip(binary.RightOperand))
                        ? new SizeTerm(Dimension.OffsetMask, size.Size, size.Subject)
                        : SizeTerm.Unknown;
                }

            default:
                return SizeTerm.Unknown;
        }
    }

    private static AddressForm Address(IOperation operation, KnownSymbols symbols, HashSet<ISymbol> visiting, int depth)
    {
        var written = operation;
        operation = Strip(operation);
        if (depth > MaxDepth)
        {
            return Unknown(written);
        }

        switch (operation)
        {
            case ILocalReferenceOperation local:
                return Followed(local.Local, operation, symbols, visiting, depth, static (o, s, v, d) => Address(o, s, v, d), Unknown(written), (a, b) => a.SameAs(b), merge: true);

            case IParameterReferenceOperation parameter:
                {
                    return parameter.Parameter.RefKind == RefKind.None && HoldsEntryValue(parameter.Parameter, operation, Root(operation))
                        ? new AddressForm(AddressShape.Parameter, SizeTerm.Unknown, parameter.Parameter, ImmutableArray.Create(new AddressWrite(written, null, null)))
                        : Unknown(written);
                }

            case IBinaryOperation { OperatorKind: BinaryOperatorKind.Add } add:
                {
                    var right = Term(add.RightOperand, symbols, visiting, depth + 1);
                    if (right.Size != HugeSize.None && right.Dimension is Dimension.Bytes or Dimension.Pages)
                    {
                        return new AddressForm(AddressShape.Sum, right, null, ImmutableArray.Create(new AddressWrite(written, add.LeftOperand, add.RightOperand)));
                    }

                    var left = Term(add.LeftOperand, symbols, visiting, depth + 1);
                    if (left.Size != HugeSize.None && left.Dimension is Dimension.Bytes or Dimension.Pages)
                    {
                        return new AddressForm(AddressShape.Sum, left, null, ImmutableArray.Create(new AddressWrite(written, add.RightOperand, add.LeftOperand)));
                    }

                    return Unknown(written);
                }

            case IBinaryOperation { OperatorKind: BinaryOperatorKind.And } and:
                {
                    var right = Term(and.RightOperand, symbols, visiting, depth + 1);
                    if (right.Dimension == Dimension.Mask && right.Size != HugeSize.None)
                    {
                        return new AddressForm(AddressShape.Masked, right, null, ImmutableArray.Create(new AddressWrite(written, and.LeftOperand, and.RightOperand)));
                    }

                    var left = Term(and.LeftOperand, symbols, visiting, depth + 1);
                    if (left.Dimension == Dimension.Mask && left.Size != HugeSize.None)
                    {
                        return new AddressForm(AddressShape.Masked, left, null, ImmutableArray.Create(new AddressWrite(written, and.RightOperand, and.LeftOperand)));
                    }

                    return Unknown(written);
                }

            default:
                return Unknown(written);
        }
    }

    private static AddressForm Unknown(IOperation written) =>
        new(AddressShape.Unknown, SizeTerm.Unknown, null, ImmutableArray.Create(new AddressWrite(written, null, null)));

    private static T Followed<T>(
        ILocalSymbol local,
        IOperation reference,
        KnownSymbols symbols,
        HashSet<ISymbol> visiting,
        int depth,
        System.Func<IOperation, KnownSymbols, HashSet<ISymbol>, int, T> classify,
        T unknown,
        System.Func<T, T, bool> same,
        bool merge = false)
        where T : class
    {
        if (!visiting.Add(local))
        {
            return unknown;
        }

        try
        {
            var writes = Writes(local, Root(reference));
            if (writes is null || writes.Count == 0)
            {
                return merge ? (T)(object)new AddressForm(AddressShape.Unknown, SizeTerm.Unknown, null, ImmutableArray<AddressWrite>.Empty) : unknown;
            }

            var forms = writes.Select(w => classify(w, symbols, visiting, depth + 1)).ToList();
            var first = forms[0];
            var allSame = forms.All(f => same(first, f));
            if (!merge)
            {
                return allSame ? first : unknown;
            }

            // Addresses: keep every write, so a rule can point at (and a fix rewrite) each of them.
            var addressForms = forms.Cast<AddressForm>().ToList();
            var all = addressForms.SelectMany(f => f.Writes).ToImmutableArray();
            var head = addressForms[0];
            return allSame
                ? (T)(object)new AddressForm(head.Shape, head.Term, head.Parameter, all)
                : (T)(object)new AddressForm(AddressShape.Unknown, SizeTerm.Unknown, null, all);
        }
        finally
        {
            visiting.Remove(local);
        }
    }

    private static bool Is(IFieldSymbol field, IFieldSymbol? known) =>
        known is not null && SymbolEqualityComparer.Default.Equals(field, known);

    private static bool IsField(IOperation operation, IFieldSymbol? known) =>
        operation is IFieldReferenceOperation field && Is(field.Field.OriginalDefinition, known);

    private static bool IsOne(IOperation operation)
    {
        if (!operation.ConstantValue.HasValue)
        {
            return false;
        }

        return operation.ConstantValue.Value switch
        {
            int i => i == 1,
            uint u => u == 1,
            long l => l == 1,
            ulong ul => ul == 1,
            _ => false,
        };
    }

    private static string Normalize(string text) =>
        new string(text.Where(c => !char.IsWhiteSpace(c)).ToArray());
}
