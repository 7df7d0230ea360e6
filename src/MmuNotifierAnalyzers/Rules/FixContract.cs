using Microsoft.CodeAnalysis;

namespace MmuNotifierAnalyzers.Rules;

/// <summary>
/// The one contract between the analyzers and their code fixes: every diagnostic property name and
/// value, and the index of every additional location, that a rule hands its fix. Neither side spells
/// one on its own. A property is absent when the analysis did not prove it; the fix then offers nothing
/// for that repair, and re-checks in the tree whatever a location points at before it edits there.
/// </summary>
/// <remarks>
/// <list type="table">
/// <listheader><term>Rule (analyzer)</term><description>sets → read by</description></listheader>
/// <item><term>MMU001 (<c>InvalidatePageAnalyzer</c>)</term><description><see cref="InvalidatePage"/> →
/// <c>InvalidatePageCodeFix</c> (calls: <c>InvalidatePageCallRewriter</c>; ops members:
/// <c>InvalidatePageOpsRewriter</c>). No additional locations.</description></item>
/// <item><term>MMU002 (<c>UnbalancedRangeAnalyzer</c>)</term><description><see cref="UnbalancedRange"/> →
/// <c>UnbalancedRangeCodeFix</c>.</description></item>
/// <item><term>MMU003 (<c>RangeArgumentsChangedAnalyzer</c>)</term><description><see cref="RangeArgumentsChanged"/> →
/// <c>RangeArgumentsChangedCodeFix</c>. No properties.</description></item>
/// <item><term>MMU004 (<c>SleepInAtomicCallbackAnalyzer</c>)</term><description><see cref="SleepInAtomicCallback"/> →
/// <c>SleepInAtomicCallbackCodeFix</c>; <see cref="Allocation"/> → <c>AtomicAllocationCodeFix</c>.</description></item>
/// <item><term>MMU005 (<c>SleepUnderSpinlockAnalyzer</c>)</term><description><see cref="SleepUnderSpinlock"/> and
/// <see cref="Allocation"/> → <c>AtomicAllocationCodeFix</c>; <c>SleepUnderSpinlockCodeFix</c> reads
/// <see cref="SleepUnderSpinlock.RangeCall"/> nowhere yet (it finds the notifier calls in the tree).</description></item>
/// <item><term>MMU006, MMU009 (<c>UncoveredNotification</c>)</term><description><see cref="Notification"/> →
/// <c>NotificationBracketCodeFix</c>.</description></item>
/// <item><term>MMU007 (<c>RangeLengthInPagesAnalyzer</c>)</term><description><see cref="HugeSize"/>; every
/// additional location is a page-count term to rewrite → <c>RangeLengthInPagesCodeFix</c>.</description></item>
/// <item><term>MMU008 (<c>HugeRangeNotAlignedAnalyzer</c>)</term><description><see cref="HugeSize"/> and
/// <see cref="HugeRangeNotAligned"/> → <c>HugeRangeNotAlignedCodeFix</c>.</description></item>
/// <item><term>MMU010 (<c>PageReleasedBeforeInvalidationAnalyzer</c>)</term><description><see cref="PageReleased"/> →
/// <c>PageReleasedBeforeInvalidationCodeFix</c>.</description></item>
/// <item><term>MMU013 (<c>EntryChangedWithoutInvalidationAnalyzer</c>)</term><description><see cref="Notification"/>
/// (a direct change, with MMU006's meaning) and <see cref="EntryChange"/> →
/// <c>EntryChangedWithoutInvalidationCodeFix</c> (which hands the bracket to <c>NotificationBracketCodeFix</c>).</description></item>
/// <item><term>MMU014 (<c>NonBlockableMisuseAnalyzer</c>)</term><description><see cref="NonBlockable"/> →
/// <c>NonBlockableMisuseCodeFix</c>.</description></item>
/// </list>
/// MMU011, MMU012 and MMU015 have no code fix and hand nothing over.
/// </remarks>
public static class FixContract
{
    /// <summary>The value of every flag property: present means proven.</summary>
    public const string True = "true";

