import Foundation
@testable import KilnArchive
import KilnTestSupport
import Testing

/// Layers from changes (overlay upper dirs, two-tree diffs) and applying them back.
@Suite struct DiffApplyTests {
    static func entries(_ bytes: [UInt8]) throws -> [TarEntry] {
        let r = TarReader(source: MemorySource(bytes))
        var out: [TarEntry] = []
        while let e = try r.next() { out.append(e) }
        return out
    }

    @Test func packIsDeterministicAndIgnoresAtimeAndCtime() throws {
        let dir = try TemporaryDirectory()
        let root = dir.file("t")
        try makeFile(root + "/b/z.txt", "z")
        try makeFile(root + "/a.txt", "a", mode: 0o600)
        try makeFile(root + "/b/a.txt", "ba")
        link(root + "/a.txt", root + "/b/hard")
        symlink("a.txt", root + "/s")
        ProcessXattr.set(root + "/a.txt", "user.k", Array("v".utf8))
        for d in ["/b", ""] { setMtime(root + d, 1_600_000_000) }
        let first = try packToMemory(root)
        _ = try Data(contentsOf: URL(fileURLWithPath: root + "/a.txt"))  // atime
        chmod(root + "/b/z.txt", 0o644)  // ctime only
        let second = try packToMemory(root)
        #expect(first == second)
        let names = try Self.entries(first).map(\.path)
        #expect(names == ["a.txt", "b", "b/a.txt", "b/hard", "b/z.txt", "s"])
        let hard = try Self.entries(first).first { $0.path == "b/hard" }
        #expect(hard?.kind == .hardlink && hard?.linkName == "a.txt")
        #expect(try Self.entries(first)[0].xattrs["user.k"] == Array("v".utf8))
        #expect(try Self.entries(first).allSatisfy { $0.userName.isEmpty && $0.groupName.isEmpty })
    }

    @Test func sourceDateEpochClampsMtimes() throws {
        let dir = try TemporaryDirectory()
        try makeFile(dir.file("t/new"), "x", mtime: 2_000_000_000)
        try makeFile(dir.file("t/old"), "y", mtime: 1_000)
        let bytes = try packToMemory(dir.file("t"), options: PackOptions(sourceDateEpoch: 1_500_000_000))
        let m = Dictionary(uniqueKeysWithValues: try Self.entries(bytes).map { ($0.path, $0.mtime) })
        #expect(m["new"] == 1_500_000_000)
        #expect(m["old"] == 1_000)
    }

    /// A real overlay mount: changes made through it, its upper directory turned into a
    /// layer and trimmed; the layer applied to the lower, and the trimmed upper mounted over
    /// the lower, both give what the mount showed.
    @Test func overlayUpperBecomesWhiteoutsAndATrimmedLayerDirectory() async throws {
        let dir = try TemporaryDirectory()
        let (lower, upper, work, merged) = (dir.file("lower"), dir.file("upper"), dir.file("work"), dir.file("merged"))
        try makeFile(lower + "/etc/removed", "old")
        try makeFile(lower + "/etc/kept", "k")
        try makeFile(lower + "/var/cache/stale", "s")
        try makeFile(lower + "/var/cache/sub/old", "o")
        try makeFile(lower + "/data/untouched", "u")
        for d in [upper, work, merged] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        _ = try await sh("mount -t overlay overlay -o lowerdir=\(lower),upperdir=\(upper),workdir=\(work),redirect_dir=off,metacopy=off \(merged)")
        defer { umount2(merged, Int32(MNT_DETACH)) }
        // Opening for writing copies a file up unchanged; rm -rf + mkdir makes opaque directories.
        _ = try await sh("""
            cd \(merged) && echo new > etc/new.conf && rm etc/removed && exec 3<>data/untouched && \
            rm -rf var/cache && mkdir -p var/cache/sub && echo f > var/cache/fresh
            """)
        let shown = try TreeSnapshot(merged, includeDirMtimes: false)
        _ = try await sh("umount \(merged)")
        #expect(readXattr(upper + "/var/cache", "trusted.overlay.opaque") == Array("y".utf8), "root needed for trusted xattrs")

        let sink = MemorySink()
        let tar = TarWriter(sink: sink)
        try TreeDiff().diffOverlayUpper(upper, lower: lower, into: tar)
        try tar.finish()
        let names = try Self.entries(sink.bytes).map(\.path)
        #expect(names.contains("etc/.wh.removed") && names.contains("etc/new.conf") && names.contains("var/cache/fresh"))
        #expect(names.contains("var/cache/.wh.stale") && names.contains("var/cache/sub/.wh.old"))
        #expect(!names.contains("data/untouched") && !names.contains { $0.hasSuffix(TarEntry.opaqueWhiteout) }, "\(names)")

        // The layer on the lower gives the merged view.
        _ = try await sh("cp -a \(lower) \(dir.file("applied"))")
        try applyFromMemory(sink.bytes, to: dir.file("applied"))
        let applied = try TreeSnapshot(dir.file("applied"), includeDirMtimes: false)
        #expect(applied.differences(shown).isEmpty, "differs: \(applied.differences(shown))")

        // The trimmed upper, as a read-only layer over the lower, gives it too.
        #expect(readXattr(upper + "/var/cache", "trusted.overlay.opaque") == nil)
        #expect(!FileManager.default.fileExists(atPath: upper + "/data/untouched"))
        _ = try await sh("mount -t overlay overlay -o lowerdir=\(upper):\(lower) \(merged)")
        let remounted = try TreeSnapshot(merged, includeDirMtimes: false)
        _ = try await sh("umount \(merged)")
        #expect(remounted.differences(shown).isEmpty, "differs: \(remounted.differences(shown))")
    }

