import CKilnSys
import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnTestSupport
import Testing

/// 500 random mutations of a build context: a COPY's key stays the same only when the files it
/// reads (content, kind, mode, owner, link target) are unchanged — never a wrong hit — and
/// changes of mtimes or of files it does not read keep the key.
@Suite struct NoFalseHitTests {
    static let dockerfile = """
    FROM reg/base:1
    COPY src/ /s/
    COPY one.txt /o
    RUN cat /s/*
    """

    static func keys(_ context: String) async throws -> [String: Digest] {
        try await graph(context).vertices.reduce(into: [:]) { $0[$1.name] = $1.key.id }
    }

    /// What `--explain` would compare: each step's facts and parent.
    static func facts(_ context: String) async throws -> [String: StepFacts] {
        try await graph(context).vertices.reduce(into: [:]) { $0[$1.name] = $1.facts }
    }

    static func graph(_ context: String) async throws -> BuildGraph {
        let plan = try await BuildPlanner().plan(try DockerfileParser().parse(dockerfile)) { _, _ in nil }
        var config = ImageConfig()
        config.diffIDs = [Digest.of(Data("l".utf8))]
        let img = ResolvedImage(reference: "reg/base:1", manifestDigest: Digest.of(Data("m".utf8)), config: config, platform: .linuxAMD64)
        return try GraphBuilder(contextDirectory: context).build(plan, images: ["reg/base:1": img])
    }

    static let copySrc = "[stage-0 2/4] COPY src/ /s/"
    static let copyOne = "[stage-0 3/4] COPY one.txt /o"

    @Test func fiveHundredRandomMutations() async throws {
        let dir = try TemporaryDirectory()
        let ctx = dir.path
        try FileManager.default.createDirectory(atPath: ctx + "/src/sub", withIntermediateDirectories: true)
        for (f, c) in [("src/a", "a"), ("src/b", "b"), ("src/sub/c", "c"), ("one.txt", "1"), ("other.txt", "x")] {
            try Data(c.utf8).write(to: URL(fileURLWithPath: ctx + "/" + f))
        }
        var rng = SystemRandomNumberGenerator()
        var hits = 0, misses = 0
        for round in 0..<500 {
            let beforeKeys = try await Self.keys(ctx)
            let beforeFacts = try await Self.facts(ctx)
            let before = (src: TestLayers.oracle(ctx, "src"), one: TestLayers.oracle(ctx, "one.txt"))
            let files = ["src/a", "src/b", "src/sub/c", "one.txt", "other.txt"]
            let target = ctx + "/" + files[Int(rng.next() % UInt64(files.count))]
            var what = ""
            switch rng.next() % 9 {
            case 0:
                what = "content"
                try Data("v\(rng.next() % 3)".utf8).write(to: URL(fileURLWithPath: target))
            case 1:
                what = "mode"
                chmod(target, [0o644, 0o600, 0o755][Int(rng.next() % 3)])
            case 2:
                what = "owner"
                lchown(target, uid_t(rng.next() % 2), gid_t(rng.next() % 2))
            case 3:
                what = "mtime"
                var ts = [timespec(tv_sec: Int(rng.next() % 1_000_000), tv_nsec: 0), timespec(tv_sec: Int(rng.next() % 1_000_000), tv_nsec: 0)]
                utimensat(AT_FDCWD, target, &ts, AT_SYMLINK_NOFOLLOW)
            case 4:
                what = "add"
                try Data("new".utf8).write(to: URL(fileURLWithPath: ctx + "/src/new\(rng.next() % 3)"))
            case 5:
                what = "delete-added"
                unlink(ctx + "/src/new\(rng.next() % 3)")
            case 6:
                what = "symlink"
                let l = ctx + "/src/link"
                unlink(l)
                symlink(["a", "b", "/etc/passwd"][Int(rng.next() % 3)], l)
            case 7:
                what = "same-content-rewrite"
                let data = (try? Data(contentsOf: URL(fileURLWithPath: target))) ?? Data()
                try data.write(to: URL(fileURLWithPath: target))
            default:
                what = "xattr"
                _ = "v\(rng.next() % 2)".withCString { v in lsetxattr(target, "user.k", v, strlen(v), 0) }
            }
            let afterKeys = try await Self.keys(ctx)
            let afterFacts = try await Self.facts(ctx)
            let after = (src: TestLayers.oracle(ctx, "src"), one: TestLayers.oracle(ctx, "one.txt"))
            // The second COPY builds on the first one's result: it reads both selections.
            let srcSame = before.src == after.src
            for (name, same) in [(Self.copySrc, srcSame), (Self.copyOne, srcSame && before.one == after.one)] {
                let keySame = beforeKeys[name] == afterKeys[name]
                if keySame { hits += 1 } else { misses += 1 }
                // A hit whose inputs changed would be a wrong cache hit.
                if keySame && !same {
                    Issue.record("round \(round): wrong hit for \(name) after \(what)")
                }
                // The oracle ignores xattrs, which do count: only then may a key change with equal oracle.
                if !keySame && same && what != "xattr" {
                    Issue.record("round \(round): needless miss for \(name) after \(what)")
                }
                // --explain can name every change that moves a key, and none that does not.
                let (b, a) = (beforeFacts[name], afterFacts[name])
                if keySame != (b?.values == a?.values && b?.parent == a?.parent) {
                    Issue.record("round \(round): \(name)'s facts and key disagree after \(what)")
                }
                if !keySame, let b, let a, b.parent == a.parent, MissReasons.compare(a, with: b).isEmpty {
                    Issue.record("round \(round): \(name) missed after \(what) with no reason to give")
                }
            }
        }
        #expect(hits > 100 && misses > 50, "mutations exercised both outcomes: \(hits) hits, \(misses) misses")
    }
}
