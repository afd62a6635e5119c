import KilnOCI

/// Errors from the content store.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// Written bytes did not match the digest they were meant to have.
    case digestMismatch(expected: Digest, actual: Digest)
    /// No blob with this digest is stored.
    case notFound(Digest)
    /// A file operation failed.
    case io(path: String, reason: String)
    /// The metadata database failed.
    case database(String)

    /// A one-line message for users.
    public var description: String {
        switch self {
        case .digestMismatch(let e, let a): "content store: digest mismatch: expected \(e), got \(a)"
        case .notFound(let d): "content store: blob \(d) not found"
        case .io(let path, let reason): "content store: \(path): \(reason)"
        case .database(let m): "content store database: \(m)"
        }
    }
}
