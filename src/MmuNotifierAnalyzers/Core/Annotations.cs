using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace MmuNotifierAnalyzers.Core;

/// <summary>
/// Reads the annotation attributes by full name (namespace + type name), so a kernel that
/// declares its own copies of the attributes is understood like one that references ours.
/// </summary>
internal static class Annotations
{
    public const string MaySleep = "MaySleepAttribute";
    public const string NeverSleeps = "NeverSleepsAttribute";
    public const string AtomicContext = "AtomicContextAttribute";
    public const string AcquiresLock = "AcquiresLockAttribute";
    public const string ReleasesLock = "ReleasesLockAttribute";
    public const string MustHoldLock = "MustHoldLockAttribute";
    public const string OpensInvalidationRange = "OpensInvalidationRangeAttribute";
    public const string ClosesInvalidationRange = "ClosesInvalidationRangeAttribute";
    public const string ReleasesPage = "ReleasesPageAttribute";
    public const string SequenceRead = "SequenceReadAttribute";
    public const string SequenceRetryCheck = "SequenceRetryCheckAttribute";
    public const string EstablishesSecondaryMapping = "EstablishesSecondaryMappingAttribute";
    public const string LooksUpPages = "LooksUpPagesAttribute";

    public static readonly ImmutableArray<string> All = ImmutableArray.Create(
        MaySleep, NeverSleeps, AtomicContext, AcquiresLock, ReleasesLock, MustHoldLock, OpensInvalidationRange, ClosesInvalidationRange,
        ReleasesPage, SequenceRead, SequenceRetryCheck, EstablishesSecondaryMapping, LooksUpPages);

    /// <summary>Adds the two ways source can spell <paramref name="annotation"/>: with and without the <c>Attribute</c> suffix.</summary>
    public static void AddSpellings(ISet<string> names, string annotation)
    {
        names.Add(annotation);
        names.Add(annotation.Substring(0, annotation.Length - "Attribute".Length));
    }

    public static bool IsAnnotation(AttributeData attribute, string name)
    {
        var type = attribute.AttributeClass;
        return type is not null
            && type.Name == name
            && IsAnnotationsNamespace(type.ContainingNamespace);
    }

    public static bool Has(ISymbol? symbol, string name) => Find(symbol, name) is not null;

    public static AttributeData? Find(ISymbol? symbol, string name)
    {
        if (symbol is null)
        {
            return null;
        }

        foreach (var attribute in symbol.GetAttributes())
        {
            if (IsAnnotation(attribute, name))
            {
                return attribute;
            }
        }

        return null;
    }

    /// <summary>The value of a named property set on the attribute, or <paramref name="fallback"/>.</summary>
    public static string? NamedString(AttributeData attribute, string property, string? fallback)
    {
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Key == property)
            {
                return pair.Value.Value as string ?? fallback;
            }
        }

        return fallback;
    }

    /// <summary>The value of a named bool property set on the attribute, or false.</summary>
    public static bool NamedBool(AttributeData attribute, string property)
    {
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Key == property)
            {
                return pair.Value.Value is true;
            }
        }

        return false;
    }

    /// <summary>The first constructor argument as a string (the lock expression), or null.</summary>
    public static string? CtorString(AttributeData attribute) =>
        attribute.ConstructorArguments.Length > 0 ? attribute.ConstructorArguments[0].Value as string : null;

    /// <summary>The <c>When</c> property of <c>[AcquiresLock]</c>: 0 always, 1 when the return
    /// is not null, 2 when it is true.</summary>
    /// <summary>The <c>When</c> of an <c>[AcquiresLock]</c> (a <c>LockAcquisition</c>, whose values
    /// <see cref="Flow.LockCondition"/> mirrors).</summary>
    public static Flow.LockCondition AcquisitionCondition(AttributeData attribute)
    {
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Key == "When" && pair.Value.Value is int value && System.Enum.IsDefined(typeof(Flow.LockCondition), value))
            {
                return (Flow.LockCondition)value;
            }
        }

        return Flow.LockCondition.None;
    }

    /// <summary>Whether one of <paramref name="lists"/> names the annotation <paramref name="name"/>
    /// (with or without its <c>Attribute</c> suffix): a syntactic pre-check, before any binding.</summary>
    public static bool IsNamedInSyntax(SyntaxList<AttributeListSyntax> lists, string name)
    {
        foreach (var list in lists)
        {
            foreach (var attribute in list.Attributes)
            {
                if (IsSpelling(RightmostName(attribute.Name), name))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Whether an attribute written <paramref name="written"/> (its rightmost name) names
    /// <paramref name="annotation"/>, with or without the <c>Attribute</c> suffix.</summary>
    public static bool IsSpelling(string written, string annotation) =>
        written == annotation || (written.Length == annotation.Length - "Attribute".Length && annotation.StartsWith(written, System.StringComparison.Ordinal));

    /// <summary>The last identifier of a written type or attribute name (<c>A.B.C</c> → <c>C</c>, <c>T?</c> → <c>T</c>).</summary>
    public static string RightmostName(TypeSyntax type) => type switch
    {
        QualifiedNameSyntax qualified => qualified.Right.Identifier.ValueText,
        AliasQualifiedNameSyntax alias => alias.Name.Identifier.ValueText,
        SimpleNameSyntax simple => simple.Identifier.ValueText,
        NullableTypeSyntax nullable => RightmostName(nullable.ElementType),
        _ => string.Empty,
    };

    private static bool IsAnnotationsNamespace(INamespaceSymbol? ns) =>
        ns is { Name: "Annotations" }
        && ns.ContainingNamespace is { Name: "MmuNotifierAnalyzers" } parent
        && parent.ContainingNamespace is { IsGlobalNamespace: true };
}
