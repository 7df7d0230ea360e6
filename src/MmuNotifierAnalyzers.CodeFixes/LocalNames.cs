using System.Collections.Generic;
using System.Globalization;

namespace MmuNotifierAnalyzers.CodeFixes;

/// <summary>The names the fixes give the locals and labels they write.</summary>
internal static class LocalNames
{
    /// <summary>
    /// <paramref name="name"/> for <paramref name="rank"/> 1, <c>name2</c> for 2, and so on; the next
    /// free one when that is taken. The name is added to <paramref name="taken"/>.
    /// </summary>
    public static string Fresh(string name, HashSet<string> taken, int rank = 1)
    {
        string Numbered(int i) => i == 1 ? name : name + i.ToString(CultureInfo.InvariantCulture);
        var i = rank;
        while (taken.Contains(Numbered(i)))
        {
            i++;
        }

        taken.Add(Numbered(i));
        return Numbered(i);
    }
}
