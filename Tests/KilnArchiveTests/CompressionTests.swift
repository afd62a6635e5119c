import Foundation
@testable import KilnArchive
import KilnOCI
import KilnTestSupport
import Testing

/// gzip, zstd and eStargz layer blobs: valid for the standard tools, digests computed in one
/// pass, deterministic, convertible.
@Suite struct CompressionTests {
    /// A tree with compressible text, random bytes and a file larger than an eStargz chunk.
    static func makeTree(_ root: String) throws {
        try makeFile(root + "/etc/config.txt", String(repeating: "key = value\n", count: 20_000))
        try makeFile(root + "/empty", "")
        try writeRandomFile(root + "/bin/random.bin", size: 300_000)
        try writeRandomFile(root + "/big/blob.bin", size: 9 * 1024 * 1024 + 5)
        symlink("../etc/config.txt", root + "/bin/link")
        for d in ["/etc", "/bin", "/big"] { setMtime(root + d, 1_700_000_000) }
    }

    static func write(_ root: String, to path: String, _ c: Compression, workers: Int = 2) throws -> LayerBlob {
        let w = try LayerWriter(path: path, compression: c, workers: workers)
        try LayerPacker().pack(directory: root, into: w.tar)
        return try w.finish()
    }

    /// Decompresses a blob file fully and returns (digest, size) of the stream.
    static func decompressedDigest(_ path: String) throws -> (Digest, Int64) {
        let kind = try DetectedCompression.detect(path: path)
        let src = try kind.decompressing(FileSource(path: path))
        let sink = DigestingSink()
        try src.copy(to: sink)
        try sink.finish()
        return (sink.digest, sink.count)
    }

    @Test func gzipIsValidDeterministicAndIndependentOfWorkers() async throws {
        let dir = try TemporaryDirectory()
        try Self.makeTree(dir.file("tree"))
        let one = try Self.write(dir.file("tree"), to: dir.file("w1.tgz"), .gzip(level: 6), workers: 1)
        let four = try Self.write(dir.file("tree"), to: dir.file("w4.tgz"), .gzip(level: 6), workers: 4)
        #expect(one == four)
        #expect(try fileDigest(dir.file("w1.tgz")) == one.digest)
        try await sh("gzip -t \(dir.file("w1.tgz"))")
        let plain = try Self.write(dir.file("tree"), to: dir.file("plain.tar"), .uncompressed)
        #expect(plain.diffID == one.diffID)
        #expect(plain.digest == plain.diffID)
        #expect(try Self.decompressedDigest(dir.file("w1.tgz")).0 == one.diffID)
        // gzip's own output of the same tar: ours is within 1 %.
        try await sh("gzip -6 -n -c \(dir.file("plain.tar")) > \(dir.file("ref.gz"))")
        let ref = try FileManager.default.attributesOfItem(atPath: dir.file("ref.gz"))[.size] as? Int ?? 0
        #expect(Double(one.size) <= Double(ref) * 1.01, "ours \(one.size) vs gzip \(ref)")
        let header = try Array(Data(contentsOf: URL(fileURLWithPath: dir.file("w1.tgz"))).prefix(10))
        #expect(header == [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff])
    }

    @Test func gzipLevelsAreAppliedAndValidated() throws {
        let dir = try TemporaryDirectory()
        try Self.makeTree(dir.file("tree"))
        let fast = try Self.write(dir.file("tree"), to: dir.file("1.tgz"), .gzip(level: 1))
        let best = try Self.write(dir.file("tree"), to: dir.file("9.tgz"), .gzip(level: 9))
        let store = try Self.write(dir.file("tree"), to: dir.file("0.tgz"), .gzip(level: 0))
        #expect(best.size < fast.size)
        #expect(store.size > fast.size)
        #expect(Set([fast.diffID, best.diffID, store.diffID]).count == 1)
        #expect(throws: ArchiveError.invalidLevel(codec: "gzip", level: 10, range: 0...9)) { try Compression(name: "gzip", level: 10) }
        #expect(throws: ArchiveError.self) { try Compression(name: "zstd", level: 23) }
        #expect(throws: ArchiveError.self) { try Compression(name: "lz4") }
    }

    @Test func zstdIsValidAndLevelsMatter() async throws {
        let dir = try TemporaryDirectory()
        try Self.makeTree(dir.file("tree"))
        let z3 = try Self.write(dir.file("tree"), to: dir.file("3.zst"), .zstd(level: 3))
        let again = try Self.write(dir.file("tree"), to: dir.file("3b.zst"), .zstd(level: 3))
        #expect(z3 == again)
        let z1 = try Self.write(dir.file("tree"), to: dir.file("1.zst"), .zstd(level: 1))
        let z12 = try Self.write(dir.file("tree"), to: dir.file("12.zst"), .zstd(level: 12))
        #expect(z12.size < z1.size)
        try await sh("zstd -q -t \(dir.file("3.zst"))")
        #expect(try DetectedCompression.detect(path: dir.file("3.zst")) == .zstd)
        #expect(try Self.decompressedDigest(dir.file("3.zst")).0 == z3.diffID)
        #expect(z3.mediaType(oci: true) == MediaType.ociLayerZstd)
    }

