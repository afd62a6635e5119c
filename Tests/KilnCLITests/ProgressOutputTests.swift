import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// What a user watching a build sees: RUN output as it is produced, in plain and rawjson; a
/// live terminal display whose timer ticks and which shows the running step's output; the
/// pushed digest in plain progress.
@Suite(.serialized) struct ProgressOutputTests {
    /// The markers are split in the Dockerfile so that the step's name does not contain them.
    static let sleeper = "FROM BASE\nRUN echo first-\"\"line; sleep 4; echo second-\"\"line\n"

    /// When each marker first appeared in what `kiln build` printed, decoding rawjson logs.
    static func arrivals(_ rig: CLIRig, mode: String, markers: [String]) async throws -> [String: Date] {
        let running = KilnProcess.start(["build", "--root", rig.dir.file("root-\(mode)"), "--progress", mode, "--no-cache", rig.dir.file("ctx")])
        var seen: [String: Date] = [:]
        let deadline = Date().addingTimeInterval(120)
        while seen.count < markers.count, Date() < deadline {
            let text = mode == "rawjson" ? Self.decodedLogs(running.printed) : running.printed
            for m in markers where seen[m] == nil && text.contains(m) { seen[m] = Date() }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await running.wait() == 0, "\(running.printed)")
        return seen
    }

    /// The log data of every complete rawjson line, decoded.
    static func decodedLogs(_ output: String) -> String {
        var out = ""
        for line in output.split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let logs = obj["logs"] as? [[String: Any]] else { continue }
            for l in logs { if let d = (l["data"] as? String).flatMap({ Data(base64Encoded: $0) }) { out += String(decoding: d, as: UTF8.self) } }
        }
        return out
    }

    @Test(arguments: ["plain", "rawjson"])
    func runOutputIsStreamedAsItIsProduced(_ mode: String) async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile(Self.sleeper)
        let seen = try await Self.arrivals(rig, mode: mode, markers: ["first-line", "second-line"])
        let gap = try #require(seen["second-line"]).timeIntervalSince(try #require(seen["first-line"]))
        #expect(gap >= 2.5, "\(mode): the first line came only \(gap)s before the second")
    }

    @Test func plainLinesCarryTheTimeSinceTheStepStarted() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile(Self.sleeper)
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), "--progress", "plain", rig.dir.file("ctx")])
        let lines = r.errorText.split(separator: "\n")
        func offset(_ marker: String) -> Double? {
            lines.first { $0.hasSuffix(marker) }.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Double($0) } }
        }
        let first = try #require(offset("first-line")), second = try #require(offset("second-line"))
        #expect(first < 1.5 && second - first >= 3.5, "\(r.errorText)")
    }

    @Test func thePushedDigestIsInPlainProgress() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo x > /x\n")
        let ref = "\(rig.registry.host)/progress/app:1"
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), "--progress", "plain", "-t", ref, "--push",
                                           "--cache-to", "type=registry,ref=\(rig.registry.host)/progress/cache:1,mode=max",
                                           "--metadata-file", rig.dir.file("md.json"), rig.dir.file("ctx")])
        #expect(r.status == 0, "\(r.errorText)")
        let md = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: rig.dir.file("md.json")))) as? [String: Any]
        let digest = try #require(md?["containerimage.digest"] as? String)
        #expect(r.errorText.contains("pushing manifest for \(ref)@\(digest)") && r.errorText.contains("@\(digest) ") , "\(r.errorText)")
        #expect(r.errorText.contains("exporting layers"))
        #expect(r.errorText.contains("writing cache manifest sha256:"), "\(r.errorText)")
    }

    @Test func aFailingRunShowsItsLastLinesOnceUnderItsName() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo compiling; echo last-words; exit 3\n")
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), "--progress", "plain", rig.dir.file("ctx")])
        #expect(r.status == 1)
        let text = r.errorText
        #expect(text.contains("------\n > [stage-0 2/2] RUN echo compiling; echo last-words; exit 3:\n"), "\(text)")
        // Streamed once, shown once in the block; the error line itself is one line.
        #expect(text.components(separatedBy: "last-words\n").count - 1 == 2, "\(text)")
        let errorLine = try #require(text.split(separator: "\n").last)
        #expect(errorLine.hasPrefix("error: Dockerfile:2:") && errorLine.hasSuffix("exit code: 3"), "\(errorLine)")
    }

    @Test func theTerminalDisplayTicksAndShowsTheRunningStepsOutput() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile(Self.sleeper)
        let session = "kiln-tty-\(getpid())"
        let command = "\(KilnProcess.binary) build --root \(rig.dir.file("root")) \(rig.dir.file("ctx")); echo EXIT=$?; sleep 60"
        // The tmux server outlives this call: it must hold none of the pipes the runner reads, so
        // every descriptor but the standard ones is closed before tmux starts.
        let closeAll = "for fd in $(ls /proc/$$/fd); do [ $fd -gt 2 ] && eval \"exec $fd>&-\"; done"
        _ = try await ProcessRunner.run(["bash", "-c", "\(closeAll); exec tmux new-session -d -s \(session) -x 120 -y 30 '\(command)' </dev/null >/dev/null 2>&1"])
        defer { _ = Task { try? await ProcessRunner.run(["tmux", "kill-session", "-t", session]) } }
        var frames: [String] = []
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            guard let pane = try? await ProcessRunner.run(["tmux", "capture-pane", "-p", "-t", session]).text else { break }
            frames.append(pane)
            if pane.contains("EXIT=") { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        // Frames while the step sleeps: its output line is shown and its timer advances.
        let running = frames.filter { $0.contains("=> => # first-line") && !$0.contains("second-line") }
        let timers = running.compactMap { Self.timer(of: "RUN echo first-", in: $0) }
        #expect(running.count >= 4 && (timers.max() ?? 0) - (timers.min() ?? 0) >= 1.5, "timers \(timers) in \(running.count) frames")
        #expect(running.allSatisfy { $0.hasPrefix("[+] Building ") }, "\(running.first ?? "")")
        let last = try #require(frames.last)
        #expect(last.contains("FINISHED") && last.contains("EXIT=0"), "\(frames.suffix(3).joined(separator: "\n---\n"))")
    }

    /// The seconds shown at the end of the line naming `step`.
    static func timer(of step: String, in frame: String) -> Double? {
        guard let line = frame.split(separator: "\n").first(where: { $0.contains(step) }), line.hasSuffix("s") else { return nil }
        return line.split(separator: " ").last.flatMap { Double($0.dropLast()) }
    }
}
