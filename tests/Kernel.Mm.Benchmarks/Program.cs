using System;
using System.Collections.Generic;
using BenchmarkDotNet.Running;

namespace Kernel.Mm.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project tests/Kernel.Mm.Benchmarks -- --filter '*'</c>.
/// <c>--quick</c> is short for <c>--job short</c>. Benchmarks run in-process unless
/// <c>--outOfProcess</c> is given: the generated out-of-process project would inherit this
/// repository's central package management and warnings-as-errors, and in-process is what a
/// 2-core machine can afford anyway.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var effective = new List<string>();
        bool inProcess = true;
        foreach (string arg in args)
        {
            switch (arg)
            {
                case "--quick":
                    effective.Add("--job");
                    effective.Add("short");
                    break;
                case "--outOfProcess":
                    inProcess = false;
                    break;
                case "--inProcess" or "-i":
                    break;
                default:
                    effective.Add(arg);
                    break;
            }
        }

        if (inProcess)
        {
            effective.Add("--inProcess");
        }

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run([.. effective]);
        foreach (var summary in summaries)
        {
            if (summary.HasCriticalValidationErrors)
            {
                return 1;
            }
        }

        Console.WriteLine("Ratios for RESULTS.md: see the Ratio columns above (baseline = linear walk / 1 notifier).");
        return 0;
    }
}
