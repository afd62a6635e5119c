import Foundation
@testable import KilnArchive
import KilnTestSupport
import Testing

/// Layers that try to write outside the extraction root are refused, and nothing lands outside.
@Suite struct HostileTarTests {
    /// A work dir with `root/` to extract into and `outside/` that must stay empty.
    struct Jail {
        let dir: TemporaryDirectory
        var root: String { dir.file("root") }
        var outside: String { dir.file("outside") }
        init() throws {
            dir = try TemporaryDirectory()
            try FileManager.default.createDirectory(atPath: dir.file("root"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir.file("outside"), withIntermediateDirectories: true)
        }
        func outsideIsUntouched() throws -> Bool {
            try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty
                && FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["outside", "root"]
        }
    }

    static func tar(_ build: (TarWriter) throws -> Void) throws -> [UInt8] {
        let sink = MemorySink()
        let t = TarWriter(sink: sink)
        try build(t)
        try t.finish()
        return sink.bytes
    }

    static func file(_ t: TarWriter, _ path: String, _ content: String = "pwned") throws {
        let bytes = Array(content.utf8)
        try t.writeHeader(TarEntry(path: path, kind: .regular, size: Int64(bytes.count)))
        try bytes.withUnsafeBytes { try t.writeContent($0) }
    }

    @Test(arguments: ["../outside/x", "a/../../outside/x", "/etc/x", "./../x", "a/b/../../../x"])
    func dotDotAndAbsoluteNamesAreRefused(_ name: String) throws {
        let jail = try Jail()
        let bytes = try Self.tar { try Self.file($0, name) }
        #expect(throws: ArchiveError.self) { try applyFromMemory(bytes, to: jail.root) }
        #expect(try jail.outsideIsUntouched())
    }

    @Test func writesThroughAnAbsoluteSymlinkStayInsideTheRoot() throws {
        let jail = try Jail()
        let bytes = try Self.tar { t in
            try t.writeHeader(TarEntry(path: "escape", kind: .symlink, linkName: jail.outside))
            try Self.file(t, "escape/x")
        }
        try applyFromMemory(bytes, to: jail.root)
        #expect(try jail.outsideIsUntouched())
        // The link was read as if the root were '/': the file landed under root + outside-path.
        #expect(FileManager.default.fileExists(atPath: jail.root + jail.outside + "/x"))
    }

    @Test func relativeSymlinkChainsCannotClimbOut() throws {
        let jail = try Jail()
        let bytes = try Self.tar { t in
            try t.writeHeader(TarEntry(path: "a", kind: .symlink, linkName: "../../../../.."))
            try t.writeHeader(TarEntry(path: "b", kind: .symlink, linkName: "a/outside"))
            try Self.file(t, "b/x")
        }
        try applyFromMemory(bytes, to: jail.root)
        #expect(try jail.outsideIsUntouched())
        #expect(FileManager.default.fileExists(atPath: jail.root + "/outside/x"))
    }

    @Test func symlinkLoopsAreRefused() throws {
        let jail = try Jail()
        let bytes = try Self.tar { t in
            try t.writeHeader(TarEntry(path: "l1", kind: .symlink, linkName: "l2"))
            try t.writeHeader(TarEntry(path: "l2", kind: .symlink, linkName: "l1"))
            try Self.file(t, "l1/x")
        }
        #expect(throws: ArchiveError.self) { try applyFromMemory(bytes, to: jail.root) }
        #expect(try jail.outsideIsUntouched())
    }

    @Test(arguments: ["../outside/secret", "/etc/passwd"])
    func hardlinksOutsideAreRefused(_ target: String) throws {
        let jail = try Jail()
        try makeFile(jail.outside + "/secret", "s")
        let bytes = try Self.tar { t in
            try t.writeHeader(TarEntry(path: "h", kind: .hardlink, linkName: target))
        }
        #expect(throws: ArchiveError.self) { try applyFromMemory(bytes, to: jail.root) }
        #expect(!FileManager.default.fileExists(atPath: jail.root + "/h"))
    }

    @Test func hardlinkThroughASymlinkResolvesInside() throws {
        let jail = try Jail()
        try makeFile(jail.outside + "/secret", "s")
        let bytes = try Self.tar { t in
            try t.writeHeader(TarEntry(path: "up", kind: .symlink, linkName: jail.outside))
            try t.writeHeader(TarEntry(path: "h", kind: .hardlink, linkName: "up/secret"))
        }
        // `up/secret` means root/<outside>/secret, which does not exist: refused, not linked to the host file.
        #expect(throws: ArchiveError.self) { try applyFromMemory(bytes, to: jail.root) }
        var st = stat()
        lstat(jail.outside + "/secret", &st)
        #expect(st.st_nlink == 1)
    }

    @Test func overwritingASymlinkReplacesItInsteadOfFollowing() throws {
        let jail = try Jail()
        try makeFile(jail.outside + "/target", "original")
        symlink(jail.outside + "/target", jail.root + "/f")
        let bytes = try Self.tar { try Self.file($0, "f", "replaced") }
        try applyFromMemory(bytes, to: jail.root)
        #expect(try String(contentsOfFile: jail.outside + "/target", encoding: .utf8) == "original")
        #expect(try String(contentsOfFile: jail.root + "/f", encoding: .utf8) == "replaced")
    }

    @Test func whiteoutsCannotDeleteOutside() throws {
        let jail = try Jail()
        try makeFile(jail.outside + "/keep", "k")
        for name in ["../outside/.wh.keep", ".wh..", "x/.wh.."] {
            let bytes = try Self.tar { t in try t.writeHeader(TarEntry(path: name, kind: .regular)) }
            #expect(throws: ArchiveError.self) { try applyFromMemory(bytes, to: jail.root) }
        }
        symlink(jail.outside, jail.root + "/link")
        let viaLink = try Self.tar { t in try t.writeHeader(TarEntry(path: "link/.wh.keep", kind: .regular)) }
        try applyFromMemory(viaLink, to: jail.root)
        #expect(FileManager.default.fileExists(atPath: jail.outside + "/keep"))
    }
}
