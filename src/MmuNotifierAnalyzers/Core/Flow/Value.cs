using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace MmuNotifierAnalyzers.Core.Flow;

/// <summary>What a <see cref="Value"/> stands for.</summary>
internal enum ValueKind
{
    /// <summary>A compile-time constant (<c>PAGE_SIZE</c>, <c>true</c>, <c>null</c>).</summary>
    Constant,

    /// <summary>A parameter's value on entry.</summary>
    Parameter,

    /// <summary>A local's value before any assignment.</summary>
    Initial,

    /// <summary>The method's receiver (<c>this</c>).</summary>
    This,

    /// <summary>A field or property read: <see cref="Value.Left"/> is the receiver (null when static),
    /// <see cref="Value.Right"/> the member's write version.</summary>
    Member,

    /// <summary><see cref="Value.Left"/> op <see cref="Value.Right"/>.</summary>
    Binary,

    /// <summary>op <see cref="Value.Left"/>.</summary>
    Unary,

    /// <summary>What one evaluation of an operation (a call, an object creation, ...) produced.</summary>
    Opaque,

    /// <summary>What a call stored into one of its <c>out</c>/<c>ref</c> arguments.</summary>
    OutArgument,

    /// <summary>Different values met at a join: identified by the variable and the block.</summary>
    Phi,

    /// <summary>A write of a field or property (the version of a member's value): <see cref="Value.Left"/>
    /// the receiver and <see cref="Value.Right"/> the value written, when known (<see cref="Value.Extra"/> 1).</summary>
    Write,

    /// <summary>A predicate call over argument values (payload: the method; <see cref="Value.Left"/>: the argument list).</summary>
    Call,
}

/// <summary>
/// A symbolic value: a value number that is equal for two expressions only when they provably
/// evaluate to the same value on that path (same parameter, same unchanged local, same constant,
/// same field of the same value with no write in between, same arithmetic over those).
/// Immutable, structurally compared, hash precomputed.
/// </summary>
internal sealed class Value : IEquatable<Value>
{
    private const int MaxDepth = 12;

    /// <summary><see cref="Extra"/> of a <see cref="ValueKind.Write"/> that carries its receiver and value.</summary>
    private const int KnowsWrittenValue = 1;

    private readonly int _hash;

    private Value(ValueKind kind, object? payload, int extra, Value? left, Value? right)
    {
        Kind = kind;
        Payload = payload;
        Extra = extra;
        Left = left;
        Right = right;
        Depth = 1 + Math.Max(left?.Depth ?? 0, right?.Depth ?? 0);
        unchecked
        {
            var h = (int)kind * 397;
            h = (h * 31) + (payload is ISymbol s ? SymbolEqualityComparer.Default.GetHashCode(s) : payload?.GetHashCode() ?? 0);
            h = (h * 31) + extra;
            h = (h * 31) + (left?._hash ?? 0);
            h = (h * 31) + (right?._hash ?? 0);
            _hash = h;
        }
    }

    public ValueKind Kind { get; }

    /// <summary>The constant, the symbol, or the operation that identifies the value.</summary>
    public object? Payload { get; }

    /// <summary>The operator kind (binary/unary), the block ordinal (phi), the parameter ordinal (out).</summary>
    public int Extra { get; }

    public Value? Left { get; }

    public Value? Right { get; }

    public int Depth { get; }

    public static Value Null { get; } = new(ValueKind.Constant, NullPayload.Instance, 0, null, null);

    public static Value True { get; } = new(ValueKind.Constant, true, 0, null, null);

    public static Value False { get; } = new(ValueKind.Constant, false, 0, null, null);

    public bool IsConstant => Kind == ValueKind.Constant;

    public bool IsNullConstant => Kind == ValueKind.Constant && Payload is NullPayload;

    public static Value Constant(object? value) => value switch
    {
        null => Null,
        true => True,
        false => False,
        _ => new Value(ValueKind.Constant, value, 0, null, null),
    };

    public static Value Parameter(IParameterSymbol parameter) => new(ValueKind.Parameter, parameter, 0, null, null);

    public static Value Initial(ISymbol local) => new(ValueKind.Initial, local, 0, null, null);

    public static Value ThisValue(ITypeSymbol? type) => new(ValueKind.This, type, 0, null, null);

    public static Value Opaque(IOperation operation) => new(ValueKind.Opaque, operation.Syntax, (int)operation.Kind, null, null);