    /// A layer from elsewhere (a base image) with whiteouts and an opaque marker, unpacked in
    /// overlay's format on its own and mounted over the layer below: what it deletes is gone,
    /// what the opaque directory hides is hidden, what it writes is there.
    @Test func foreignWhiteoutsAndOpaqueMarkersUnpackInOverlayFormat() async throws {
        let dir = try TemporaryDirectory()
        let (lower, layer, merged) = (dir.file("lower"), dir.file("layer"), dir.file("merged"))
        try makeFile(lower + "/etc/gone", "g")
        try makeFile(lower + "/etc/kept", "k")
        try makeFile(lower + "/cache/stale", "s")
        let sink = MemorySink()
        let tar = TarWriter(sink: sink)
        try tar.writeHeader(TarEntry(path: "etc", kind: .directory, mode: 0o755))
        try tar.writeHeader(TarEntry(path: "etc/.wh.gone", kind: .regular, mode: 0))
        try tar.writeHeader(TarEntry(path: "cache", kind: .directory, mode: 0o755))
        try tar.writeHeader(TarEntry(path: "cache/.wh..wh..opq", kind: .regular, mode: 0))
        try tar.writeHeader(TarEntry(path: "cache/fresh", kind: .regular, mode: 0o644, size: 1))
        try [UInt8]([0x66]).withUnsafeBytes { try tar.writeContent($0) }
        try tar.finish()
        for d in [layer, merged] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try LayerApplier(root: layer, whiteouts: .overlay).apply(MemorySource(sink.bytes))
        _ = try await sh("mount -t overlay overlay -o lowerdir=\(layer):\(lower) \(merged)")
        defer { umount2(merged, Int32(MNT_DETACH)) }
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: merged + "/etc/gone") && fm.fileExists(atPath: merged + "/etc/kept"))
        #expect(!fm.fileExists(atPath: merged + "/cache/stale") && fm.fileExists(atPath: merged + "/cache/fresh"))
    }

    @Test func twoTreeDiffAppliedToLowerGivesUpper() async throws {
        let dir = try TemporaryDirectory()
        let lower = dir.file("lower"), upper = dir.file("upper")
        try makeFile(lower + "/keep", "same")
        try makeFile(lower + "/modify", "old")
        try makeFile(lower + "/remove", "gone")
        try makeFile(lower + "/chmod", "c")
        try makeFile(lower + "/dir/inner", "i")
        try makeFile(lower + "/typechange", "file")
        _ = try await sh("cp -a \(lower) \(upper)")
        try makeFile(upper + "/modify", "new content")
        try FileManager.default.removeItem(atPath: upper + "/remove")
        chmod(upper + "/chmod", 0o755)
        try FileManager.default.removeItem(atPath: upper + "/dir")
        try FileManager.default.removeItem(atPath: upper + "/typechange")
        try makeFile(upper + "/typechange/now-a-dir", "d")
        try makeFile(upper + "/added/deep/file", "added")
        for p in ["", "/added", "/added/deep", "/typechange"] { setMtime(upper + p, 1_650_000_000) }
        setMtime(lower, 1_650_000_000)

        let sink = MemorySink()
        let tar = TarWriter(sink: sink)
        try TreeDiff().diff(lower: lower, upper: upper, into: tar)
        try tar.finish()
        let names = try Self.entries(sink.bytes).map(\.path)
        #expect(!names.contains("keep"))
        #expect(names.contains(".wh.remove") && names.contains(".wh.dir"))
        #expect(names.contains("modify") && names.contains("chmod") && names.contains("added/deep/file"))

        try applyFromMemory(sink.bytes, to: lower)
        let a = try TreeSnapshot(lower, includeDirMtimes: false)
        let b = try TreeSnapshot(upper, includeDirMtimes: false)
        #expect(a.differences(b).isEmpty, "differs: \(a.differences(b))")
    }

    @Test func applyPreservesOwnershipModesXattrsAndTimes() throws {
        let dir = try TemporaryDirectory()
        let sink = MemorySink()
        let tar = TarWriter(sink: sink)
        try tar.writeHeader(TarEntry(path: "d", kind: .directory, mode: 0o750, uid: 123, gid: 456, mtime: 1_111_111_111))
        try tar.writeHeader(TarEntry(path: "d/suid", kind: .regular, mode: 0o4755, uid: 1000, gid: 1000, size: 2, mtime: 1_222_222_222,
                                     xattrs: ["user.x": [1, 2, 3]]))
        try [UInt8]([0x41, 0x42]).withUnsafeBytes { try tar.writeContent($0) }
        try tar.writeHeader(TarEntry(path: "d/fifo", kind: .fifo, mode: 0o640))
        try tar.writeHeader(TarEntry(path: "d/null", kind: .characterDevice, mode: 0o666, devMajor: 1, devMinor: 3))
        try tar.finish()
        let root = dir.file("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try applyFromMemory(sink.bytes, to: root)
        var st = stat()
        lstat(root + "/d/suid", &st)
        #expect(st.st_mode & 0o7777 == 0o4755)
        #expect(st.st_uid == 1000 && st.st_gid == 1000)
        #expect(st.st_mtim.tv_sec == 1_222_222_222)
        #expect(ProcessXattr.get(root + "/d/suid", "user.x") == [1, 2, 3])
        lstat(root + "/d", &st)
        #expect(st.st_mode & 0o7777 == 0o750 && st.st_uid == 123 && st.st_mtim.tv_sec == 1_111_111_111)
        lstat(root + "/d/fifo", &st)
        #expect(st.st_mode & S_IFMT == S_IFIFO)
        lstat(root + "/d/null", &st)
        #expect(st.st_mode & S_IFMT == S_IFCHR)
    }
}
