using System;

namespace MmuNotifierAnalyzers.Annotations;

/// <summary>When a lock named by <see cref="AcquiresLockAttribute"/> is held on return.</summary>
public enum LockAcquisition
{
    /// <summary>The lock is held whenever the method returns.</summary>
    Always = 0,

    /// <summary>The lock is held only when the method returned a non-null value
    /// (<c>page_check_address</c>).</summary>
    WhenReturnNotNull = 1,

    /// <summary>The lock is held only when the method returned <see langword="true"/>
    /// (<c>spin_trylock</c>).</summary>
    WhenReturnTrue = 2,
}

/// <summary>
/// The method returns with a spinlock held: sparse's <c>__acquires(lock)</c>.
/// </summary>
/// <remarks>
/// The lock expression names the lock from the method's point of view: a
/// parameter (<c>"lock"</c>, or an <see langword="out"/> parameter such as <c>"ptl"</c>),
/// optionally followed by fields (<c>"mm.page_table_lock"</c>), or <c>"this.field"</c>.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class AcquiresLockAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="lockExpression">The lock, as a parameter name optionally followed by fields.</param>
    public AcquiresLockAttribute(string lockExpression)
    {
        LockExpression = lockExpression;
    }

    /// <summary>The lock, as a parameter name optionally followed by fields.</summary>
    public string LockExpression { get; }

    /// <summary>When the lock is held on return; <see cref="LockAcquisition.Always"/> by default.</summary>
    public LockAcquisition When { get; set; }
}

/// <summary>
/// The method releases a spinlock its caller holds: sparse's <c>__releases(lock)</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class ReleasesLockAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="lockExpression">The lock, as a parameter name optionally followed by fields.</param>
    public ReleasesLockAttribute(string lockExpression)
    {
        LockExpression = lockExpression;
    }

    /// <summary>The lock, as a parameter name optionally followed by fields.</summary>
    public string LockExpression { get; }
}

/// <summary>
/// The method is entered, and returns, with a spinlock held: sparse's <c>__must_hold(lock)</c>
/// (<c>hugetlb_cow</c>: "Caller expects lock to be held"). Inside the method the lock counts
/// as held from entry, so a call that may sleep is reported; the method may drop and retake it.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class MustHoldLockAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="lockExpression">The lock, as a parameter name optionally followed by fields.</param>
    public MustHoldLockAttribute(string lockExpression)
    {
        LockExpression = lockExpression;
    }

    /// <summary>The lock, as a parameter name optionally followed by fields.</summary>
    public string LockExpression { get; }
}
