using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// The line ending new statements get: the document's own. The formatter does not rewrite the
/// end-of-line trivia a fix attaches, so SyntaxFactory's CRLF default leaked into LF files under
/// <c>dotnet format</c>.
/// </summary>
internal static class LineEndings
{
    public static SyntaxTrivia Of(SyntaxNode node)
    {
        var existing = node.SyntaxTree.GetRoot().DescendantTrivia().FirstOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia));
        return SyntaxFactory.ElasticEndOfLine(existing.IsKind(SyntaxKind.EndOfLineTrivia) ? existing.ToString() : "\n");
    }
}
