import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// An interrupted build leaves nothing behind: a signal cancels it cleanly; after `kill -9`,
/// which cannot be caught, the next kiln command on the root removes what it left.
@Suite(.serialized) struct InterruptionTests {
    static let secret = "s3cr3t-\(UUID().uuidString)"

    static func longRun(_ rig: CLIRig) throws -> (args: [String], root: String) {
        // The marker is split in the Dockerfile so that only the running step prints it whole.
        try rig.dockerfile("FROM BASE\nRUN --mount=type=secret,id=tok,required sh -c 'echo STAR\"\"TED; sleep 60; echo never'\n")
        try secret.write(toFile: rig.dir.file("secret"), atomically: false, encoding: .utf8)
        let root = rig.dir.file("root-\(UUID().uuidString.prefix(6))")
        return (["build", "--root", root, "--progress", "plain", "--secret", "id=tok,src=\(rig.dir.file("secret"))", rig.dir.file("ctx")], root)
    }

    /// Whether the secret's bytes appear in any file under `root`.
    static func secretIsStored(under root: String) async -> Bool {
        (try? await ProcessRunner.run(["grep", "-r", "-l", "-a", secret, root])) != nil
    }

    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func aSignalDuringARunCancelsAndCleansUp(signal: Int32) async throws {
        let rig = try await CLIRig.make()
        let (args, root) = try Self.longRun(rig)
        let kiln = KilnProcess.start(args)
        try await kiln.waitFor("STARTED")
        #expect(try await Leftovers.of(root).mounts.count > 0, "the RUN should be mounted while it runs")
        kiln.send(signal)
        let status = try await kiln.wait()
        #expect(status == 128 + signal)
        #expect(kiln.printed.contains("CANCELED"), "\(kiln.printed)")
        #expect(try await Leftovers.of(root) == .none)
        #expect(await !Self.secretIsStored(under: root))
    }

    @Test func killNineThenTheNextCommandCleansUp() async throws {
        let rig = try await CLIRig.make()
        let (args, root) = try Self.longRun(rig)
        for round in 0..<3 {
            let kiln = KilnProcess.start(args)
            try await kiln.waitFor("STARTED")
            // Each build first cleans up after the one killed before it.
            #expect(kiln.printed.contains("cleaned up after 1 interrupted kiln process(es): 1 container(s)") == (round > 0), "\(kiln.printed)")
            kiln.send(SIGKILL)
            #expect(try await kiln.wait() == 128 + SIGKILL)
        }
        let left = try await Leftovers.of(root)
        #expect(!left.mounts.isEmpty && !left.containers.isEmpty, "kill -9 leaves something to clean: \(left)")
        let du = try await KilnProcess.run(["du", "--root", root])
        #expect(du.status == 0, "\(du.errorText)")
        #expect(du.errorText.contains("cleaned up after 1 interrupted kiln process(es): 1 container(s)"), "\(du.errorText)")
        #expect(try await Leftovers.of(root) == .none)
        #expect(await !Self.secretIsStored(under: root))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: root + "/claims")) ?? []).isEmpty)
    }

    @Test func aClosedOutputPipeCancelsTheBuild() async throws {
        let rig = try await CLIRig.make()
        let (args, root) = try Self.longRun(rig)
        // `kiln build … | head -c 1`: head exits after one byte of the rawjson progress.
        let script = "\(([KilnProcess.binary] + args).map { "'\($0)'" }.joined(separator: " ")) --progress rawjson 2>&1 | head -c 1 >/dev/null; echo \"${PIPESTATUS[0]}\""
        let shell = try await ProcessRunner.run(["bash", "-c", script.replacingOccurrences(of: "'--progress' 'plain'", with: "")])
        #expect(shell.text.trimmingCharacters(in: .whitespacesAndNewlines) == "\(128 + SIGPIPE)")
        #expect(try await Leftovers.of(root) == .none)
    }
}