    @Test func estargzFooterTOCAndChunks() async throws {
        let dir = try TemporaryDirectory()
        try Self.makeTree(dir.file("tree"))
        let blob = try Self.write(dir.file("tree"), to: dir.file("e.tgz"), .estargz(level: 6))
        try await sh("gzip -t \(dir.file("e.tgz"))")
        #expect(try DetectedCompression.detect(path: dir.file("e.tgz")) == .estargz)
        let data = try Array(Data(contentsOf: URL(fileURLWithPath: dir.file("e.tgz"))))
        let tocOffset = try #require(EstargzSink.parseFooter(Array(data.suffix(51))))
        // The TOC member: one tar entry named stargz.index.json whose sha256 is the annotation.
        let tocMember = Array(data[Int(tocOffset)..<(data.count - 51)])
        let reader = TarReader(source: try GunzipSource(source: MemorySource(tocMember)))
        let tocEntry = try #require(try reader.next())
        #expect(tocEntry.path == EstargzSink.tocName)
        let toc = try reader.content.readExactly(Int(tocEntry.size))
        #expect(Digest.of(toc) == blob.tocDigest)
        struct TOC: Decodable {
            struct Entry: Decodable { var name: String; var type: String; var offset: Int64?; var chunkOffset: Int64?; var digest: String? }
            var version: Int
            var entries: [Entry]
        }
        let parsed = try JSONDecoder().decode(TOC.self, from: Data(toc))
        #expect(parsed.version == 1)
        let regs = parsed.entries.filter { $0.type == "reg" }.map(\.name).sorted()
        #expect(regs == ["big/blob.bin", "bin/random.bin", "empty", "etc/config.txt"])
        let chunks = parsed.entries.filter { $0.name == "big/blob.bin" }
        #expect(chunks.count == 3)  // 9 MiB + 5 in 4 MiB chunks
        #expect(chunks.map { $0.chunkOffset ?? -1 } == [0, 4 << 20, 8 << 20])
        // Each chunk's offset starts a gzip member holding that chunk's bytes.
        let second = Int(chunks[1].offset ?? 0)
        #expect(data[second] == 0x1f && data[second + 1] == 0x8b)
        // The annotations and the diffID cover the whole decompressed stream, TOC included.
        let (digest, size) = try Self.decompressedDigest(dir.file("e.tgz"))
        #expect(digest == blob.diffID)
        #expect(size == blob.uncompressedSize)
        #expect(blob.annotations["io.containers.estargz.uncompressed-size"] == String(size))
        // A plain tar reader sees the layer's files and stops before the TOC.
        let listed = try await sh("tar -tzf \(dir.file("e.tgz"))")
        #expect(listed.contains("big/blob.bin") && !listed.contains(EstargzSink.tocName))
    }

    @Test func footerIsByteCompatibleWithBuildKit() throws {
        let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/reference/buildkit-samples/estargz/layer-8cf18585098c.estargz")
        let bytes = try Array(Data(contentsOf: sample))
        let theirs = Array(bytes.suffix(51))
        let offset = try #require(EstargzSink.parseFooter(theirs))
        #expect(EstargzSink.footer(tocOffset: offset) == theirs)
    }

    @Test func conversionKeepsTheTarAndRejectsNothingValid() throws {
        let dir = try TemporaryDirectory()
        try Self.makeTree(dir.file("tree"))
        let gz = try Self.write(dir.file("tree"), to: dir.file("a.tgz"), .gzipDefault)
        let zst = try LayerConverter.convert(source: dir.file("a.tgz"), to: dir.file("b.zst"), compression: .zstd(level: 3))
        #expect(zst.diffID == gz.diffID)
        let est = try LayerConverter.convert(source: dir.file("b.zst"), to: dir.file("c.tgz"), compression: .estargz(level: 6))
        #expect(est.tocDigest != nil)
        let back = try LayerConverter.convert(source: dir.file("c.tgz"), to: dir.file("d.tgz"), compression: .gzipDefault)
        #expect(back.diffID == gz.diffID)
        #expect(back.digest == gz.digest)
        let raw = try LayerConverter.convert(source: dir.file("d.tgz"), to: dir.file("e.tar"), compression: .uncompressed)
        #expect(raw.digest == gz.diffID)
        #expect(try DetectedCompression.detect(path: dir.file("e.tar")) == .uncompressed)
    }

    @Test func corruptCompressedDataFails() throws {
        let dir = try TemporaryDirectory()
        try Self.makeTree(dir.file("tree"))
        _ = try Self.write(dir.file("tree"), to: dir.file("a.tgz"), .gzipDefault)
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: dir.file("a.tgz"))))
        bytes[bytes.count / 2] ^= 0xff
        let src = try GunzipSource(source: MemorySource(bytes))
        #expect(throws: ArchiveError.self) { try src.copy(to: CountingSink()) }
    }
}
