import CKilnSys
import Foundation
import KilnArchive
import KilnOCI
import KilnSolver
import KilnStore
import KilnTestSupport
import Testing

/// 500 real builds in one state directory, each after a random change to the context: every
/// step the solver reused is one whose inputs did not change, and the built files always match
/// the context — never a wrong cache hit.
@Suite struct NoFalseHitBuildTests {
    static let dockerfile = """
    ARG BASE
    FROM ${BASE}
    COPY src/ /s/
    COPY one.txt /o
    """

    @Test func fiveHundredBuildsWithRandomContextChanges() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withTestClient { client in try await LocalCacheBuildTests.pushBase(client, host: registry.host, dir: dir) }
        let ctx = dir.file("ctx")
        try FileManager.default.createDirectory(atPath: ctx + "/src/sub", withIntermediateDirectories: true)
        for (f, c) in [("src/a", "a"), ("src/b", "b"), ("src/sub/c", "c"), ("one.txt", "1"), ("other.txt", "x")] {
            try Data(c.utf8).write(to: URL(fileURLWithPath: ctx + "/" + f))
        }
        let copySrc = "[stage-0 2/3] COPY src/ /s/", copyOne = "[stage-0 3/3] COPY one.txt /o"
        var rng = SystemRandomNumberGenerator()
        var reused = 0, rerun = 0
        // Inputs of every build so far: a reuse is right only if an earlier build had the same inputs.
        var seenSrc: Set<String> = [TestLayers.oracle(ctx, "src")]
        var seenBoth: Set<String> = [TestLayers.oracle(ctx, "src") + "\u{1}" + TestLayers.oracle(ctx, "one.txt")]
        _ = try await LocalCacheBuildTests.build(context: ctx, root: dir.file("state"), base: base, dockerfile: Self.dockerfile)
        for round in 0..<500 {
            let files = ["src/a", "src/b", "src/sub/c", "one.txt", "other.txt"]
            let target = ctx + "/" + files[Int(rng.next() % UInt64(files.count))]
            switch rng.next() % 6 {
            case 0: try Data("v\(rng.next() % 3)".utf8).write(to: URL(fileURLWithPath: target))
            case 1: chmod(target, [0o644, 0o600, 0o755][Int(rng.next() % 3)])
            case 2: lchown(target, uid_t(rng.next() % 2), gid_t(rng.next() % 2))
            case 3:
                var ts = [timespec(tv_sec: Int(rng.next() % 1_000_000), tv_nsec: 0), timespec(tv_sec: Int(rng.next() % 1_000_000), tv_nsec: 0)]
                utimensat(AT_FDCWD, target, &ts, 0)
            case 4: try Data("n".utf8).write(to: URL(fileURLWithPath: ctx + "/src/new\(rng.next() % 3)"))
            default: unlink(ctx + "/src/new\(rng.next() % 3)")
            }
            let now = (src: TestLayers.oracle(ctx, "src"), one: TestLayers.oracle(ctx, "one.txt"))
            let result = try await LocalCacheBuildTests.build(context: ctx, root: dir.file("state"), base: base, dockerfile: Self.dockerfile)
            for (name, same) in [(copySrc, seenSrc.contains(now.src)), (copyOne, seenBoth.contains(now.src + "\u{1}" + now.one))] {
                if result.outcomes[name] == .cached {
                    reused += 1
                    if !same { Issue.record("round \(round): \(name) reused with inputs no earlier build had") }
                } else {
                    rerun += 1
                }
            }
            // The built layers hold exactly the current context's files.
            let store = try ContentStore(root: dir.file("state"))
            let top = try #require(result.chain.last)
            let reader = TarReader(source: try GunzipSource(source: FileSource(path: store.path(for: top.digest))))
            let entry = try #require(try reader.next())
            #expect(entry.path == "o")
            let data = try reader.content.readExactly(Int(entry.size))
            #expect(Data(data) == (try Data(contentsOf: URL(fileURLWithPath: ctx + "/one.txt"))), "round \(round): stale /o")
            // …and the COPY src/ layer holds exactly the context's src files.
            let srcLayer = result.chain[result.chain.count - 2]
            let srcReader = TarReader(source: try GunzipSource(source: FileSource(path: store.path(for: srcLayer.digest))))
            var inLayer: [String: Data] = [:]
            while let e = try srcReader.next() {
                if e.kind == .regular { inLayer[e.path] = Data(try srcReader.content.readExactly(Int(e.size))) }
            }
            var inContext: [String: Data] = [:]
            let enumerator = FileManager.default.enumerator(atPath: ctx + "/src")
            while let rel = enumerator?.nextObject() as? String {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: ctx + "/src/" + rel, isDirectory: &isDir), !isDir.boolValue {
                    inContext["s/" + rel] = try Data(contentsOf: URL(fileURLWithPath: ctx + "/src/" + rel))
                }
            }
            #expect(inLayer == inContext, "round \(round): /s differs from the context")
            seenSrc.insert(now.src)
            seenBoth.insert(now.src + "\u{1}" + now.one)
        }
        #expect(reused > 100 && rerun > 100, "\(reused) reused, \(rerun) re-run")
    }
}
