using System;

namespace Kernel.Mm.Tests.Core;

/// <summary>Marks a test of the runtime twin of a rule: it makes the twin report the rule (and, for
/// the fixed form, stay silent). <see cref="TwinRegistryTests"/> requires one for every rule id.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
internal sealed class TwinOfAttribute : Attribute
{
    public TwinOfAttribute(string ruleId) => RuleId = ruleId;

    public string RuleId { get; }
}
