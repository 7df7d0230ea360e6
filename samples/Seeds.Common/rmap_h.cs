using System;

namespace Seeds.Common;

/// <summary>include/linux/rmap.h: what try_to_unmap() is asked to do.</summary>
[Flags]
public enum ttu_flags
{
    TTU_UNMAP = 0,              // unmap mode
    TTU_MIGRATION = 1,          // migration mode
    TTU_MUNLOCK = 2,            // munlock mode
    TTU_ACTION_MASK = 0xff,

    TTU_IGNORE_MLOCK = 1 << 8,      // ignore mlock
    TTU_IGNORE_ACCESS = 1 << 9,     // don't age
    TTU_IGNORE_HWPOISON = 1 << 10,  // corrupted page is recoverable
}

/// <summary>include/linux/rmap.h: try_to_unmap() results (2012 form: an int, not a bool).</summary>
public static class swap_results
{
    public const int SWAP_SUCCESS = 0;
    public const int SWAP_AGAIN = 1;
    public const int SWAP_FAIL = 2;
    public const int SWAP_MLOCK = 3;
}
