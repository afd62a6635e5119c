import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnTestSupport
import KilnBuild
import Logging
import Testing
import KilnProgress

/// Builds against a real registry with the real file-op worker: the local cache survives a
/// restart, reruns exactly what changed, and never downloads what a hit does not need.
@Suite struct LocalCacheBuildTests {
    /// Pushes a small base image (etc/passwd, etc/group, a home dir) and returns its reference.
    static func pushBase(_ client: RegistryClient, host: String, dir: TemporaryDirectory) async throws -> String {
        let rootfs = dir.file("base-rootfs")
        try FileManager.default.createDirectory(atPath: rootfs + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: rootfs + "/home/app", withIntermediateDirectories: true)
        chown(rootfs + "/home/app", 1000, 1000)
        chmod(rootfs + "/home/app", 0o700)
        try "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".write(toFile: rootfs + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\napp:x:1000:\n".write(toFile: rootfs + "/etc/group", atomically: true, encoding: .utf8)
        return try await TestImage.push(rootfs: rootfs, to: "\(host)/base/mini:1", client: client, scratch: dir.path, env: ["PATH=/bin"])
    }

    static let dockerfile = """
    ARG BASE
    FROM ${BASE} AS builder
    WORKDIR /src
    COPY src/ ./
    COPY --chown=app config.json /etc/app.json

    FROM ${BASE}
    COPY --from=builder /src/ /app/
    COPY --from=builder /etc/app.json /app/
    COPY notes.txt /app/
    ENV APP=1
    """

    struct Outcome {
        var chain: [CachedLayer]
        var outcomes: [String: BuildResult.StepOutcome]
        var downloaded: Int64
    }

    static func build(context: String, root: String, base: String, noCache: Bool = false, dockerfile: String = dockerfile) async throws -> Outcome {
        let built = try await TestBuild.run(dockerfile, context: context, root: root, buildArgs: ["BASE": base]) { $0.noCache = noCache }
        return Outcome(chain: built.chain, outcomes: built.result.steps, downloaded: built.downloadedBytes)
    }

    static func makeContext(_ dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try "alpha\n".write(toFile: dir + "/src/a.txt", atomically: true, encoding: .utf8)
        try "{}\n".write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try "notes\n".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
    }

    @Test func secondBuildIsFullyCachedAfterARestartAndDownloadsNoLayer() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withTestClient { client in try await Self.pushBase(client, host: registry.host, dir: dir) }
        try Self.makeContext(dir.file("ctx"))
        let cold = try await Self.build(context: dir.file("ctx"), root: dir.file("state"), base: base)
        #expect(cold.outcomes.values.allSatisfy { $0 == .executed })
        #expect(cold.outcomes.count == 6)
        let warm = try await Self.build(context: dir.file("ctx"), root: dir.file("state"), base: base)
        #expect(warm.chain == cold.chain)
        #expect(warm.outcomes.count == 6 && warm.outcomes.values.allSatisfy { $0 == .cached })
        #expect(warm.downloaded < 2000, "a fully cached build fetched \(warm.downloaded) bytes (only the base config may be read)")

        // The result's files are what the Dockerfile says.
        let store = try ContentStore(root: dir.file("state"))
        let out = dir.file("rootfs")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for l in cold.chain {
            let p = store.path(for: l.digest)
            try LayerApplier(root: out).apply(try DetectedCompression.detect(path: p).decompressing(FileSource(path: p)))
        }
        #expect(try String(contentsOfFile: out + "/app/a.txt", encoding: .utf8) == "alpha\n")
        #expect(try String(contentsOfFile: out + "/app/notes.txt", encoding: .utf8) == "notes\n")
        var st = stat()
        lstat(out + "/app/app.json", &st)
        #expect(st.st_uid == 1000 && st.st_gid == 1000)
    }

    @Test func changingAContextFileRerunsExactlyItsDependants() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withTestClient { client in try await Self.pushBase(client, host: registry.host, dir: dir) }
        try Self.makeContext(dir.file("ctx"))
        _ = try await Self.build(context: dir.file("ctx"), root: dir.file("state"), base: base)
        try "changed\n".write(toFile: dir.file("ctx/notes.txt"), atomically: true, encoding: .utf8)
        let second = try await Self.build(context: dir.file("ctx"), root: dir.file("state"), base: base)
        #expect(second.outcomes["[stage-1 4/4] COPY notes.txt /app/"] == .executed)
        #expect(second.outcomes.filter { $0.value == .executed }.count == 1)