    /// <summary>Whether the analyzer proved the flag <paramref name="name"/> for <paramref name="diagnostic"/>:
    /// how every fix reads a flag property.</summary>
    public static bool Proves(Diagnostic diagnostic, string name) =>
        diagnostic.Properties.TryGetValue(name, out var value) && value == True;

    /// <summary>MMU001: which shape the finding is on.</summary>
    public static class InvalidatePage
    {
        /// <summary><see cref="Call"/> or <see cref="OpsMember"/>.</summary>
        public const string Kind = "Kind";

        /// <summary>A call to <c>mmu_notifier_invalidate_page</c>.</summary>
        public const string Call = "Call";

        /// <summary>An <c>invalidate_page = ...</c> member of an <c>mmu_notifier_ops</c> table.</summary>
        public const string OpsMember = "OpsMember";

        /// <summary>Ops member: the same table sets a range callback (<c>invalidate_range_start</c>,
        /// <c>_end</c> or <c>invalidate_range</c>) to something non-null, which every invalidation
        /// since 4.13 reaches: <c>invalidate_page</c> can simply go. A flag.</summary>
        public const string TableHasRangeCallback = "TableHasRangeCallback";

        /// <summary>Ops member: the sleep oracle proved that the assigned callback may sleep, so it
        /// cannot become the atomic <c>invalidate_range</c> (that would be an MMU004). A flag.</summary>
        public const string CallbackMaySleep = "CallbackMaySleep";
    }

    /// <summary>MMU002: which finding, and how the open path leaves.</summary>
    public static class UnbalancedRange
    {
        /// <summary><see cref="Leak"/>, <see cref="Unmatched"/> or <see cref="Reopened"/>.</summary>
        public const string Finding = "Finding";

        /// <summary>A start whose range stays open on some path out of the method (the only finding the fix repairs).</summary>
        public const string Leak = "Leak";

        /// <summary>An end with no open start.</summary>
        public const string Unmatched = "Unmatched";

        /// <summary>A start over a range already open.</summary>
        public const string Reopened = "Reopened";

        /// <summary>Leak: how the open path leaves the method, the name of an <c>ExitKind</c> member.</summary>
        public const string ExitKind = "ExitKind";

        /// <summary>Leak: the statement the open path leaves by (<c>return</c>, <c>goto</c>, <c>throw</c>),
        /// absent when it falls off the end.</summary>
        public const int ExitLocation = 0;
    }

    /// <summary>MMU003: where the range was opened.</summary>
    public static class RangeArgumentsChanged
    {
        /// <summary>The start call whose arguments the end no longer provably passes.</summary>
        public const int StartLocation = 0;
    }

    /// <summary>MMU004: the callback's role and whether its ops member can move.</summary>
    public static class SleepInAtomicCallback
    {
        /// <summary>The ops member (or <c>[AtomicContext]</c>) that makes the callback atomic, e.g. <c>invalidate_range</c>.</summary>
        public const string Role = "Role";

        /// <summary>A flag: the callback is an <c>invalidate_range</c> callback, every ops member that
        /// assigns it is an additional location (all of them, from 0), and no table of them sets
        /// <c>invalidate_range_start</c> or a member of the 4.20 range form, so the fix can rename the
        /// member to <c>invalidate_range_start</c>.</summary>
        public const string CanMoveToStart = "CanMoveToStart";

        /// <summary>A flag, with <see cref="CanMoveToStart"/>: the callback writes nothing a sequence
        /// check reads, so where its table sets no <c>invalidate_range_end</c> the fix also sets it as
        /// that end (same legacy signature): a start with no end and no scheme would be an MMU011.</summary>
        public const string AlsoEnd = "AlsoEnd";
    }

    /// <summary>MMU004 and MMU005: an allocation that sleeps only for its gfp flags.</summary>
    public static class Allocation
    {
        /// <summary>The call that may sleep is a gfp allocator (<c>kmalloc</c>, <c>alloc_pages</c>, ...)
        /// that sleeps only because its flags, a constant, allow direct reclaim. The value is the
        /// ordinal of its <c>gfp_t</c> parameter.</summary>
        public const string GfpParameter = "GfpParameter";
    }