    public static Value OutArgument(IOperation call, int parameterOrdinal) => new(ValueKind.OutArgument, call.Syntax, parameterOrdinal, null, null);

    public static Value Phi(object variable, int blockOrdinal) => new(ValueKind.Phi, variable, blockOrdinal, null, null);

    /// <summary>A write of a member: the version a later read sees. It remembers the receiver and
    /// the value written, so a read of the same member of the same receiver gives that value back
    /// (a lock stored through <c>out vmf.ptl</c> is the lock <c>vmf.ptl</c> releases).</summary>
    public static Value Write(IOperation write, Value? receiver, Value written) =>
        written.Depth >= MaxDepth || (receiver?.Depth ?? 0) >= MaxDepth
            ? new Value(ValueKind.Write, write.Syntax, 0, null, null)
            : new Value(ValueKind.Write, write.Syntax, KnowsWrittenValue, receiver, written);

    /// <summary>What a read of a member of <paramref name="receiver"/> gives under this version, or null.</summary>
    public Value? ReadBack(Value? receiver) =>
        Kind == ValueKind.Write && Extra == KnowsWrittenValue && Right is { } written && Equals(Left, receiver) ? written : null;

    public static Value Member(Value? receiver, ISymbol member, Value? version) =>
        new(ValueKind.Member, member, 0, receiver, version);

    /// <summary>Arithmetic over two values; beyond a small depth the result is opaque, so loops
    /// cannot grow values without bound.</summary>
    public static Value Binary(BinaryOperatorKind op, Value left, Value right, IOperation at)
    {
        if (left.Depth >= MaxDepth || right.Depth >= MaxDepth)
        {
            return Opaque(at);
        }

        return new Value(ValueKind.Binary, null, (int)op, left, right);
    }

    /// <summary>A call of a predicate over argument values (see <c>FlowAnalysis.IsPredicate</c>).</summary>
    public static Value Call(IMethodSymbol method, Value[] arguments, IOperation at)
    {
        Value? list = null;
        for (var i = arguments.Length - 1; i >= 0; i--)
        {
            if (arguments[i].Depth >= MaxDepth || (list?.Depth ?? 0) >= MaxDepth)
            {
                return Opaque(at);
            }

            list = new Value(ValueKind.Call, null, i, arguments[i], list);
        }

        return new Value(ValueKind.Call, method.OriginalDefinition, -1, list, null);
    }

    public static Value Unary(UnaryOperatorKind op, Value operand, IOperation at) =>
        operand.Depth >= MaxDepth ? Opaque(at) : new Value(ValueKind.Unary, null, (int)op, operand, null);

    public bool Equals(Value? other)
    {
        if (ReferenceEquals(this, other))
        {
            return true;
        }

        if (other is null || other._hash != _hash || other.Kind != Kind || other.Extra != Extra)
        {
            return false;
        }

        var samePayload = Payload is ISymbol s
            ? SymbolEqualityComparer.Default.Equals(s, other.Payload as ISymbol)
            : Equals(Payload, other.Payload);
        return samePayload && Equals(Left, other.Left) && Equals(Right, other.Right);
    }

    public override bool Equals(object? obj) => obj is Value v && Equals(v);

    public override int GetHashCode() => _hash;

    public override string ToString() => Kind switch
    {
        ValueKind.Constant => Payload is NullPayload ? "null" : Payload?.ToString() ?? "?",
        ValueKind.Parameter or ValueKind.Initial => ((ISymbol)Payload!).Name,
        ValueKind.This => "this",
        ValueKind.Member => (Left is null ? string.Empty : Left + ".") + ((ISymbol)Payload!).Name,
        ValueKind.Binary => "(" + Left + " " + (BinaryOperatorKind)Extra + " " + Right + ")",
        ValueKind.Unary => (UnaryOperatorKind)Extra + "(" + Left + ")",
        ValueKind.Phi => "phi(" + (Payload is ISymbol p ? p.Name : Payload) + "@" + Extra + ")",
        _ => Kind + "@" + (Payload is SyntaxNode n ? n.SpanStart.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?"),
    };

    /// <summary>Stands for <see langword="null"/> so constants can be compared with Equals.</summary>
    private sealed class NullPayload
    {
        public static readonly NullPayload Instance = new();

        public override int GetHashCode() => 17;

        public override bool Equals(object? obj) => obj is NullPayload;
    }
}
