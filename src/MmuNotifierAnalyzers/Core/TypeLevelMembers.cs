using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace MmuNotifierAnalyzers.Core;

/// <summary>What kind of type-level member a <see cref="TypeLevelMember"/> is.</summary>
internal enum TypeLevelMemberKind
{
    Method,
    Property,
    Field,
    EventField,
    Delegate,
}

/// <summary>
/// A member declared at type level (in a namespace or a type, not in a body), as the name
/// pre-checks read it: its names, the rightmost names of the types written in it (a method's
/// parameter types, a property's or field's type) and of its attributes.
/// </summary>
internal sealed class TypeLevelMember
{
    public TypeLevelMember(TypeLevelMemberKind kind, string[] names, string[] typeNames, string[] attributes)
    {
        Kind = kind;
        Names = names;
        TypeNames = typeNames;
        Attributes = attributes;
    }

    public TypeLevelMemberKind Kind { get; }

    /// <summary>The identifier, or a field's variables.</summary>
    public string[] Names { get; }

    /// <summary>The rightmost names of a method's parameter types, or of a property's or field's type.</summary>
    public string[] TypeNames { get; }

    /// <summary>The rightmost names of its attributes, as written.</summary>
    public string[] Attributes { get; }

    /// <summary>Whether an attribute of the member is written as <paramref name="annotation"/>
    /// (<c>FooAttribute</c>), with or without its suffix.</summary>
    public bool HasAttribute(string annotation)
    {
        foreach (var written in Attributes)
        {
            if (Annotations.IsSpelling(written, annotation))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// The type-level members of a file, in document order, read once and kept with its tree. Every
/// compilation gathers from them which of its methods carry an annotation, or take an atomic
/// callback's type (<see cref="BodyRelevance"/>, <see cref="Sleep.AtomicCallbacks"/>): an editor
/// forks the compilation at every keystroke, and walking every file's declarations again cost
/// each of those gatherings about 2 ms on the 4x corpus.
/// </summary>
internal static class TypeLevelMembers
{
    private static readonly ConditionalWeakTable<SyntaxTree, List<TypeLevelMember>> Files = new();

    public static List<TypeLevelMember> Of(SyntaxTree tree, CancellationToken cancellationToken) =>
        Files.GetOrCreate(tree, cancellationToken, static (t, c) => Read(t, c));

    private static List<TypeLevelMember> Read(SyntaxTree tree, CancellationToken cancellationToken)
    {
        var members = new List<TypeLevelMember>();
        foreach (var node in tree.GetRoot(cancellationToken).DescendantNodes(n => n is CompilationUnitSyntax or BaseNamespaceDeclarationSyntax or TypeDeclarationSyntax))
        {
            switch (node)
            {
                case MethodDeclarationSyntax method:
                    {
                        var types = new List<string>();
                        foreach (var parameter in method.ParameterList.Parameters)
                        {
                            if (parameter.Type is { } type)
                            {
                                types.Add(Annotations.RightmostName(type));
                            }
                        }

                        members.Add(new TypeLevelMember(TypeLevelMemberKind.Method, [method.Identifier.ValueText], types.ToArray(), AttributeNames(method.AttributeLists)));
                        break;
                    }

                case PropertyDeclarationSyntax property:
                    members.Add(new TypeLevelMember(TypeLevelMemberKind.Property, [property.Identifier.ValueText], [Annotations.RightmostName(property.Type)], AttributeNames(property.AttributeLists)));
                    break;

                case BaseFieldDeclarationSyntax field:
                    {
                        var names = new string[field.Declaration.Variables.Count];
                        for (int i = 0; i < names.Length; i++)
                        {
                            names[i] = field.Declaration.Variables[i].Identifier.ValueText;
                        }

                        var kind = field is FieldDeclarationSyntax ? TypeLevelMemberKind.Field : TypeLevelMemberKind.EventField;
                        members.Add(new TypeLevelMember(kind, names, [Annotations.RightmostName(field.Declaration.Type)], AttributeNames(field.AttributeLists)));
                        break;
                    }

                case DelegateDeclarationSyntax declaration:
                    members.Add(new TypeLevelMember(TypeLevelMemberKind.Delegate, [declaration.Identifier.ValueText], [], AttributeNames(declaration.AttributeLists)));
                    break;
            }
        }

        return members;
    }

    private static string[] AttributeNames(SyntaxList<AttributeListSyntax> lists)
    {
        if (lists.Count == 0)
        {
            return [];
        }

        var names = new List<string>();
        foreach (var list in lists)
        {
            foreach (var attribute in list.Attributes)
            {
                names.Add(Annotations.RightmostName(attribute.Name));
            }
        }

        return names.ToArray();
    }
}
