using System;
using System.Collections.Generic;
using System.IO;

namespace Kernel.Mm;

/// <summary>
/// One runtime report: the rule it violates (the analyzer's id, e.g. <c>MMU005</c>), a message that
/// names the function and the mm / lock / address involved, and the call stack where it happened.
/// </summary>
public sealed class MmViolation
{
    public MmViolation(string ruleId, string message, string stackTrace)
    {
        RuleId = ruleId ?? throw new ArgumentNullException(nameof(ruleId));
        Message = message ?? throw new ArgumentNullException(nameof(message));
        StackTrace = stackTrace ?? string.Empty;
    }

    /// <summary>The rule id, the same as the analyzer's (<c>MMU001</c> ... <c>MMU015</c>).</summary>
    public string RuleId { get; }

    /// <summary>The message; it starts with the rule id.</summary>
    public string Message { get; }

    /// <summary>Where the violation happened.</summary>
    public string StackTrace { get; }

    public override string ToString() => Message + "\n" + StackTrace;
}

/// <summary>Where runtime reports go (lockdep prints them; we let the host decide).</summary>
public interface IMmViolationSink
{
    void Report(MmViolation violation);
}

/// <summary>A runtime report, thrown by <see cref="ThrowingViolationSink"/>.</summary>
public sealed class MmViolationException : Exception
{
    public MmViolationException(MmViolation violation)
        : base((violation ?? throw new ArgumentNullException(nameof(violation))).Message)
    {
        Violation = violation;
    }

    public MmViolation Violation { get; }
}

/// <summary>The default sink: every report is thrown as an <see cref="MmViolationException"/>.</summary>
public sealed class ThrowingViolationSink : IMmViolationSink
{
    public void Report(MmViolation violation) => throw new MmViolationException(violation);
}

/// <summary>Collects every report (thread-safe); tests assert on what fired and what did not.</summary>
public sealed class CollectingViolationSink : IMmViolationSink
{
    private readonly List<MmViolation> _violations = new();

    public IReadOnlyList<MmViolation> Violations
    {
        get
        {
            lock (_violations)
            {
                return _violations.ToArray();
            }
        }
    }

    public void Report(MmViolation violation)
    {
        ArgumentNullException.ThrowIfNull(violation);
        lock (_violations)
        {
            _violations.Add(violation);
        }
    }

    /// <summary>True when at least one report of <paramref name="ruleId"/> was collected.</summary>
    public bool Has(string ruleId)
    {
        lock (_violations)
        {
            return _violations.Exists(v => v.RuleId == ruleId);
        }
    }

    /// <summary>How many reports of <paramref name="ruleId"/> were collected.</summary>
    public int Count(string ruleId)
    {
        lock (_violations)
        {
            return _violations.FindAll(v => v.RuleId == ruleId).Count;
        }
    }

    public void Clear()
    {
        lock (_violations)
        {
            _violations.Clear();
        }
    }
}

/// <summary>Writes every report (message and stack) to a <see cref="TextWriter"/>, like dmesg.</summary>
public sealed class LoggingViolationSink : IMmViolationSink
{
    private readonly TextWriter _writer;

    public LoggingViolationSink(TextWriter writer)
    {
        _writer = writer ?? throw new ArgumentNullException(nameof(writer));
    }

    public void Report(MmViolation violation)
    {
        ArgumentNullException.ThrowIfNull(violation);
        lock (_writer)
        {
            _writer.WriteLine(violation.ToString());
        }
    }
}
