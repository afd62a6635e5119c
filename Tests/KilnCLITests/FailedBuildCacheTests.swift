import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// A build that fails still exports the cache of the steps that completed, to every
/// `--cache-to` in its mode; the build after the fix starts from them on an empty machine.
@Suite(.serialized) struct FailedBuildCacheTests {
    @Test(arguments: ["min", "max"])
    func theStepsBeforeAFailureAreExportedAndReused(_ mode: String) async throws {
        let rig = try await CLIRig.make()
        let cache = "\(rig.registry.host)/failed/cache:\(mode)"
        try rig.dockerfile("FROM BASE\nRUN echo one > /one\nRUN echo two > /two\nRUN echo three; exit 7\n")
        let failed = try await KilnProcess.run(["build", "--root", rig.dir.file("root1"), "--progress", "plain",
                                                "--cache-to", "type=registry,ref=\(cache),mode=\(mode)", rig.dir.file("ctx")])
        #expect(failed.status == 1)
        let lastLine = failed.errorText.split(separator: "\n").last ?? ""
        #expect(lastLine.hasPrefix("error: Dockerfile:4:") && lastLine.hasSuffix("exit code: 7"), "the build's own error ends it: \(lastLine)")
        #expect(failed.errorText.contains("writing cache manifest sha256:"), "\(failed.errorText)")

        try rig.dockerfile("FROM BASE\nRUN echo one > /one\nRUN echo two > /two\nRUN echo three-fixed\n")
        let fixed = try await KilnProcess.run(["build", "--root", rig.dir.file("root2"), "--progress", "plain",
                                               "--cache-from", "type=registry,ref=\(cache)", rig.dir.file("ctx")])
        #expect(fixed.status == 0, "\(fixed.errorText)")
        let lines = fixed.errorText.split(separator: "\n").map(String.init)
        func outcome(_ step: String) -> String? {
            guard let head = lines.first(where: { $0.hasSuffix(step) }), let n = head.split(separator: " ").first else { return nil }
            return lines.last { $0.hasPrefix(n + " ") && ($0.hasSuffix("CACHED") || $0.contains(" DONE ")) }
        }
        #expect(outcome("RUN echo one > /one")?.hasSuffix("CACHED") == true, "\(fixed.errorText)")
        #expect(outcome("RUN echo two > /two")?.hasSuffix("CACHED") == true, "\(fixed.errorText)")
        #expect(outcome("RUN echo three-fixed")?.contains("DONE") == true, "\(fixed.errorText)")
    }

    @Test func aFailedExportOfAFailedBuildIsAWarningNotTheError() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo one > /one\nRUN exit 5\n")
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), "--progress", "plain",
                                           "--cache-to", "type=registry,ref=127.0.0.1:1/nowhere/cache:1", rig.dir.file("ctx")],
                                          environment: ["KILN_CACHE_FROM_TIMEOUT": "2"])
        #expect(r.status == 1)
        #expect(r.errorText.contains("WARNING: exporting the cache of the failed build failed"), "\(r.errorText)")
        #expect(r.errorText.split(separator: "\n").last?.hasSuffix("exit code: 5") == true, "\(r.errorText)")
    }
}
