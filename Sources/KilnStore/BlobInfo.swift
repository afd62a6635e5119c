import Foundation
import KilnOCI

/// What the store knows about a blob.
public struct BlobInfo: Sendable, Hashable {
    /// The blob's digest.
    public var digest: Digest
    /// Its size in bytes.
    public var size: Int64
    /// Its media type, when known.
    public var mediaType: String?
    /// For layers: the digest of the uncompressed tar.
    public var diffID: Digest?
    /// For layers: the uncompressed size.
    public var uncompressedSize: Int64?
    /// When it was first stored (seconds since the epoch).
    public var createdAt: Int64
    /// When it was last used (seconds since the epoch), for pruning.
    public var lastUsedAt: Int64
}