        let fresh = try await Self.build(context: dir.file("ctx"), root: dir.file("state"), base: base, noCache: true)
        #expect(fresh.outcomes.count == 6 && fresh.outcomes.values.allSatisfy { $0 == .executed })
    }

    @Test func aFailingStepNamesItself() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withTestClient { client in try await Self.pushBase(client, host: registry.host, dir: dir) }
        try Self.makeContext(dir.file("ctx"))
        await #expect {
            _ = try await Self.build(context: dir.file("ctx"), root: dir.file("state"), base: base,
                                     dockerfile: "ARG BASE\nFROM ${BASE}\nCOPY --chown=nobody x.json /x\n")
        } throws: { error in
            "\(error)".contains("x.json")
        }
        await #expect {
            _ = try await Self.build(context: dir.file("ctx"), root: dir.file("state"), base: base,
                                     dockerfile: "ARG BASE\nFROM ${BASE}\nCOPY --chown=nobody config.json /x\n")
        } throws: { error in
            "\(error)".contains("[stage-0 2/2] COPY --chown=nobody config.json /x") && "\(error)".contains("nobody")
        }
    }
}

/// `.dockerignore`, `ADD` of a local tar, `--chmod` and `--exclude`, end to end.
@Suite struct CopySemanticsBuildTests {
    @Test func ignoreAddTarChmodAndExclude() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withTestClient { client in try await LocalCacheBuildTests.pushBase(client, host: registry.host, dir: dir) }
        let ctx = dir.file("ctx")
        try FileManager.default.createDirectory(atPath: ctx + "/src/tmp", withIntermediateDirectories: true)
        try "keep\n".write(toFile: ctx + "/src/keep.txt", atomically: true, encoding: .utf8)
        try "secret\n".write(toFile: ctx + "/src/secret.key", atomically: true, encoding: .utf8)
        try "scratch\n".write(toFile: ctx + "/src/tmp/x.tmp", atomically: true, encoding: .utf8)
        try "**/*.key\n".write(toFile: ctx + "/.dockerignore", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir.file("tarsrc/inner"), withIntermediateDirectories: true)
        try "from tar\n".write(toFile: dir.file("tarsrc/inner/f.txt"), atomically: true, encoding: .utf8)
        _ = try await ProcessRunner.run(["tar", "-czf", ctx + "/bundle.tar.gz", "-C", dir.file("tarsrc"), "inner"])
        let dockerfile = """
        ARG BASE
        FROM ${BASE}
        COPY --chmod=600 --exclude=tmp/*.tmp src/ /data/
        ADD bundle.tar.gz /opt/
        """
        let result = try await LocalCacheBuildTests.build(context: ctx, root: dir.file("state"), base: base, dockerfile: dockerfile)
        let store = try ContentStore(root: dir.file("state"))
        let out = dir.file("rootfs")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // The base layer was never needed, so never downloaded: apply what the build made.
        for l in result.chain where store.contains(l.digest) {
            let p = store.path(for: l.digest)
            try LayerApplier(root: out).apply(try DetectedCompression.detect(path: p).decompressing(FileSource(path: p)))
        }
        #expect(FileManager.default.fileExists(atPath: out + "/data/keep.txt"))
        #expect(!FileManager.default.fileExists(atPath: out + "/data/secret.key"), ".dockerignore'd file was copied")
        #expect(!FileManager.default.fileExists(atPath: out + "/data/tmp/x.tmp"), "--exclude'd file was copied")
        var st = stat()
        lstat(out + "/data/keep.txt", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: out + "/opt/inner/f.txt", encoding: .utf8) == "from tar\n")
        // The ignored file is not part of the key either: changing it keeps the cache.
        try "other secret\n".write(toFile: ctx + "/src/secret.key", atomically: true, encoding: .utf8)
        let again = try await LocalCacheBuildTests.build(context: ctx, root: dir.file("state"), base: base, dockerfile: dockerfile)
        #expect(again.outcomes.values.allSatisfy { $0 == .cached })
    }
}

/// A change keeps what it does not change: existing directories above a COPY destination or a
/// WORKDIR keep their owner and mode (regression: they were reset to root 0755).
@Suite struct ExistingDirectoryTests {
    @Test func copyAndWorkdirKeepExistingParents() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withTestClient { client in try await LocalCacheBuildTests.pushBase(client, host: registry.host, dir: dir) }
        let ctx = dir.file("ctx")
        try FileManager.default.createDirectory(atPath: ctx, withIntermediateDirectories: true)
        try "x\n".write(toFile: ctx + "/x.txt", atomically: true, encoding: .utf8)
        let result = try await LocalCacheBuildTests.build(context: ctx, root: dir.file("state"), base: base, dockerfile: """
        ARG BASE
        FROM ${BASE}
        WORKDIR /home/app
        COPY x.txt /home/app/sub/x.txt
        """)
        // WORKDIR on an existing directory changes nothing: no layer.
        #expect(result.chain.count == 2)
        let store = try ContentStore(root: dir.file("state"))
        let reader = TarReader(source: try GunzipSource(source: FileSource(path: store.path(for: result.chain[1].digest))))
        var entries: [String: TarEntry] = [:]
        while let e = try reader.next() { entries[e.path] = e }
        #expect(entries["home/app"]?.uid == 1000 && entries["home/app"]?.mode == 0o700)
        #expect(entries["home/app/sub"]?.uid == 0 && entries["home/app/sub"]?.mode == 0o755)
        #expect(entries["home/app/sub/x.txt"] != nil)
    }
}
