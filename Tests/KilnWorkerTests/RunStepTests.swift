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
import Synchronization
import Testing
import KilnProgress

/// RUN through runc on overlayfs snapshots, with a busybox base image made here.
@Suite(.serialized) struct RunStepTests {
    static func build(_ dockerfile: String, base: String, root: String, context: String, secrets: [String: String] = [:],
                      noCache: Bool = false, args: [String: String] = [:]) async throws -> (chain: [CachedLayer], logs: String) {
        let outcome = try await TestBuild.run(dockerfile, context: context, root: root, buildArgs: args.merging(["BASE": base]) { a, _ in a }) {
            $0.secrets = try BuildSecrets(files: secrets)
            $0.noCache = noCache
        }
        return (outcome.chain, outcome.logs)
    }

    /// A registry holding the busybox base, a temporary directory with a context directory.
    struct Rig {
        /// The registry (stopped when released).
        let registry: TestRegistry
        /// The test's directory, holding the context directory.
        let dir: TemporaryDirectory
        /// The base image reference.
        let base: String
    }

    static func busyboxRig(context: String = "ctx") async throws -> Rig {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withTestClient { try await TestImage.busybox(host: registry.host, client: $0, scratch: dir.path) }
        try FileManager.default.createDirectory(atPath: dir.file(context), withIntermediateDirectories: true)
        return Rig(registry: registry, dir: dir, base: base)
    }

    static func mountsUnder(_ path: String) -> [String] {
        ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").split(separator: "\n")
            .map { $0.split(separator: " ")[4] }.filter { $0.hasPrefix(path) }.map(String.init)
    }

