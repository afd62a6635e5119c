import Foundation
@testable import KilnArchive
import KilnTestSupport
import Testing

/// The tar reader and writer on their own, and against GNU tar and bsdtar.
@Suite struct TarFormatTests {
    static let longName = (1...12).map { "directory-\($0)" }.joined(separator: "/") + "/file-with-a-long-name.txt"

    /// Writes a sample archive covering every entry kind and every PAX trigger.
    static func sampleArchive() throws -> [UInt8] {
        let sink = MemorySink()
        let tar = TarWriter(sink: sink)
        try tar.writeHeader(TarEntry(path: "dir", kind: .directory, mode: 0o755, mtime: 1_700_000_000))
        let content = Array("hello\n".utf8)
        try tar.writeHeader(TarEntry(path: "dir/file", kind: .regular, mode: 0o4755, uid: 1000, gid: 1000, size: Int64(content.count), mtime: 1_700_000_001))
        try content.withUnsafeBytes { try tar.writeContent($0) }
        try tar.writeHeader(TarEntry(path: longName, kind: .regular, size: 0, mtime: 5))
        try tar.writeHeader(TarEntry(path: "dir/link", kind: .symlink, mode: 0o777, linkName: "/" + longName))
        try tar.writeHeader(TarEntry(path: "dir/hard", kind: .hardlink, linkName: "dir/file"))
        try tar.writeHeader(TarEntry(path: "dir/big-ids", kind: .regular, uid: 3_000_000, gid: 4_000_000, mtime: 1))
        try tar.writeHeader(TarEntry(path: "dir/caps", kind: .regular, xattrs: ["security.capability": [1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "user.note": Array("ünï".utf8)]))
        try tar.writeHeader(TarEntry(path: "dir/null", kind: .characterDevice, mode: 0o666, devMajor: 1, devMinor: 3))
        try tar.writeHeader(TarEntry(path: "dir/loop", kind: .blockDevice, mode: 0o660, devMajor: 7, devMinor: 0))
        try tar.writeHeader(TarEntry(path: "dir/pipe", kind: .fifo, mode: 0o600))
        try tar.writeHeader(TarEntry(path: "dir/ünicode-名前", kind: .regular))
        try tar.finish()
        return sink.bytes
    }

    @Test func roundTripsEveryKindAndPAXField() throws {
        let bytes = try Self.sampleArchive()
        #expect(bytes.count % 512 == 0)
        let reader = TarReader(source: MemorySource(bytes))
        var entries: [TarEntry] = []
        while let e = try reader.next() {
            if e.kind == .regular && e.size > 0 {
                let data = try reader.content.readExactly(Int(e.size))
                #expect(data == Array("hello\n".utf8))
            }
            entries.append(e)
        }
        #expect(entries.map(\.path) == ["dir", "dir/file", Self.longName, "dir/link", "dir/hard", "dir/big-ids", "dir/caps",
                                        "dir/null", "dir/loop", "dir/pipe", "dir/ünicode-名前"])
        #expect(entries[1].mode == 0o4755 && entries[1].uid == 1000)
        #expect(entries[3].linkName == "/" + Self.longName)
        #expect(entries[4].kind == .hardlink && entries[4].linkName == "dir/file")
        #expect(entries[5].uid == 3_000_000 && entries[5].gid == 4_000_000)
        #expect(entries[6].xattrs["security.capability"]?.count == 20)
        #expect(entries[6].xattrs["user.note"] == Array("ünï".utf8))
        #expect(entries[7].kind == .characterDevice && entries[7].devMajor == 1 && entries[7].devMinor == 3)
        #expect(entries[9].kind == .fifo)
    }

    @Test func sizesBeyondOctalUsePAX() throws {
        let sink = MemorySink()
        let tar = TarWriter(sink: sink)
        let huge: Int64 = 9 * 1024 * 1024 * 1024
        try tar.writeHeader(TarEntry(path: "huge.bin", kind: .regular, size: huge))
        let reader = TarReader(source: MemorySource(sink.bytes))
        let e = try #require(try reader.next())
        #expect(e.size == huge)
        #expect(String(decoding: sink.bytes, as: UTF8.self).contains("size=\(huge)"))
    }

    @Test func gnuTarAndBsdtarReadOurArchives() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("sample.tar")
        try Data(try Self.sampleArchive()).write(to: URL(fileURLWithPath: path))
        let gnu = try await sh("tar -tf \(path)").split(separator: "\n").map { $0.hasSuffix("/") ? String($0.dropLast()) : String($0) }
        let bsd = try await sh("bsdtar -tf \(path)").split(separator: "\n").map { $0.hasSuffix("/") ? String($0.dropLast()) : String($0) }
        #expect(gnu == bsd)
        #expect(gnu.contains(Self.longName))
        #expect(gnu.contains("dir/ünicode-名前"))
        let out = dir.file("x")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try await sh("tar --xattrs --xattrs-include='*' -xpf \(path) -C \(out)")
        #expect(try String(contentsOfFile: out + "/dir/file", encoding: .utf8) == "hello\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + "/dir/link") == "/" + Self.longName)
        let verbose = try await sh("tar -tvf \(path) dir/big-ids")
        #expect(verbose.contains("3000000/4000000"))
        let bsdx = dir.file("y")
        try FileManager.default.createDirectory(atPath: bsdx, withIntermediateDirectories: true)
        try await sh("bsdtar -xpf \(path) -C \(bsdx)")
        #expect(try String(contentsOfFile: bsdx + "/dir/file", encoding: .utf8) == "hello\n")
    }

    @Test(arguments: ["gnu", "pax", "ustar", "v7"])
    func weReadArchivesGNUTarWrites(_ format: String) async throws {
        let dir = try TemporaryDirectory()
        let src = dir.file("src")
        let shortOnly = format == "ustar" || format == "v7"
        let long = shortOnly ? "short/name.txt" : Self.longName
        try makeFile(src + "/" + long, "payload")
        symlink("name-target", src + "/sym")
        try await sh("cd \(src) && tar --format=\(format) -cf \(dir.file("a.tar")) .")
        let reader = TarReader(source: try FileSource(path: dir.file("a.tar")))
        var names: [String: TarEntry] = [:]
        while let e = try reader.next() {
            if e.kind == .regular && e.size > 0 {
                #expect(try reader.content.readExactly(Int(e.size)) == Array("payload".utf8))
            }
            names[e.path] = e
        }
        #expect(names["./" + long]?.kind == .regular)
        #expect(names["./sym"]?.linkName == "name-target")
    }

    @Test func corruptHeadersAreRejected() throws {
        var bytes = try Self.sampleArchive()
        bytes[600] ^= 0xff  // inside the second header block
        let reader = TarReader(source: MemorySource(bytes))
        #expect(throws: ArchiveError.self) {
            while try reader.next() != nil {}
        }
        let truncated = Array(try Self.sampleArchive().prefix(700))
        let r2 = TarReader(source: MemorySource(truncated))
        #expect(throws: ArchiveError.self) {
            while let e = try r2.next() { if e.size > 0 { _ = try r2.content.readExactly(Int(e.size)) } }
        }
    }
}
