import Crypto
import Foundation

/// A validated content digest such as `sha256:1f2e…`.
///
/// Only the algorithms the OCI image spec registers are accepted (`sha256`, `sha512`), and the
/// encoded part must be lowercase hex of the algorithm's exact length, so a `Digest` value is
/// always safe to use as a file name or a URL path component.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// A digest algorithm registered by the OCI image spec.
    public enum Algorithm: String, Sendable, CaseIterable, Codable {
        /// SHA-256, the default everywhere.
        case sha256
        /// SHA-512.
        case sha512

        /// Length of the hex encoding for this algorithm.
        public var hexLength: Int {
            switch self {
            case .sha256: 64
            case .sha512: 128
            }
        }
    }

    /// The algorithm part, before the colon.
    public let algorithm: Algorithm
    /// The lowercase hex encoding, after the colon.
    public let encoded: String

    /// Parses and validates `algorithm:hex`.
    public init(parsing string: String) throws(OCIError) {
        guard let colon = string.firstIndex(of: ":") else {
            throw OCIError.invalidDigest(string, reason: "missing ':' between algorithm and hex")
        }
        let algo = String(string[..<colon])
        let hex = String(string[string.index(after: colon)...])
        guard let algorithm = Algorithm(rawValue: algo) else {
            throw OCIError.invalidDigest(string, reason: "unsupported algorithm '\(algo)'")
        }
        guard hex.utf8.count == algorithm.hexLength else {
            throw OCIError.invalidDigest(
                string, reason: "\(algo) needs \(algorithm.hexLength) hex characters, got \(hex.utf8.count)")
        }
        guard hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw OCIError.invalidDigest(string, reason: "encoded part must be lowercase hex")
        }
        self.algorithm = algorithm
        self.encoded = hex
    }

    /// Builds a digest from an algorithm and raw hash bytes.
    public init<Bytes: Sequence>(algorithm: Algorithm, hashBytes: Bytes) where Bytes.Element == UInt8 {
        self.algorithm = algorithm
        self.encoded = hexString(hashBytes)
    }

    /// `algorithm:hex`.
    public var description: String { "\(algorithm.rawValue):\(encoded)" }

    /// The digest of `data` with the given algorithm.
    public static func of<D: DataProtocol>(_ data: D, algorithm: Algorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm: algorithm)
        hasher.update(data)
        return hasher.finalize()
    }

    /// Orders digests by their string form, which is what sorted JSON output needs.
    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    /// Decodes from a JSON string, validating it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            self = try Digest(parsing: string)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An incremental hasher that produces a ``Digest``; feed it while streaming bytes.
public struct DigestHasher {
    private enum State {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    /// Number of bytes hashed so far.
    public private(set) var count: Int64 = 0
    /// The algorithm this hasher computes.
    public let algorithm: Digest.Algorithm

    /// A fresh hasher for `algorithm`.
    public init(algorithm: Digest.Algorithm = .sha256) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    /// Adds bytes to the hash.
    public mutating func update<D: DataProtocol>(_ data: D) {
        count += Int64(data.count)
        switch state {
        case .sha256(var h):
            h.update(data: data)
            state = .sha256(h)
        case .sha512(var h):
            h.update(data: data)
            state = .sha512(h)
        }
    }

    /// Adds raw bytes to the hash without copying them.
    public mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        count += Int64(bufferPointer.count)
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: bufferPointer)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: bufferPointer)
            state = .sha512(h)
        }
    }

    /// The digest of everything fed so far.
    public func finalize() -> Digest {
        switch state {
        case .sha256(let h): Digest(algorithm: .sha256, hashBytes: h.finalize())
        case .sha512(let h): Digest(algorithm: .sha512, hashBytes: h.finalize())
        }
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity(128)
    for b in bytes {
        out.append(hexDigits[Int(b >> 4)])
        out.append(hexDigits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