    /// <summary>MMU005: the held lock and the notifier call under it.</summary>
    public static class SleepUnderSpinlock
    {
        /// <summary><see cref="Start"/> or <see cref="End"/> when the sleeping call is the notifier's own start/end.</summary>
        public const string RangeCall = "RangeCall";

        /// <summary>The sleeping call opens a range.</summary>
        public const string Start = "Start";

        /// <summary>The sleeping call closes a range.</summary>
        public const string End = "End";

        /// <summary>A flag: the method takes the held spinlock itself, at <see cref="AcquisitionLocation"/>
        /// (absent when the lock is held on entry, <c>[MustHoldLock]</c>).</summary>
        public const string LockAcquisition = "LockAcquisition";

        /// <summary>The call that took the held spinlock, when <see cref="LockAcquisition"/> is set.</summary>
        public const int AcquisitionLocation = 0;
    }

    /// <summary>MMU006, MMU009 and MMU013's direct changes: what the uncovered call notifies and what holds there.</summary>
    public static class Notification
    {
        /// <summary>A flag: the notified range is one page at the call's address (<c>set_pte_at_notify</c>,
        /// <c>ptep_clear_flush_notify</c>), so the fix brackets [address &amp; PAGE_MASK, + PAGE_SIZE);
        /// absent when the call passes [start, end) itself.</summary>
        public const string OnePage = "OnePage";

        /// <summary>A flag: that one-page range is a 2 MiB huge page at an aligned address
        /// (<c>pmdp_huge_clear_flush_notify</c>): the fix brackets [address, address + HPAGE_PMD_SIZE).</summary>
        public const string HugePage = "HugePage";

        /// <summary>A flag: the call's first argument is a vma whose <c>vm_mm</c> is the mm.</summary>
        public const string MmOfVma = "MmOfVma";

        /// <summary>A flag: no range is open at the call on any path (not one open on some paths only,
        /// nor one that misses the call): only then is a new bracket the fix; a second start over an
        /// open range would be MMU002's reopened start.</summary>
        public const string NoRange = "NoRange";

        /// <summary>A flag: a spinlock is held at the call on every path, taken at
        /// <see cref="AcquisitionLocation"/>; the fix starts the range before that (and offers nothing
        /// when the tree no longer shows it as the lock held at the call).</summary>
        public const string LockHeld = "LockHeld";

        /// <summary>A flag: some paths hold a spinlock at the call and others do not: no place before
        /// "the" lock exists, so the fix offers nothing.</summary>
        public const string LockOnSomePaths = "LockOnSomePaths";

        /// <summary>The acquisition of the held lock, when <see cref="LockHeld"/> is set.</summary>
        public const int AcquisitionLocation = 0;
    }

    /// <summary>MMU013: the change the fix cannot bracket.</summary>
    public static class EntryChange
    {
        /// <summary>A flag: the diagnostic is on a call down a chain (the change is in a callee or a
        /// walk callback): there is no one page to bracket, and the fix offers nothing.</summary>
        public const string Chain = "Chain";

        /// <summary>A flag: a hugetlb entry, whose size is its hstate's: the fix offers nothing.</summary>
        public const string HugeTlb = "HugeTlb";
    }

    /// <summary>MMU007 and MMU008: which huge page the range's length is the size of.</summary>
    public static class HugeSize
    {
        /// <summary>One of <see cref="Compound"/>, <see cref="Pmd"/>, <see cref="HugeTlb"/>.</summary>
        public const string Size = "HugeSize";

        /// <summary><c>compound_order(page)</c>: bytes are <c>PAGE_SIZE &lt;&lt; compound_order(page)</c>,
        /// the mask <c>~((PAGE_SIZE &lt;&lt; compound_order(page)) - 1)</c>.</summary>
        public const string Compound = "Compound";

