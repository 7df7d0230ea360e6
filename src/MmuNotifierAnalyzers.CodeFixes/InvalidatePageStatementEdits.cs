using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Editing;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>
/// Statement-level edits collected first and applied to a <see cref="DocumentEditor"/> at once:
/// insertions before/after a statement, replacement, removal. A statement that is not in a
/// statement list (<c>if (x) return 0;</c>) becomes a block holding the inserted statements;
/// <c>label: return x;</c> becomes <c>label: inserted; return x;</c> so gotos to the label run them.
/// </summary>
internal sealed class StatementEdits
{
    private readonly Dictionary<StatementSyntax, Entry> _entries = new();

    public void Before(StatementSyntax statement, params StatementSyntax[] items) => Before(statement, items, first: false);

    public void Before(StatementSyntax statement, IEnumerable<StatementSyntax> items, bool first)
    {
        var list = Get(statement).Before;
        if (first)
        {
            list.InsertRange(0, items);
        }
        else
        {
            list.AddRange(items);
        }
    }

    public void After(StatementSyntax statement, params StatementSyntax[] items) => After(statement, items, first: false);

    public void After(StatementSyntax statement, IEnumerable<StatementSyntax> items, bool first)
    {
        var list = Get(statement).After;
        if (first)
        {
            list.InsertRange(0, items);
        }
        else
        {
            list.AddRange(items);
        }
    }

    public void Replace(StatementSyntax statement, StatementSyntax replacement) => ReplaceMany(statement, new[] { replacement });

    public void ReplaceMany(StatementSyntax statement, IReadOnlyList<StatementSyntax> replacement) => Get(statement).Replacement = replacement.ToList();

    public void Remove(StatementSyntax statement) => Get(statement).Remove = true;

    public bool Touches(StatementSyntax statement) => _entries.ContainsKey(statement);

    public void Apply(DocumentEditor editor)
    {
        // Deepest first, so a statement wrapped into a block later already carries the inner edits.
        foreach (var pair in _entries.OrderByDescending(p => p.Key.Ancestors().Count()))
        {
            Apply(editor, pair.Key, pair.Value);
        }
    }

    private static void Apply(DocumentEditor editor, StatementSyntax statement, Entry entry)
    {
        var inList = statement.Parent is BlockSyntax or SwitchSectionSyntax;
        if (!inList)
        {
            if (statement.Parent is LabeledStatementSyntax label && label.Parent is BlockSyntax or SwitchSectionSyntax
                && entry.Before.Count > 0 && entry.Replacement is null && !entry.Remove)
            {
                // label: first; rest...; statement; after...
                var first = entry.Before[0];
                editor.ReplaceNode(label, (current, _) => ((LabeledStatementSyntax)current).WithStatement(first));
                var rest = entry.Before.Skip(1).Concat(new[] { statement.WithoutLeadingTrivia() }).Concat(entry.After).ToList();
                editor.InsertAfter(label, rest);
                return;
            }

            editor.ReplaceNode(statement, (current, _) =>
            {
                var middle = entry.Remove ? Enumerable.Empty<StatementSyntax>() : entry.Replacement ?? (IEnumerable<StatementSyntax>)new[] { (StatementSyntax)current };
                var all = entry.Before.Concat(middle).Concat(entry.After).ToList();
                if (all.Count == 1 && entry.Replacement is not null)
                {
                    return all[0];
                }

                // The statement's own comments already travel inside the block (on the statement, or
                // on the replacement's first statement): the block must not repeat them.
                var commentsInside = all.Any(s => s.GetLeadingTrivia().Any(IsComment));
                var leading = commentsInside
                    ? SyntaxFactory.TriviaList(current.GetLeadingTrivia().Where(t => !IsComment(t) && !t.IsKind(SyntaxKind.EndOfLineTrivia)))
                    : current.GetLeadingTrivia();
                return SyntaxFactory.Block(all).WithLeadingTrivia(leading).WithTrailingTrivia(current.GetTrailingTrivia())
                    .WithAdditionalAnnotations(Microsoft.CodeAnalysis.Formatting.Formatter.Annotation);
            });
            return;
        }

        // Insertions first: once the statement is replaced or removed the editor no longer finds it
        // (an end after a replaced call that is the last statement under a lock never released).
        if (entry.Before.Count > 0)
        {
            editor.InsertBefore(statement, entry.Before);
        }

        if (entry.Remove)
        {
            if (entry.After.Count > 0)
            {
                if (entry.After.Count > 1)
                {
                    editor.InsertAfter(statement, entry.After.Skip(1));
                }

                editor.ReplaceNode(statement, entry.After[0]);
            }
            else
            {
                editor.RemoveNode(statement, SyntaxRemoveOptions.KeepUnbalancedDirectives);
            }

            return;
        }

        if (entry.After.Count > 0)
        {
            editor.InsertAfter(statement, entry.After);
        }

        if (entry.Replacement is { } replacement)
        {
            if (replacement.Count > 1)
            {
                editor.InsertBefore(statement, replacement.Take(replacement.Count - 1));
            }

            editor.ReplaceNode(statement, replacement[replacement.Count - 1]);
        }
    }

    private Entry Get(StatementSyntax statement)
    {
        if (!_entries.TryGetValue(statement, out var entry))
        {
            entry = new Entry();
            _entries.Add(statement, entry);
        }

        return entry;
    }

    private sealed class Entry
    {
        public List<StatementSyntax> Before { get; } = new();

        public List<StatementSyntax> After { get; } = new();

        public List<StatementSyntax>? Replacement { get; set; }

        public bool Remove { get; set; }
    }

    private static bool IsComment(SyntaxTrivia trivia) =>
        trivia.IsKind(SyntaxKind.SingleLineCommentTrivia) || trivia.IsKind(SyntaxKind.MultiLineCommentTrivia);
}
