using System;

namespace Kernel.Mm.Tests.Scenarios;

/// <summary>
/// The forms an after-form scenario runs on: the after form itself and the before forms as the
/// code fixes left them (samples/Seeds.Fixed). A theory names them by these constants and picks
/// the function with a switch whose last arm is <see cref="Unknown"/>, so a form a theory lists
/// but a switch does not know fails the test instead of running some other form.
/// </summary>
internal static class Forms
{
    public const string After = "after";
    public const string Seed004Fixed = "seed004 fixed";
    public const string Seed000Fixed = "seed000 fixed";
    public const string Seed002Fixed = "seed002 fixed";
    public const string Seed003Fixed = "seed003 fixed";

    public static ArgumentOutOfRangeException Unknown(string form) =>
        new(nameof(form), form, "not a form this scenario runs");
}
