import CKilnSys
import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnTestSupport
import Testing

/// Cache keys are computed before anything runs and change exactly when a step's inputs do.
@Suite struct CacheKeyTests {
    static let dockerfile = """
    ARG BASE=reg/base:1
    FROM ${BASE} AS builder
    WORKDIR /src
    COPY src/ ./
    RUN m=builder-1; echo one
    RUN m=builder-2; echo two
    ARG FLAVOR=plain
    RUN m=builder-3; echo "flavor=$FLAVOR"

    FROM ${BASE} AS assets
    RUN m=assets-1; echo assets

    FROM ${BASE} AS final
    COPY --from=builder /out/ /app/
    COPY --from=assets /assets/ /app/assets/
    COPY config.json /app/config.json
    ENV APP_HOME=/app
    CMD ["/bin/sh"]
    """

    static func image(_ ref: String, digestSeed: String = "m1") -> ResolvedImage {
        var config = ImageConfig()
        config.diffIDs = [Digest.of(Data("layer".utf8))]
        return ResolvedImage(reference: ref, manifestDigest: Digest.of(Data(digestSeed.utf8)), config: config, platform: .linuxAMD64)
    }

    /// Keys by vertex name for a context directory and build args.
    static func keys(context: String, args: [String: String] = [:], dockerfile: String = dockerfile,
                     image: ResolvedImage = image("reg/base:1")) async throws -> [String: Digest] {
        let parsed = try DockerfileParser().parse(dockerfile)
        let plan = try await BuildPlanner(options: PlanOptions(buildArgs: args)).plan(parsed) { _, _ in nil }
        let graph = try GraphBuilder(contextDirectory: context).build(plan, images: [image.reference: image])
        var out: [String: Digest] = [:]
        for v in graph.vertices { out[v.name] = v.key.id }
        return out
    }

    static func makeContext(_ dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try Data("alpha\n".utf8).write(to: URL(fileURLWithPath: dir + "/src/a.txt"))
        try Data("beta\n".utf8).write(to: URL(fileURLWithPath: dir + "/src/b.txt"))
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        try Data("unrelated\n".utf8).write(to: URL(fileURLWithPath: dir + "/README"))
    }

    static let copySrc = "[builder 3/6] COPY src/ ./"
    static let copyConfig = "[final 4/4] COPY config.json /app/config.json"

    func changed(_ a: [String: Digest], _ b: [String: Digest]) -> Set<String> {
        Set(a.keys.filter { a[$0] != b[$0] })
    }

    @Test func keysAreStableAcrossRunsAndMachines() async throws {
        let dir = try TemporaryDirectory()
        try Self.makeContext(dir.path)
        let a = try await Self.keys(context: dir.path)
        let b = try await Self.keys(context: dir.path)
        #expect(a == b)
        #expect(a.count == 10)  // image + 5 builder + 1 assets + 3 final; names are unique
        // Another checkout of the same files (new inodes and mtimes) gives the same keys.
        let other = try TemporaryDirectory()
        try Self.makeContext(other.path)
        #expect(try await Self.keys(context: other.path) == a)
    }

    @Test func contentModeAndOwnerChangeTheCopyKeyMtimeAndUnrelatedFilesDoNot() async throws {
        let dir = try TemporaryDirectory()
        try Self.makeContext(dir.path)
        let base = try await Self.keys(context: dir.path)

        var ts = [timespec(tv_sec: 1_000, tv_nsec: 0), timespec(tv_sec: 1_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, dir.path + "/src/a.txt", &ts, 0)
        try Data("changed\n".utf8).write(to: URL(fileURLWithPath: dir.path + "/README"))
        #expect(try await Self.keys(context: dir.path) == base, "mtime or an unrelated file changed a key")

        chmod(dir.path + "/src/a.txt", 0o600)
        let mode = try await Self.keys(context: dir.path)
        #expect(changed(base, mode).contains(Self.copySrc))
        chmod(dir.path + "/src/a.txt", 0o644)

        chown(dir.path + "/src/a.txt", 1234, 1234)
        let owner = try await Self.keys(context: dir.path)
        #expect(changed(base, owner).contains(Self.copySrc))
        chown(dir.path + "/src/a.txt", 0, 0)

        try Data("ALPHA\n".utf8).write(to: URL(fileURLWithPath: dir.path + "/src/a.txt"))
        let content = try await Self.keys(context: dir.path)
        let diff = changed(base, content)
        #expect(diff.contains(Self.copySrc))
        #expect(!diff.contains("[assets 2/2] RUN m=assets-1; echo assets"))
        #expect(!diff.contains("[builder 2/6] WORKDIR /src"))
        // Everything after the COPY in its stage re-runs, and so does what builds on that stage.
        #expect(diff == [Self.copySrc, "[builder 4/6] RUN m=builder-1; echo one", "[builder 5/6] RUN m=builder-2; echo two",
                         "[builder 6/6] RUN m=builder-3; echo \"flavor=$FLAVOR\"", "[final 2/4] COPY --from=builder /out/ /app/",
                         "[final 3/4] COPY --from=assets /assets/ /app/assets/", Self.copyConfig])
    }

    @Test func buildArgChangesExactlyTheStepsThatUseIt() async throws {
        let dir = try TemporaryDirectory()
        try Self.makeContext(dir.path)
        let plain = try await Self.keys(context: dir.path)
        let spicy = try await Self.keys(context: dir.path, args: ["FLAVOR": "spicy"])
        // FLAVOR is in scope for builder's last RUN only; the final stage's steps depend on it
        // through the layer chain (each step's key links its predecessor).
        #expect(changed(plain, spicy) == [
            "[builder 6/6] RUN m=builder-3; echo \"flavor=$FLAVOR\"",
            "[final 2/4] COPY --from=builder /out/ /app/",
            "[final 3/4] COPY --from=assets /assets/ /app/assets/",
            Self.copyConfig,
        ])
        // An unused build arg changes nothing.
        #expect(try await Self.keys(context: dir.path, args: ["NOBODY": "x"]) == plain)
    }

    @Test func baseImageDigestChangesEverything() async throws {
        let dir = try TemporaryDirectory()
        try Self.makeContext(dir.path)
        let a = try await Self.keys(context: dir.path)
        let b = try await Self.keys(context: dir.path, image: Self.image("reg/base:1", digestSeed: "m2"))
        #expect(changed(a, b) == Set(a.keys))
    }

    @Test func missingAndEscapingSourcesAreErrors() async throws {
        let dir = try TemporaryDirectory()
        try Self.makeContext(dir.path)
        await #expect(throws: GraphError.self) {
            try await Self.keys(context: dir.path, dockerfile: "FROM reg/base:1\nCOPY nothere /x")
        }
        await #expect(throws: GraphError.self) {
            try await Self.keys(context: dir.path, dockerfile: "FROM reg/base:1\nCOPY *.nomatch /x")
        }
        let globbed = try await Self.keys(context: dir.path, dockerfile: "FROM reg/base:1\nCOPY src/*.txt /x/")
        #expect(globbed.count == 2)
    }
}
