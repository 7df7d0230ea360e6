using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;
using Kernel.Mm;
using MmuNotifierAnalyzers;
using Xunit;

namespace Kernel.Mm.Tests.Core;

/// <summary>
/// Every analyzer rule id has a runtime twin and a twin test. The ids are read from the shared
/// list (RuleIdentifiers, compiled into Kernel.Mm); a twin is a method of Kernel.Mm whose IL loads
/// the id and calls <see cref="MmRuntime.Report(string, string)"/> (found by reading the IL, so a
/// twin deleted or reporting under another id is noticed); a twin test is a test method marked
/// <see cref="TwinOfAttribute"/> with the id.
/// </summary>
public class TwinRegistryTests
{
    private static readonly Assembly Runtime = typeof(MmRuntime).Assembly;

    /// <summary>The analyzer rule ids (MMU0xx); the MMU9xx ids name configuration problems, not code.</summary>
    public static TheoryData<string> RuleIds()
    {
        var data = new TheoryData<string>();
        foreach (var id in AllRuleIds())
        {
            data.Add(id);
        }

        return data;
    }

    [Fact]
    public void The_shared_list_is_where_the_ids_come_from()
    {
        // Guards the scan below from passing on an empty list.
        Assert.Contains(RuleIdentifiers.InvalidatePageRemoved, AllRuleIds());
        Assert.Contains(RuleIdentifiers.RegistrationMisuse, AllRuleIds());
        Assert.DoesNotContain(RuleIdentifiers.InvalidConfiguration, AllRuleIds());
    }

    [Theory]
    [MemberData(nameof(RuleIds))]
    public void Every_rule_id_has_a_runtime_twin_that_reports_it(string id)
    {
        var sites = ReportSites().Where(s => s.Ids.Contains(id)).Select(s => s.Method).ToArray();
        Assert.True(sites.Length > 0, $"no method of Kernel.Mm loads \"{id}\" and calls MmRuntime.Report: {id} has no runtime twin");
    }

    [Theory]
    [MemberData(nameof(RuleIds))]
    public void Every_rule_id_has_a_twin_test(string id)
    {
        var tests = typeof(TwinRegistryTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(m => m.GetCustomAttributes<TwinOfAttribute>().Any(a => a.RuleId == id)
                && m.GetCustomAttributes().Any(a => a is FactAttribute))
            .Select(m => m.DeclaringType!.Name + "." + m.Name)
            .ToArray();
        Assert.True(tests.Length > 0, $"no [Fact]/[Theory] marked [TwinOf(\"{id}\")]: the twin of {id} is not tested");
    }

    [Fact]
    public void Every_twin_test_names_a_rule_id()
    {
        var ids = AllRuleIds();
        var unknown = typeof(TwinRegistryTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .SelectMany(m => m.GetCustomAttributes<TwinOfAttribute>().Select(a => (m.Name, a.RuleId)))
            .Where(x => !ids.Contains(x.RuleId))
            .ToArray();
        Assert.Empty(unknown);
    }

    private static HashSet<string> AllRuleIds() =>
        typeof(RuleIdentifiers).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .Where(id => id.StartsWith("MMU0", StringComparison.Ordinal))
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>Each method of Kernel.Mm that calls MmRuntime.Report, with the rule ids its IL loads.</summary>
    private static IEnumerable<(string Method, HashSet<string> Ids)> ReportSites()
    {
        var ids = AllRuleIds();
        var report = typeof(MmRuntime).GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Where(m => m.Name == nameof(MmRuntime.Report))
            .ToHashSet();
        Assert.NotEmpty(report);
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        foreach (var type in Runtime.GetTypes())
        {
            foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
            {
                var body = method.GetMethodBody()?.GetILAsByteArray();
                if (body is null)
                {
                    continue;
                }

                var loaded = new HashSet<string>(StringComparer.Ordinal);
                bool reports = false;
                foreach (var (op, token) in Instructions(body))
                {
                    if (op == OpCodes.Ldstr && method.Module.ResolveString(token) is { } s && ids.Contains(s))
                    {
                        loaded.Add(s);
                    }
                    else if ((op == OpCodes.Call || op == OpCodes.Callvirt)
                        && Resolve(method, token) is MethodInfo callee && report.Contains(callee))
                    {
                        reports = true;
                    }
                }

                if (reports && loaded.Count > 0)
                {
                    yield return (type.Name + "." + method.Name, loaded);
                }
            }
        }
    }

    private static MethodBase? Resolve(MethodBase caller, int token)
    {
        try
        {
            return caller.Module.ResolveMethod(token, caller.DeclaringType?.GetGenericArguments(), caller.IsGenericMethod ? caller.GetGenericArguments() : null);
        }
        catch (ArgumentException)
        {
            return null;   // a generic instantiation the scan does not need
        }
    }

    private static readonly Dictionary<short, OpCode> s_opcodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The instructions of an IL body, with the 4-byte token operand where there is one.</summary>
    private static IEnumerable<(OpCode Op, int Token)> Instructions(byte[] il)
    {
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var op = s_opcodes[value];
            int token = 0;
            switch (op.OperandType)
            {
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget:
                case OperandType.ShortInlineI:
                case OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineI8:
                case OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.InlineSwitch:
                    int n = BitConverter.ToInt32(il, i);
                    i += 4 + (4 * n);
                    break;
                default:   // tokens, 4-byte branches and constants
                    token = BitConverter.ToInt32(il, i);
                    i += 4;
                    break;
            }

            yield return (op, token);
        }
    }
}
