import Synchronization

/// A boolean that any thread may set once and read (for handing "this is over" to a thread or
/// a cancellation handler).
public final class OnceFlag: Sendable {
    private let value = Mutex(false)

    /// An unset flag.
    public init() {}

    /// Sets the flag; returns whether it was unset before.
    @discardableResult
    public func set() -> Bool { value.withLock { let was = $0; $0 = true; return !was } }

    /// Whether it is set.
    public var isSet: Bool { value.withLock { $0 } }
}
