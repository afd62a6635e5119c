import Foundation
import KilnOCI

/// A cache key in BuildKit's model: an operation digest, an output index, and for each input
/// the keys (with selectors) it may be satisfied by. ``id`` identifies the key locally;
/// ``recordDigest`` is what a BuildKit cache config calls the record's `digest`.
public struct CacheKey: Sendable, Hashable, Codable {
    /// The operation's definition digest.
    public var base: Digest
    /// The output index (0 for every Dockerfile step; -1 for content roots).
    public var output: Int
    /// Per input, the alternatives that satisfy it.
    public var inputs: [[KeyInput]]
    /// Stable identity of the whole key (base, output and inputs).
    public let id: Digest

    /// A key; ``id`` is derived from the parts. Fails (never collides) if they cannot be encoded.
    public init(base: Digest, output: Int = 0, inputs: [[KeyInput]] = []) throws(GraphError) {
        self.base = base
        self.output = output
        self.inputs = inputs.map { $0.sorted() }
        struct Canonical: Encodable {
            var base: String
            var output: Int
            var inputs: [[KeyInput]]
        }
        id = try Definition.digest(Canonical(base: base.description, output: output, inputs: self.inputs))
    }

    /// `sha256("<base>@<output>")`, BuildKit's record digest for this key.
    public var recordDigest: Digest { Digest.of(Data("\(base)@\(output)".utf8)) }

    /// A root key for content with digest `content` (`<content>@-1`).
    public static func contentRoot(_ content: Digest) throws(GraphError) -> CacheKey { try CacheKey(base: content, output: -1) }
}

/// One way to satisfy an input: another key, and which part of its result is used.
public struct KeyInput: Sendable, Hashable, Codable, Comparable {
    /// The input's key id.
    public var link: Digest
    /// Digest of the paths used (nil: the whole result).
    public var selector: Digest?

    /// An input alternative.
    public init(link: Digest, selector: Digest? = nil) {
        self.link = link
        self.selector = selector
    }

    /// Orders by link, then selector.
    public static func < (a: KeyInput, b: KeyInput) -> Bool {
        (a.link.description, a.selector?.description ?? "") < (b.link.description, b.selector?.description ?? "")
    }
}

/// Definition digests: sha256 of the canonical JSON of what an operation does.
enum Definition {
    /// The digest of `value`'s canonical JSON; an encoding failure is an error, never the
    /// digest of nothing (which would make different steps share one key).
    static func digest<T: Encodable>(_ value: T) throws(GraphError) -> Digest {
        do { return Digest.of(try CanonicalJSON.encode(value)) } catch {
            throw GraphError(description: "cannot encode a cache key definition (\(T.self)): \(error)")
        }
    }
}
