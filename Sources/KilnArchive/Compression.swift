#if canImport(Glibc)
import Glibc
#endif
import KilnOCI

/// How a layer blob is (to be) encoded.
public enum Compression: Sendable, Hashable, CustomStringConvertible {
    /// A plain tar.
    case uncompressed
    /// gzip at a level (0–9).
    case gzip(level: Int)
    /// zstd at a level (0–22).
    case zstd(level: Int)
    /// eStargz (gzip members + TOC) at a gzip level (0–9).
    case estargz(level: Int)

    /// gzip at zlib's default level.
    public static let gzipDefault = Compression.gzip(level: 6)

    /// Parses a `compression=` value with an optional `compression-level`, validating the range.
    public init(name: String, level: Int? = nil) throws(ArchiveError) {
        switch name {
        case "uncompressed": self = .uncompressed
        case "gzip": self = .gzip(level: level ?? 6)
        case "zstd": self = .zstd(level: level ?? 3)
        case "estargz": self = .estargz(level: level ?? 6)
        default: throw ArchiveError.unsupported("compression '\(name)' (use uncompressed, gzip, estargz or zstd)")
        }
        try validate()
    }

    /// Throws when the level is outside the codec's range.
    public func validate() throws(ArchiveError) {
        switch self {
        case .uncompressed: return
        case .gzip(let l): if !gzipLevels.contains(l) { throw .invalidLevel(codec: "gzip", level: l, range: gzipLevels) }
        case .estargz(let l): if !gzipLevels.contains(l) { throw .invalidLevel(codec: "estargz", level: l, range: gzipLevels) }
        case .zstd(let l): if !zstdLevels.contains(l) { throw .invalidLevel(codec: "zstd", level: l, range: zstdLevels) }
        }
    }

    /// The media-type family (eStargz layers are gzip layers).
    public var layerCompression: LayerCompression {
        switch self {
        case .uncompressed: .uncompressed
        case .gzip, .estargz: .gzip
        case .zstd: .zstd
        }
    }

    /// `gzip`, `zstd`, `estargz`, `uncompressed`.
    public var description: String {
        switch self {
        case .uncompressed: "uncompressed"
        case .gzip(let l): "gzip(\(l))"
        case .zstd(let l): "zstd(\(l))"
        case .estargz(let l): "estargz(\(l))"
        }
    }
}

/// What a blob's bytes say about its encoding.
public enum DetectedCompression: Sendable, Hashable {
    /// No known magic.
    case uncompressed
    /// gzip magic `1f 8b 08`.
    case gzip
    /// zstd magic `28 b5 2f fd`.
    case zstd
    /// A gzip stream ending with a valid eStargz footer.
    case estargz

    /// Inspects the file at `path`: eStargz footer first, then the magic numbers.
    public static func detect(path: String) throws -> DetectedCompression {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 4)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4, 0) }
        guard n >= 0 else { throw ArchiveError.io(path: path, operation: "read", errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ArchiveError.io(path: path, operation: "stat", errno: errno) }
        if n >= 3 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 0x08 {
            if st.st_size >= 51 {
                var foot = [UInt8](repeating: 0, count: 51)
                let m = foot.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 51, off_t(st.st_size - 51)) }
                if m == 51, EstargzSink.parseFooter(foot) != nil { return .estargz }
            }
            return .gzip
        }
        if n == 4 && head == [0x28, 0xb5, 0x2f, 0xfd] { return .zstd }
        return .uncompressed
    }

    /// The uncompressed tar of a stream whose encoding is read from its first bytes (eStargz
    /// is gzip to a reader); for streams that cannot be inspected as a file, such as a
    /// download under way.
    public static func decompressingDetected(_ source: any ByteSource) throws -> any ByteSource {
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4)
        while head.count < 4 {
            let want = 4 - head.count
            let n = try chunk.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            if n == 0 { break }
            head += chunk[0..<n]
        }
        let rest = PrefixedSource(prefix: head, rest: source)
        if head.count >= 3 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 0x08 { return try DetectedCompression.gzip.decompressing(rest) }
        if head == [0x28, 0xb5, 0x2f, 0xfd] { return try DetectedCompression.zstd.decompressing(rest) }
        return rest
    }

    /// A source that yields the uncompressed tar of `source` encoded this way.
    public func decompressing(_ source: any ByteSource) throws -> any ByteSource {
        switch self {
        case .uncompressed: source
        case .gzip, .estargz: try GunzipSource(source: source)
        case .zstd: try ZstdSource(source: source)
        }
    }
}