        /// <summary>PMD huge page: <c>HPAGE_PMD_SIZE</c>, <c>HPAGE_PMD_MASK</c>.</summary>
        public const string Pmd = "Pmd";

        /// <summary>hugetlb page of an hstate: <c>huge_page_size(h)</c>, <c>huge_page_mask(h)</c>.</summary>
        public const string HugeTlb = "HugeTlb";
    }

    /// <summary>MMU008: the parts of the range to mask, present when the start and the end are each written once.</summary>
    public static class HugeRangeNotAligned
    {
        /// <summary>The start as written.</summary>
        public const int StartLocation = 0;

        /// <summary>The <c>x</c> of the end's <c>x + length</c> as written.</summary>
        public const int BaseLocation = 1;

        /// <summary>The length term.</summary>
        public const int LengthLocation = 2;

        /// <summary>The page or hstate (compound and hugetlb sizes only).</summary>
        public const int SubjectLocation = 3;
    }

    /// <summary>MMU010: the clear and the invalidation the release comes before.</summary>
    public static class PageReleased
    {
        /// <summary>The notifying form of the clearing call (<c>ptep_clear_flush_notify</c>,
        /// <c>pmdp_huge_clear_flush_notify</c>), set when the clear runs inside a range open on every
        /// path, so the fix can make the clear invalidate at once (34ee645e83b6's fix).</summary>
        public const string NotifyingClear = "NotifyingClear";

        /// <summary>The notifying form of the clear, set instead of <see cref="NotifyingClear"/> when no
        /// range is open at the clear but the invalidation after it is an <c>invalidate_range</c>
        /// reached with no range and no lock (seed 003): the fix first brackets that invalidation as
        /// MMU006's fix does (which puts the clear inside the range), then makes the clear notify.</summary>
        public const string BracketThenNotifyingClear = "BracketThenNotifyingClear";

        /// <summary>The invalidation that covers the entry after the release.</summary>
        public const int InvalidationLocation = 0;

        /// <summary>The call that cleared the entry.</summary>
        public const int ClearLocation = 1;
    }

    /// <summary>MMU014: which part of the rule, and what the callback can do about it.</summary>
    public static class NonBlockable
    {
        /// <summary><see cref="EndAfterRefusal"/>, <see cref="ChangeAfterRefusal"/> or <see cref="SleepWhenNonBlockable"/>.</summary>
        public const string Finding = "Finding";

        /// <summary>(a) the end is called after a refused start; <see cref="StartLocation"/> is that start.</summary>
        public const string EndAfterRefusal = "EndAfterRefusal";

        /// <summary>(a) page tables change after a refused start; <see cref="StartLocation"/> is that start.</summary>
        public const string ChangeAfterRefusal = "ChangeAfterRefusal";

        /// <summary>(b) a callback that may be asked not to block sleeps.</summary>
        public const string SleepWhenNonBlockable = "Sleep";

        /// <summary>(b): what the callback returns to refuse the range, <see cref="RefuseWithEagain"/> or
        /// <see cref="RefuseWithFalse"/>; absent when it cannot refuse (<c>invalidate_range_end_range</c>,
        /// or a signature the fix does not know).</summary>
        public const string Refuse = "Refuse";

        /// <summary><c>-&gt;invalidate_range_start(mn, range)</c> returns <c>-EAGAIN</c>.</summary>
        public const string RefuseWithEagain = "-EAGAIN";

        /// <summary>An interval notifier's <c>-&gt;invalidate</c> returns <c>false</c>.</summary>
        public const string RefuseWithFalse = "false";

        /// <summary>(b): the name of the callback's <c>mmu_notifier_range</c> parameter.</summary>
        public const string RangeParameter = "RangeParameter";

        /// <summary>(a): the <c>_nonblock</c> start that was refused.</summary>
        public const int StartLocation = 0;

        /// <summary>(b): the statement of the callback's body before which the guard goes (the
        /// top-level statement holding the first unguarded sleeping call, so every finding of one
        /// callback asks for the same guard); absent when there is none.</summary>
        public const int GuardLocation = 0;
    }
}
