using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace MmuNotifierAnalyzers.Benchmarks.Corpus;

/// <summary>
/// One corpus of control-flow shapes written twice: once in our dialect (a notifier range opened with
/// <c>mmu_notifier_invalidate_range_start</c> and closed with <c>_end</c>, work under a spinlock) and
/// once as <see cref="System.IDisposable"/> (a resource created with <c>new</c> and closed with
/// <c>Dispose()</c>, work under <c>Monitor</c>), for CA2000, the closest peer: a close on every path
/// over the same <c>ControlFlowGraph</c>. Both dialects come from the same statements, so the two
/// analyzers see the same graphs: early returns, gotos to a cleanup label, loops, try/finally,
/// correlated branches, switches and three-deep helper chains. One method in 20 drops a close on one
/// path (planted: MMU002 in ours, CA2000 in the other).
/// </summary>
internal static class SameShapeCorpusGenerator
{
    private const ulong Seed = 0x5341_4D45_5348_4150UL;
    private const int MethodsPerFile = 20;

    public enum Dialect
    {
        Notifier,
        Disposable,
    }

    private sealed record Words(string Open, string Declare, string Assign, string Close, string CloseCorrelated, string Lock, string Unlock, string Parameters, string Arguments);

    private static readonly Words NotifierWords = new(
        Open: "mmu_notifier_invalidate_range_start(mm, start, end);",
        Declare: "ulong opened = start;",
        Assign: "mmu_notifier_invalidate_range_start(mm, opened, end);",
        Close: "mmu_notifier_invalidate_range_end(mm, start, end);",
        CloseCorrelated: "mmu_notifier_invalidate_range_end(mm, opened, end);",
        Lock: "spin_lock(mm.page_table_lock);",
        Unlock: "spin_unlock(mm.page_table_lock);",
        Parameters: "mm_struct mm, ulong start, ulong end",
        Arguments: "mm, start, end");

    private static readonly Words DisposableWords = new(
        Open: "var r = new Resource(start, end);",
        Declare: "Resource? r = null;",
        Assign: "r = new Resource(start, end);",
        Close: "r.Dispose();",
        CloseCorrelated: "r!.Dispose();",
        Lock: "Monitor.Enter(gate);",
        Unlock: "Monitor.Exit(gate);",
        Parameters: "object gate, ulong start, ulong end",
        Arguments: "gate, start, end");

    /// <summary>The shapes, each a method; <see cref="Emit"/> writes one.</summary>
    private const int Shapes = 7;

    public static GeneratedCorpus Generate(int files, Dialect dialect)
    {
        var words = dialect == Dialect.Notifier ? NotifierWords : DisposableWords;
        string rule = dialect == Dialect.Notifier ? "MMU002" : "CA2000";
        var list = new List<CorpusFile>(files + 1);
        var defects = new List<PlantedDefect>();
        int functions = 0;
        if (dialect == Dialect.Disposable)
        {
            list.Add(new CorpusFile("shapes/Resource.cs", """
                using System;

                namespace Shapes;

                public sealed class Resource : IDisposable
                {
                    private readonly ulong _start;

                    public Resource(ulong start, ulong end) => _start = start ^ end;

                    public void Dispose() { }

                    public override string ToString() => _start.ToString();
                }

                """));
        }

        for (int i = 0; i < files; i++)
        {
            var random = CorpusRandom.ForFile(Seed, i);
            string type = "Shapes" + i.ToString("0000", CultureInfo.InvariantCulture);
            string path = "shapes/" + type + ".cs";
            var text = new StringBuilder();
            text.AppendLine(dialect == Dialect.Notifier ? "using Kernel.Mm;\nusing static Kernel.Mm.Linux;" : "using System;\nusing System.Threading;");
            text.AppendLine();
            text.AppendLine("namespace Shapes;");
            text.AppendLine();
            text.AppendLine("public static class " + type);
            text.AppendLine("{");
            for (int m = 0; m < MethodsPerFile; m++)
            {
                // Which shape and which defect depend on the file and method only, not on the dialect.
                int shape = random.Next(Shapes);
                bool defect = random.Next(20) == 0;
                string name = "f" + m.ToString(CultureInfo.InvariantCulture);
                functions += Emit(text, words, shape, name, defect);
                if (defect)
                {
                    defects.Add(new PlantedDefect(path, name, rule, 1, "shape " + shape.ToString(CultureInfo.InvariantCulture)));
                }
            }

            text.AppendLine("}");
            list.Add(new CorpusFile(path, text.ToString()));
        }

        return new GeneratedCorpus(list, defects, functions);
    }

