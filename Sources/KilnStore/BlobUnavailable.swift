import KilnOCI

/// A blob a cached result refers to lazily (by digest and source repository) that could not be
/// fetched: the source is gone, unreachable, or served other bytes. Builders treat it as a
/// cache miss for every result holding the blob and run the steps that made it again.
public struct BlobUnavailable: Error, Sendable, CustomStringConvertible {
    /// The blob.
    public var digest: Digest
    /// The repositories tried, in order.
    public var sources: [String]
    /// Why the last attempt failed.
    public var reason: String

    /// An unavailable blob.
    public init(digest: Digest, sources: [String], reason: String) {
        self.digest = digest
        self.sources = sources
        self.reason = reason
    }

    /// `layer sha256:… cannot be fetched from REPO: reason`.
    public var description: String {
        let from = sources.isEmpty ? "(no known source)" : sources.joined(separator: ", ")
        return "layer \(digest) cannot be fetched from \(from): \(reason)"
    }

}
