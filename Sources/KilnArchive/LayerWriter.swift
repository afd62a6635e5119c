#if canImport(Glibc)
import Glibc
#endif
import KilnOCI

/// The result of writing a layer blob.
public struct LayerBlob: Sendable, Hashable {
    /// Digest of the blob (compressed bytes).
    public var digest: Digest
    /// Size of the blob.
    public var size: Int64
    /// Digest of the uncompressed stream (the diffID; for eStargz it includes the TOC entry).
    public var diffID: Digest
    /// Size of the uncompressed stream.
    public var uncompressedSize: Int64
    /// How it is encoded.
    public var compression: Compression
    /// For eStargz: the digest of the TOC JSON (`containerd.io/snapshot/stargz/toc.digest`).
    public var tocDigest: Digest?

    /// The layer media type in the OCI or Docker family.
    public func mediaType(oci: Bool) -> String { MediaType.layer(compression.layerCompression, oci: oci) }

    /// Descriptor annotations every layer carries (`containerd.io/uncompressed`, and for
    /// eStargz its TOC digest and uncompressed size).
    public var annotations: [String: String] {
        var a = ["containerd.io/uncompressed": diffID.description]
        if let tocDigest {
            a["containerd.io/snapshot/stargz/toc.digest"] = tocDigest.description
            a["io.containers.estargz.uncompressed-size"] = String(uncompressedSize)
        }
        return a
    }
}

/// A tar writer whose bytes are hashed (diffID), compressed, hashed again (blob digest) and
/// written to a file, all in one streaming pass.
public final class LayerWriter {
    /// Write entries here.
    public let tar: TarWriter
    private let diffIDSink: DigestingSink
    private let blobSink: DigestingSink
    private let estargz: EstargzSink?
    private let compression: Compression

    /// A writer producing the blob file at `path` (created or truncated) with `compression`.
    public init(path: String, compression: Compression, workers: Int = GzipSink.defaultWorkers) throws {
        try compression.validate()
        self.compression = compression
        let file = try FileSink(path: path)
        blobSink = DigestingSink(file)
        var estargz: EstargzSink?
        let encoder: any ByteSink
        switch compression {
        case .uncompressed: encoder = blobSink
        case .gzip(let level): encoder = try GzipSink(next: blobSink, level: level, workers: workers)
        case .zstd(let level): encoder = try ZstdSink(next: blobSink, level: level)
        case .estargz(let level):
            let e = try EstargzSink(next: blobSink, level: level)
            estargz = e
            encoder = e
        }
        self.estargz = estargz
        diffIDSink = DigestingSink(encoder)
        tar = TarWriter(sink: diffIDSink)
        tar.observer = estargz
    }

    /// Ends the archive and returns what was written.
    public func finish() throws -> LayerBlob {
        try tar.finish()
        if let e = estargz, let diffID = e.uncompressedDigest {
            return LayerBlob(digest: blobSink.digest, size: blobSink.count, diffID: diffID,
                             uncompressedSize: e.uncompressedSize, compression: compression, tocDigest: e.tocDigest)
        }
        return LayerBlob(digest: blobSink.digest, size: blobSink.count, diffID: diffIDSink.digest,
                         uncompressedSize: diffIDSink.count, compression: compression)
    }
}

/// Re-encodes an existing layer blob (for `force-compression`), streaming.
public enum LayerConverter {
    /// Reads the blob at `source` (encoding detected from its bytes), verifies it decodes, and
    /// writes it to `destination` with `compression`.
    public static func convert(source: String, to destination: String, compression: Compression,
                               workers: Int = GzipSink.defaultWorkers) throws -> LayerBlob {
        let detected = try DetectedCompression.detect(path: source)
        var raw: any ByteSource = try FileSource(path: source)
        if detected == .estargz {
            // The layer's own tar is exactly the members before the TOC: decode only those.
            raw = LimitedSource(raw, limit: try estargzTOCOffset(path: source))
        }
        let input = try detected.decompressing(raw)
        if case .estargz = compression {
            // eStargz needs entry boundaries: re-emit the tar entry by entry.
            let writer = try LayerWriter(path: destination, compression: compression, workers: workers)
            let reader = TarReader(source: input)
            while let entry = try reader.next() {
                if entry.path == EstargzSink.tocName { continue }
                try writer.tar.writeHeader(entry)
                if entry.kind == .regular && entry.size > 0 { try writer.tar.writeContent(from: reader.content) }
            }
            return try writer.finish()
        }
        let file = try FileSink(path: destination)
        let blob = DigestingSink(file)
        let encoder: any ByteSink
        switch compression {
        case .uncompressed: encoder = blob
        case .gzip(let level): encoder = try GzipSink(next: blob, level: level, workers: workers)
        case .zstd(let level): encoder = try ZstdSink(next: blob, level: level)
        case .estargz: throw ArchiveError.unsupported("unreachable")
        }
        let diff = DigestingSink(encoder)
        try input.copy(to: diff)
        try diff.finish()
        return LayerBlob(digest: blob.digest, size: blob.count, diffID: diff.digest, uncompressedSize: diff.count,
                         compression: compression)
    }

    /// The TOC offset recorded in an eStargz blob's footer.
    static func estargzTOCOffset(path: String) throws -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 51 else { throw ArchiveError.corruptData("\(path): too short for eStargz") }
        var foot = [UInt8](repeating: 0, count: 51)
        _ = foot.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 51, off_t(st.st_size - 51)) }
        guard let off = EstargzSink.parseFooter(foot), off >= 0, off < Int64(st.st_size) else {
            throw ArchiveError.corruptData("\(path): bad eStargz footer")
        }
        return off
    }
}

/// Reads at most `limit` bytes of another source.
final class LimitedSource: ByteSource {
    private let source: any ByteSource
    private var left: Int64
    init(_ source: any ByteSource, limit: Int64) {
        self.source = source
        left = limit
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard left > 0 else { return 0 }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), left))]))
        left -= Int64(n)
        return n
    }
}
