import Foundation
import KilnArchive
import KilnOCI
import KilnRegistry
import KilnStore
import KilnTestSupport
import Testing

/// Whatever a Dockerfile, a context or a base image asks, the host stays untouched: symlinks
/// resolve inside their own root, `..` never climbs out, and a canary directory on the host
/// stays byte-identical through every attack.
@Suite(.serialized) struct ContainmentTests {
    typealias Rig = RunStepTests.Rig

    /// Runs `dockerfile`, expecting it to fail with an error containing `message`.
    static func expectFailure(_ dockerfile: String, rig: Rig, root: String, message: String,
                              sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            _ = try await RunStepTests.build(dockerfile, base: rig.base, root: rig.dir.file(root), context: rig.dir.file("ctx"))
            Issue.record("expected the build to fail with \(message)", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains(message), "\(error)", sourceLocation: sourceLocation)
        }
    }

    /// The file at `path` in the last layer of `chain`.
    static func file(_ path: String, in chain: [CachedLayer], root: String) throws -> String? {
        guard let last = chain.last else { return nil }
        return try TestLayers.entries(last, root: root)[path]?.1
    }

    @Test func stageSymlinksResolveInsideTheStage() async throws {
        let rig = try await RunStepTests.busyboxRig()
        let canary = try HostCanary()
        let before = try canary.fingerprint()
        let stage = """
        ARG BASE
        FROM ${BASE} AS s
        RUN ln -s \(canary.path) /lnk && mkdir -p /real && echo inside > /real/f && ln -s /real /inlink && ln -s ../../real/f /rel
        FROM ${BASE}

        """
        // A link pointing inside the stage is followed inside it, as BuildKit does.
        let ok = try await RunStepTests.build(stage + "COPY --from=s /inlink/f /ok\nCOPY --from=s /rel /rel-copy\n",
                                              base: rig.base, root: rig.dir.file("state"), context: rig.dir.file("ctx"))
        #expect(try Self.file("rel-copy", in: ok.chain, root: rig.dir.file("state")) == "inside\n")
        #expect(try Self.file("ok", in: Array(ok.chain.dropLast()), root: rig.dir.file("state")) == "inside\n")
        // One pointing at the host finds nothing there: the host's files are never read or written.
        await Self.expectFailure(stage + "COPY --from=s /lnk/secret.txt /x\n", rig: rig, root: "state", message: "not found")
        await Self.expectFailure(stage + "RUN --mount=type=bind,from=s,source=/lnk,target=/h,rw sh -c 'echo pwned > /h/x; rm -f /h/victim'\n",
                                 rig: rig, root: "state", message: "not found")
        await Self.expectFailure(stage + "RUN --mount=type=bind,from=s,source=/lnk,target=/h cat /h/secret.txt\n",
                                 rig: rig, root: "state", message: "not found")
        #expect(try canary.fingerprint() == before)
    }

    @Test func contextSymlinksResolveInsideTheContext() async throws {
        let rig = try await RunStepTests.busyboxRig()
        let canary = try HostCanary()
        let before = try canary.fingerprint()
        symlink(canary.path, rig.dir.file("ctx/lnk"))
        symlink(canary.path + "/secret.txt", rig.dir.file("ctx/secret-link"))
        let head = "ARG BASE\nFROM ${BASE}\n"
        await Self.expectFailure(head + "COPY lnk/secret.txt /x\n", rig: rig, root: "state", message: "not found")
        await Self.expectFailure(head + "COPY secret-link /x\n", rig: rig, root: "state", message: "not found")
        await Self.expectFailure(head + "COPY lnk/sub/ /x/\n", rig: rig, root: "state", message: "not found")
        await Self.expectFailure(head + "RUN --mount=type=bind,source=lnk,target=/h,rw sh -c 'echo pwned > /h/x; rm -f /h/victim'\n",
                                 rig: rig, root: "state", message: "not found")
        await Self.expectFailure(head + "RUN --mount=type=bind,source=lnk/sub,target=/h cat /h/deep.txt\n",
                                 rig: rig, root: "state", message: "not found")
        #expect(try canary.fingerprint() == before)
    }

    @Test func imageSymlinksResolveInsideTheImage() async throws {
        let rig = try await RunStepTests.busyboxRig()
        let canary = try HostCanary()
        try "evil:x:4242:4242:evil:/:/bin/sh\n".write(toFile: canary.path + "/passwd", atomically: false, encoding: .utf8)
        let before = try canary.fingerprint()
        // A base image whose /etc/passwd and /lnk point at the host.
        let rootfs = rig.dir.file("evil-rootfs")
        try FileManager.default.createDirectory(atPath: rootfs + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        symlink("busybox", rootfs + "/bin/sh")
        symlink(canary.path + "/passwd", rootfs + "/etc/passwd")
        symlink(canary.path, rootfs + "/lnk")
        let evil = try await withTestClient {
            try await TestImage.push(rootfs: rootfs, to: "\(rig.registry.host)/evil/image:1", client: $0, scratch: rig.dir.path, env: ["PATH=/bin"])
        }
        try "x\n".write(toFile: rig.dir.file("ctx/f"), atomically: false, encoding: .utf8)
        await Self.expectFailure("FROM \(evil)\nUSER evil\nRUN id\n", rig: rig, root: "state", message: "evil")
        await Self.expectFailure("FROM \(evil)\nCOPY --chown=evil f /f\n", rig: rig, root: "state", message: "evil")
        await Self.expectFailure("ARG BASE\nFROM ${BASE}\nCOPY --from=\(evil) /lnk/secret.txt /x\n", rig: rig, root: "state", message: "not found")
        // Writing through the image's link lands inside the image, where the link leads there.
        let through = try await RunStepTests.build("FROM \(evil)\nCOPY f /lnk/dropped\nRUN cat /lnk/dropped \(canary.path)/dropped\n",
                                                   base: rig.base, root: rig.dir.file("state"), context: rig.dir.file("ctx"))
        #expect(through.logs.contains("x\nx\n"))
        #expect(try canary.fingerprint() == before)
    }

    @Test func workdirNeverClimbsOutOfTheRoot() async throws {
        let rig = try await RunStepTests.busyboxRig()
        let canary = try HostCanary()
        let before = try canary.fingerprint()
        let climb = String(repeating: "../", count: 20) + String(canary.path.dropFirst()) + "/made"
        let result = try await RunStepTests.build("ARG BASE\nFROM ${BASE}\nWORKDIR \(climb)\nRUN pwd > /where\n",
                                                  base: rig.base, root: rig.dir.file("state"), context: rig.dir.file("ctx"))
        #expect(try Self.file("where", in: result.chain, root: rig.dir.file("state")) == canary.path + "/made\n")
        #expect(!FileManager.default.fileExists(atPath: canary.path + "/made"))
        #expect(try canary.fingerprint() == before)
    }

    @Test func oneCharacterMountTargetsWork() async throws {
        let rig = try await RunStepTests.busyboxRig()
        try FileManager.default.createDirectory(atPath: rig.dir.file("ctx/d"), withIntermediateDirectories: true)
        try "v\n".write(toFile: rig.dir.file("ctx/d/v"), atomically: false, encoding: .utf8)
        let result = try await RunStepTests.build("""
        ARG BASE
        FROM ${BASE}
        RUN --mount=type=tmpfs,target=/x --mount=type=bind,source=d,target=/h --mount=type=cache,target=/c cat /h/v > /out && touch /x/t /c/t
        """, base: rig.base, root: rig.dir.file("state"), context: rig.dir.file("ctx"))
        let names = try TestLayers.entries(try #require(result.chain.last), root: rig.dir.file("state")).keys
        #expect(names.contains("out"))
        #expect(!names.contains { $0 == "x" || $0 == "h" || $0 == "c" || $0.hasPrefix("x/") }, "\(names)")
    }
}
