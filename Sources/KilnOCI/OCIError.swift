/// Errors raised while parsing or validating OCI values.
public enum OCIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A digest string that is not `algorithm:hex` with a supported algorithm.
    case invalidDigest(String, reason: String)
    /// An image reference that does not follow the Docker reference grammar.
    case invalidReference(String, reason: String)
    /// A platform string such as `linux/amd64` that cannot be parsed.
    case invalidPlatform(String, reason: String)
    /// JSON that does not decode as the expected document.
    case invalidDocument(kind: String, reason: String)
    /// A media type this code does not know how to treat as the expected kind.
    case unsupportedMediaType(String, expected: String)
    /// Bytes whose digest is not the one they were fetched or referenced by.
    case digestMismatch(expected: Digest, actual: Digest)

    /// A one-line message for users.
    public var description: String {
        switch self {
        case .invalidDigest(let s, let reason): "invalid digest '\(s)': \(reason)"
        case .invalidReference(let s, let reason): "invalid reference '\(s)': \(reason)"
        case .invalidPlatform(let s, let reason): "invalid platform '\(s)': \(reason)"
        case .invalidDocument(let kind, let reason): "invalid \(kind): \(reason)"
        case .unsupportedMediaType(let mt, let expected): "unsupported media type '\(mt)' (expected \(expected))"
        case .digestMismatch(let e, let a): "digest mismatch: expected \(e), got \(a)"
        }
    }
}