    @Test func createsModifiesAndDeletesWithWhiteoutsAsANamedUserWithEnvAndWorkdir() async throws {
        let rig = try await Self.busyboxRig()
        let (dir, base) = (rig.dir, rig.base)
        let dockerfile = """
        ARG BASE
        FROM ${BASE}
        ENV GREETING=hello
        RUN echo new > /etc/new && echo changed > /etc/motd && rm /etc/gone && echo "EXEC[one]"
        USER app
        WORKDIR /home/app/work
        ARG LEVEL=3
        RUN echo "$(id -u):$(id -g):$(id -G) $GREETING $LEVEL $(pwd) $HOME" > out.txt
        """
        let (chain, logs) = try await Self.build(dockerfile, base: base, root: dir.file("state"), context: dir.file("ctx"))
        #expect(logs.contains("EXEC[one]"))
        let first = try TestLayers.entries(chain[1], root: dir.file("state"))
        #expect(first["etc/new"]?.1 == "new\n")
        #expect(first["etc/motd"]?.1 == "changed\n")
        #expect(first["etc/.wh.gone"] != nil)
        #expect(first["proc"] == nil && first["etc/resolv.conf"] == nil && first["etc/hosts"] == nil)
        let last = try TestLayers.entries(try #require(chain.last), root: dir.file("state"))
        let out = try #require(last["home/app/work/out.txt"])
        #expect(out.1 == "1000:1000:1000 50 hello 3 /home/app/work /home/app\n")
        #expect(out.0.uid == 1000)
        #expect(Self.mountsUnder(dir.path).isEmpty)

        // A second build reuses both RUNs: nothing executes.
        let again = try await Self.build(dockerfile, base: base, root: dir.file("state"), context: dir.file("ctx"))
        #expect(again.chain == chain)
        #expect(!again.logs.contains("EXEC["))
    }

    @Test func networkNoneHasOnlyLoopback() async throws {
        let rig = try await Self.busyboxRig()
        let (dir, base) = (rig.dir, rig.base)
        let (_, logs) = try await Self.build("""
        ARG BASE
        FROM ${BASE}
        RUN --network=none echo "NONE[$(ls /sys/class/net | wc -l)]"
        RUN echo "HOST[$(ls /sys/class/net | wc -l)]"
        """, base: base, root: dir.file("state"), context: dir.file("ctx"))
        #expect(logs.contains("NONE[1]"))
        #expect(!logs.contains("HOST[1]"))
    }

    @Test func aFailingRunReportsItsExitCodeAndLeavesNothingBehind() async throws {
        let rig = try await Self.busyboxRig()
        let (dir, base) = (rig.dir, rig.base)
        do {
            _ = try await Self.build("ARG BASE\nFROM ${BASE}\nRUN echo last words && exit 3\n", base: base,
                                     root: dir.file("state"), context: dir.file("ctx"))
            Issue.record("expected the build to fail")
        } catch {
            let text = "\(error)"
            #expect(text.contains("exit code: 3"))
            // The output is the progress display's to show (once, under the error), not the message's.
            #expect(!text.contains("\n"), "the error is one line: \(text)")
            #expect(text.contains("[stage-0 2/2] RUN echo last words && exit 3"))
        }
        #expect(Self.mountsUnder(dir.path).isEmpty, "mounts left: \(Self.mountsUnder(dir.path))")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: dir.file("state/tmp"))) ?? []
        #expect(leftovers.isEmpty, "temp dirs left: \(leftovers)")
        let list = try await ProcessRunner.run(["runc", "--root", dir.file("state/runc"), "list", "-q"])
        #expect(list.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    @Test func cacheMountsPersistAndStayOutOfLayers() async throws {
        let rig = try await Self.busyboxRig()
        let (dir, base) = (rig.dir, rig.base)
        let dockerfile = """
        ARG BASE
        FROM ${BASE}
        RUN --mount=type=cache,target=/var/cache/app,id=app echo run >> /var/cache/app/log && echo "COUNT[$(wc -l < /var/cache/app/log)]" && echo out > /result
        RUN --mount=type=tmpfs,target=/scratch echo tmp > /scratch/x && echo "TMPFS[ok]"
        """
        let first = try await Self.build(dockerfile, base: base, root: dir.file("state"), context: dir.file("ctx"))
        #expect(first.logs.contains("COUNT[1]"))
        // A changed step runs again over what the cache mount kept.
        let changed = dockerfile.replacingOccurrences(of: "echo out", with: "echo out2")
        let second = try await Self.build(changed, base: base, root: dir.file("state"), context: dir.file("ctx"))
        #expect(second.logs.contains("COUNT[2]"), "the cache mount kept its content across builds")
        // --no-cache starts cache mounts afresh, as BuildKit does.
        let fresh = try await Self.build(changed, base: base, root: dir.file("state"), context: dir.file("ctx"), noCache: true)
        #expect(fresh.logs.contains("COUNT[1]"))
        for layer in second.chain.dropFirst() {
            let names = try TestLayers.entries(layer, root: dir.file("state")).keys
            #expect(!names.contains { $0.hasPrefix("var/cache") || $0.hasPrefix("scratch") }, "mount content or mount point leaked: \(names)")
        }
    }

    @Test func secretsAreNeverStoredKeyedOrLogged() async throws {
        let rig = try await Self.busyboxRig()
        let (dir, base) = (rig.dir, rig.base)
        let secretValue = "s3cr3t-\(UUID().uuidString)"
        try secretValue.write(toFile: dir.file("token"), atomically: true, encoding: .utf8)
        let dockerfile = """
        ARG BASE
        FROM ${BASE}
        RUN --mount=type=secret,id=token,required test "$(cat /run/secrets/token)" != "" && echo "SECRET[$(wc -c < /run/secrets/token)]" && echo done > /used
        """
        let result = try await Self.build(dockerfile, base: base, root: dir.file("state"), context: dir.file("ctx"),
                                          secrets: ["token": dir.file("token")])
        #expect(result.logs.contains("SECRET[\(secretValue.utf8.count)]"))
        #expect(!result.logs.contains(secretValue))
        // Not in any layer, blob, metadata or temp file under the state directory.
        let grep = try? await ProcessRunner.run(["grep", "-r", "-l", "-a", secretValue, dir.file("state")])
        #expect(grep == nil, "secret found in: \(grep?.text ?? "")")
        let names = try TestLayers.entries(try #require(result.chain.last), root: dir.file("state")).keys
        #expect(!names.contains { $0.hasPrefix("run") })
        // A missing required secret fails clearly.
        await #expect {
            _ = try await Self.build(dockerfile, base: base, root: dir.file("state2"), context: dir.file("ctx"))
        } throws: { error in "\(error)".contains("secret token is required") }
    }

    @Test func bindMountContentIsPartOfTheKey() async throws {
        let rig = try await Self.busyboxRig(context: "ctx/conf")
        let (dir, base) = (rig.dir, rig.base)
        try "v1\n".write(toFile: dir.file("ctx/conf/value"), atomically: true, encoding: .utf8)
        let dockerfile = """
        ARG BASE
        FROM ${BASE}
        RUN --mount=type=bind,source=conf,target=/mnt/conf echo "VALUE[$(cat /mnt/conf/value)]" && cp /mnt/conf/value /value
        """
        let one = try await Self.build(dockerfile, base: base, root: dir.file("state"), context: dir.file("ctx"))
        #expect(one.logs.contains("VALUE[v1]"))
        let same = try await Self.build(dockerfile, base: base, root: dir.file("state"), context: dir.file("ctx"))
        #expect(!same.logs.contains("VALUE["))
        try "v2\n".write(toFile: dir.file("ctx/conf/value"), atomically: true, encoding: .utf8)
        let changed = try await Self.build(dockerfile, base: base, root: dir.file("state"), context: dir.file("ctx"))
        #expect(changed.logs.contains("VALUE[v2]"), "a changed bind-mounted file must re-run the step")
        let names = try TestLayers.entries(try #require(changed.chain.last), root: dir.file("state")).keys
        #expect(names.contains("value") && !names.contains { $0.hasPrefix("mnt") })
    }
}
