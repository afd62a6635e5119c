import Foundation
import KilnBuild
import KilnOCI
import KilnSystem
import KilnTestSupport
import Testing

/// Dockerfile semantics as BuildKit defines them, checked on the files a real build exports:
/// scratch stages, COPY resolution, ONBUILD and the rest of what the conformance corpus covers.
@Suite struct DockerfileSemanticsTests {
    /// A registry with the busybox base, a context directory and a fresh root per build.
    struct Rig {
        let registry: TestRegistry
        let dir: TemporaryDirectory
        let base: String

        static func make() async throws -> Rig {
            let registry = try await TestRegistry()
            let dir = try TemporaryDirectory()
            try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
            let base = try await withTestClient { try await TestImage.busybox(host: registry.host, client: $0, scratch: dir.path) }
            return Rig(registry: registry, dir: dir, base: base)
        }

        /// Builds `dockerfile` (with `BASE` set) and exports it to a fresh directory; returns it.
        func export(_ dockerfile: String, buildArgs: [String: String] = [:]) async throws -> String {
            let out = dir.file("out-" + UUID().uuidString)
            _ = try await TestBuild.run(dockerfile, context: dir.file("ctx"), root: dir.file("root-" + UUID().uuidString),
                                        buildArgs: buildArgs.merging(["BASE": base]) { a, _ in a }) {
                $0.outputs = [.local(dest: out)]
            }
            return out
        }
    }

    @Test func copyFromAStageIntoScratchHoldsOnlyWhatWasCopied() async throws {
        let rig = try await Rig.make()
        let out = try await rig.export("""
            ARG BASE
            FROM ${BASE} AS build
            RUN echo -n hi > /out
            FROM scratch
            COPY --from=build /out .
            """)
        #expect(try HostFiles.list(out) == ["out"])
        #expect(try String(contentsOfFile: out + "/out", encoding: .utf8) == "hi")
    }

    @Test func aStepReadingUnchangedFilesOfAChangedStageIsStillAHit() async throws {
        let rig = try await Rig.make()
        let dockerfile = """
            ARG BASE
            FROM ${BASE} AS build
            COPY a.txt /a.txt
            RUN echo same > /out
            FROM ${BASE}
            COPY --from=build /out /copied
            RUN --mount=from=build,src=/out,target=/m cat /m > /mounted
            """
        let root = rig.dir.file("root")
        func build(_ text: String) async throws -> TestBuild.Outcome {
            try "\(text)\n".write(toFile: rig.dir.file("ctx/a.txt"), atomically: true, encoding: .utf8)
            return try await TestBuild.run(dockerfile, context: rig.dir.file("ctx"), root: root, buildArgs: ["BASE": rig.base])
        }
        _ = try await build("one")
        let second = try await build("two")
        let steps = second.result.steps
        #expect(steps.first { $0.key.hasSuffix("RUN echo same > /out") }?.value == .executed)
        #expect(steps.first { $0.key.hasSuffix("COPY --from=build /out /copied") }?.value == .cached)
        #expect(steps.first { $0.key.hasSuffix("cat /m > /mounted") }?.value == .cached)
    }
}
