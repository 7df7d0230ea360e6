using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace MmuNotifierAnalyzers.Benchmarks.Corpus;

/// <summary>
/// C# of an operating system's other subsystems: compiled with <c>Kernel.Mm</c> referenced (so the
/// analyzers wake up) and <c>using Kernel.Mm</c> in every file, but never calling the notifier, range
/// or lock API: schedulers, file tables, device registries, parsers — loops, LINQ and lambdas,
/// switches, try/finally, local functions, properties, dictionaries. What issue #11 calls ordinary
/// code: there the analyzers must cost what a do-nothing analyzer costs the driver, and nothing more.
/// </summary>
internal static class OrdinaryCorpusGenerator
{
    private const ulong Seed = 0x4F5244494E415259UL;

    public static GeneratedCorpus Generate(int files)
    {
        var list = new List<CorpusFile>(files);
        int functions = 0;
        for (int i = 0; i < files; i++)
        {
            var random = CorpusRandom.ForFile(Seed, i);
            var text = new StringBuilder();
            text.AppendLine("using System;");
            text.AppendLine("using System.Collections.Generic;");
            text.AppendLine("using System.Linq;");
            text.AppendLine("using System.Text;");
            text.AppendLine("using Kernel.Mm;");
            text.AppendLine();
            text.AppendLine("namespace Ordinary.Subsystem" + (i % 17).ToString(CultureInfo.InvariantCulture) + ";");
            text.AppendLine();
            string type = "Subsystem" + i.ToString(CultureInfo.InvariantCulture);
            text.AppendLine("public sealed class " + type + " : IDisposable");
            text.AppendLine("{");
            text.AppendLine("    private readonly Dictionary<int, string> _names = new();");
            text.AppendLine("    private readonly List<long> _samples = new();");
            text.AppendLine("    private readonly object _gate = new();");
            text.AppendLine("    private int _state;");
            text.AppendLine();
            text.AppendLine("    public int Count => _names.Count;");
            text.AppendLine("    public string Name { get; init; } = \"" + type + "\";");
            text.AppendLine("    public page? Cached { get; set; }");
            text.AppendLine();
            int methods = 10 + random.Next(6);
            for (int m = 0; m < methods; m++)
            {
                AppendMethod(text, random, m);
                functions++;
            }

            text.AppendLine("    public void Dispose() => _names.Clear();");
            text.AppendLine("}");
            list.Add(new CorpusFile("ordinary/" + type + ".cs", text.ToString()));
        }

        return new GeneratedCorpus(list, new List<PlantedDefect>(), functions);
    }

    private static void AppendMethod(StringBuilder text, CorpusRandom random, int m)
    {
        string n = m.ToString(CultureInfo.InvariantCulture);
        switch (random.Next(6))
        {
            case 0:
                text.AppendLine("    public int Schedule" + n + "(IReadOnlyList<int> queue, int budget)");
                text.AppendLine("    {");
                text.AppendLine("        int used = 0;");
                text.AppendLine("        for (int i = 0; i < queue.Count && used < budget; i++)");
                text.AppendLine("        {");
                text.AppendLine("            if (queue[i] < 0) { continue; }");
                text.AppendLine("            used += queue[i] % 7 == 0 ? 2 : 1;");
                text.AppendLine("            if (used > budget / 2 && _state == " + n + ") { _state++; break; }");
                text.AppendLine("        }");
                text.AppendLine("        return used;");
                text.AppendLine("    }");
                break;
            case 1:
                text.AppendLine("    public string Describe" + n + "(IEnumerable<int> ids)");
                text.AppendLine("    {");
                text.AppendLine("        var known = ids.Where(id => _names.ContainsKey(id)).Select(id => _names[id]).OrderBy(s => s, StringComparer.Ordinal).ToList();");
                text.AppendLine("        var builder = new StringBuilder();");
                text.AppendLine("        foreach (var name in known) { builder.Append(name).Append(','); }");
                text.AppendLine("        return builder.Length == 0 ? \"none\" : builder.ToString(0, builder.Length - 1);");
                text.AppendLine("    }");
                break;
            case 2:
                text.AppendLine("    public long Sample" + n + "(long value)");
                text.AppendLine("    {");
                text.AppendLine("        lock (_gate)");
                text.AppendLine("        {");
                text.AppendLine("            try");
                text.AppendLine("            {");
                text.AppendLine("                _samples.Add(value);");
                text.AppendLine("                return _samples.Count > 64 ? _samples.Skip(_samples.Count - 64).Sum() : _samples.Sum();");
                text.AppendLine("            }");
                text.AppendLine("            finally");
                text.AppendLine("            {");
                text.AppendLine("                if (_samples.Count > 1024) { _samples.RemoveRange(0, 512); }");
                text.AppendLine("            }");
                text.AppendLine("        }");
                text.AppendLine("    }");
                break;
            case 3:
                text.AppendLine("    public int Parse" + n + "(string line)");
                text.AppendLine("    {");
                text.AppendLine("        int Digit(char c) => c is >= '0' and <= '9' ? c - '0' : -1;");
                text.AppendLine("        int total = 0;");
                text.AppendLine("        foreach (var c in line)");
                text.AppendLine("        {");
                text.AppendLine("            var d = Digit(c);");
                text.AppendLine("            if (d < 0) { if (c == '#') { goto done; } continue; }");
                text.AppendLine("            total = checked(total * 10 + d);");
                text.AppendLine("        }");
                text.AppendLine("    done:");
                text.AppendLine("        return total;");
                text.AppendLine("    }");
                break;
            case 4:
                text.AppendLine("    public string Classify" + n + "(int code) => code switch");
                text.AppendLine("    {");
                text.AppendLine("        < 0 => throw new ArgumentOutOfRangeException(nameof(code)),");
                text.AppendLine("        0 => \"idle\",");
                text.AppendLine("        < 100 => _names.TryGetValue(code, out var name) ? name : \"user\",");
                text.AppendLine("        _ => \"system\",");
                text.AppendLine("    };");
                break;
            default:
                text.AppendLine("    public bool Register" + n + "(int id, string name)");
                text.AppendLine("    {");
                text.AppendLine("        if (string.IsNullOrEmpty(name) || _names.ContainsKey(id)) { return false; }");
                text.AppendLine("        _names[id] = name.Trim();");
                text.AppendLine("        Cached = null;");
                text.AppendLine("        var handlers = new List<Func<int, bool>> { x => x > id, x => x % 2 == 0 };");
                text.AppendLine("        return handlers.All(h => h(id + 1)) || _names.Count % 3 == 0;");
                text.AppendLine("    }");
                break;
        }

        text.AppendLine();
    }
}