    /// <summary>Writes method <paramref name="name"/> of shape <paramref name="shape"/> (and its helpers);
    /// returns the number of methods written.</summary>
    private static int Emit(StringBuilder t, Words w, int shape, string name, bool defect)
    {
        string work = "        " + w.Lock + " k += (int)(start & 7); " + w.Unlock;
        t.AppendLine("    public static int " + name + "(" + w.Parameters + ", int k, bool c1, bool c2)");
        t.AppendLine("    {");
        int methods = 1;
        switch (shape)
        {
            case 0: // early return
                t.AppendLine("        " + w.Open);
                t.AppendLine("        if (c1)");
                t.AppendLine("        {");
                if (!defect)
                {
                    t.AppendLine("            " + w.Close);
                }

                t.AppendLine("            return k;");
                t.AppendLine("        }");
                t.AppendLine(work);
                t.AppendLine("        " + w.Close);
                t.AppendLine("        return k;");
                break;
            case 1: // gotos to a cleanup label (hugetlb_cow's shape when one skips it)
                t.AppendLine("        " + w.Open);
                t.AppendLine("        if (c1) goto out_release;");
                t.AppendLine(work);
                t.AppendLine(defect ? "        if (c2) return -1;" : "        if (c2) goto out_release;");
                t.AppendLine(work);
                t.AppendLine("    out_release:");
                t.AppendLine("        " + w.Close);
                t.AppendLine("        return k;");
                break;
            case 2: // a bracket per iteration
                t.AppendLine("        for (int i = 0; i < 8; i++)");
                t.AppendLine("        {");
                t.AppendLine("            " + w.Open);
                t.AppendLine("    " + work);
                t.AppendLine(defect ? "            if (c2 && i == k) break;" : "            if (c2 && i == k) { " + w.Close + " break; }");
                t.AppendLine("            " + w.Close);
                t.AppendLine("        }");
                t.AppendLine("        return k;");
                break;
            case 3: // try/finally
                t.AppendLine("        " + w.Open);
                if (defect)
                {
                    t.AppendLine(work);
                    t.AppendLine("        if (c1) return k;");
                    t.AppendLine("        " + w.Close);
                }
                else
                {
                    t.AppendLine("        try");
                    t.AppendLine("        {");
                    t.AppendLine("    " + work);
                    t.AppendLine("            if (c1) return k;");
                    t.AppendLine("        }");
                    t.AppendLine("        finally");
                    t.AppendLine("        {");
                    t.AppendLine("            " + w.Close);
                    t.AppendLine("        }");
                }

                t.AppendLine("        return k;");
                break;
            case 4: // correlated branches: opened only when c1, closed only when c1
                t.AppendLine("        " + w.Declare);
                t.AppendLine("        if (c1) { " + w.Assign + " }");
                t.AppendLine(work);
                t.AppendLine(defect ? "        if (c1 && c2) { " + w.CloseCorrelated + " }" : "        if (c1) { " + w.CloseCorrelated + " }");
                t.AppendLine("        return k;");
                break;
            case 5: // switch
                t.AppendLine("        " + w.Open);
                t.AppendLine("        switch (k & 3)");
                t.AppendLine("        {");
                t.AppendLine("            case 0:");
                t.AppendLine("        " + work);
                t.AppendLine("                break;");
                t.AppendLine("            case 1:");
                if (!defect)
                {
                    t.AppendLine("                " + w.Close);
                }

                t.AppendLine("                return k;");
                t.AppendLine("            default:");
                t.AppendLine("                k++;");
                t.AppendLine("                break;");
                t.AppendLine("        }");
                t.AppendLine("        " + w.Close);
                t.AppendLine("        return k;");
                break;
            default: // a three-deep helper chain called inside the bracket
                t.AppendLine("        " + w.Open);
                t.AppendLine(defect ? "        if (" + name + "_a(" + w.Arguments + ", k) < 0) return -1;" : "        k += " + name + "_a(" + w.Arguments + ", k);");
                t.AppendLine("        " + w.Close);
                t.AppendLine("        return k;");
                t.AppendLine("    }");
                t.AppendLine();
                t.AppendLine("    private static int " + name + "_a(" + w.Parameters + ", int k) => " + name + "_b(" + w.Arguments + ", k + 1);");
                t.AppendLine();
                t.AppendLine("    private static int " + name + "_b(" + w.Parameters + ", int k) => " + name + "_c(" + w.Arguments + ", k * 2);");
                t.AppendLine();
                t.AppendLine("    private static int " + name + "_c(" + w.Parameters + ", int k)");
                t.AppendLine("    {");
                t.AppendLine(work);
                t.AppendLine("        return k;");
                methods += 3;
                break;
        }

        t.AppendLine("    }");
        t.AppendLine();
        return methods;
    }
}
