import Foundation
import KilnOCI
import KilnSolver
import KilnTestSupport
import Testing
@testable import KilnProgress

@Suite struct ProgressTests {
    static func capture(_ mode: ProgressMode, _ events: [ProgressEvent]) async throws -> String {
        let dir = try TemporaryDirectory()
        let path = dir.file("out")
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let printer = mode.printer(output: handle)
        for e in events { await printer.handle(e) }
        await printer.finish()
        try handle.close()
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    static let d1 = Digest.of(Data("v1".utf8))
    static let d2 = Digest.of(Data("v2".utf8))
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    static let events: [ProgressEvent] = [
        .vertex(VertexStatus(digest: d1, name: "[builder 2/3] RUN echo hi", started: t0)),
        .log(vertex: d1, stream: 1, data: Array("EXEC[x]\npartial".utf8)),
        .vertex(VertexStatus(digest: d1, name: "[builder 2/3] RUN echo hi", started: t0, completed: t0.addingTimeInterval(0.5))),
        .vertex(VertexStatus(digest: d2, name: "[builder 3/3] COPY a b", started: t0, completed: t0, cached: true)),
        .warning(vertex: nil, short: "cache ref reg/x:y not found", detail: ["importing cache manifest"]),
    ]

    @Test func aCachedStepThatRunsAgainIsAnnouncedAgain() async throws {
        let name = "[stage-0 3/4] RUN make"
        let out = try await Self.capture(.plain, [
            .vertex(VertexStatus(digest: Self.d1, name: name, started: Self.t0, completed: Self.t0, cached: true)),
            .vertex(VertexStatus(digest: Self.d1, name: name, started: Self.t0)),
            .vertex(VertexStatus(digest: Self.d1, name: name, started: Self.t0, completed: Self.t0.addingTimeInterval(1))),
        ])
        #expect(out == "#1 \(name)\n#1 CACHED\n#1 \(name)\n#1 DONE 1.0s\n")
    }

    @Test func rawJSONIsBuildKitSolveStatus() async throws {
        let out = try await Self.capture(.rawjson, Self.events)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        let v = (objects[2]["vertexes"] as? [[String: Any]])?.first
        #expect(v?["digest"] as? String == Self.d1.description)
        #expect(v?["name"] as? String == "[builder 2/3] RUN echo hi")
        #expect(v?["started"] is String && v?["completed"] is String)
        let cached = (objects[3]["vertexes"] as? [[String: Any]])?.first
        #expect(cached?["cached"] as? Bool == true)
        let log = (objects[1]["logs"] as? [[String: Any]])?.first
        #expect(log?["vertex"] as? String == Self.d1.description)
        #expect((log?["data"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } == "EXEC[x]\npartial")
        let w = (objects[4]["warnings"] as? [[String: Any]])?.first
        #expect((w?["short"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } == "cache ref reg/x:y not found")
    }

    @Test func plainLooksLikeBuildx() async throws {
        let out = try await Self.capture(.plain, Self.events)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines[0] == "#1 [builder 2/3] RUN echo hi")
        #expect(lines[1].hasPrefix("#1 ") && lines[1].hasSuffix(" EXEC[x]"))
        #expect(lines.contains { $0.hasPrefix("#1 ") && $0.hasSuffix(" partial") })
        #expect(lines.contains("#1 DONE 0.5s"))
        #expect(lines.contains("#2 [builder 3/3] COPY a b"))
        #expect(lines.contains("#2 CACHED"))
        #expect(lines.contains { $0.hasPrefix("WARNING: cache ref reg/x:y not found") })
    }

    @Test func aFailedStepsLastLinesArePrintedOnceUnderItsName() async throws {
        let name = "[stage-0 2/2] RUN make"
        let failing: [ProgressEvent] = [
            .vertex(VertexStatus(digest: Self.d1, name: name, started: Self.t0)),
            .log(vertex: Self.d1, stream: 1, data: Array("compiling\nlast words\n".utf8)),
            .vertex(VertexStatus(digest: Self.d1, name: name, started: Self.t0, completed: Self.t0, error: "exit code: 2\nmore")),
        ]
        for mode in [ProgressMode.plain, .tty, .quiet] {
            let out = try await Self.capture(mode, failing)
            #expect(out.contains("------\n > \(name):\n"), "\(mode)")
            let printed = out.components(separatedBy: "last words").count - 1
            #expect(printed == (mode == .quiet ? 1 : 2), "\(mode): \(out)")
        }
        let plain = try await Self.capture(.plain, failing)
        #expect(plain.contains("#1 ERROR: exit code: 2\n"))
    }

    @Test func subTasksPrintWhenTheyStartAndWhenTheyAreDone() async throws {
        let start = TaskStatus(vertex: Self.d1, id: "m", name: "pushing manifest for r/a:1@sha256:aa", started: Self.t0)
        var end = start
        end.completed = Self.t0.addingTimeInterval(0.25)
        let pulled = TaskStatus(vertex: Self.d1, id: "sha256:bb", name: "pulled bb", current: 1_080_000, total: 1_080_000)
        let out = try await Self.capture(.plain, [.vertex(VertexStatus(digest: Self.d1, name: "exporting to image", started: Self.t0)),
                                                   .status(start), .status(end), .status(end), .status(pulled)])
        #expect(out == "#1 exporting to image\n#1 pushing manifest for r/a:1@sha256:aa\n#1 pushing manifest for r/a:1@sha256:aa 0.2s done\n"
            + "#1 pulled bb 1.08MB done\n")
    }

    @Test func aPartialLineIsPrintedOnceItHasWaited() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("out")
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let printer = PlainPrinter(output: handle)
        await printer.handle(.vertex(VertexStatus(digest: Self.d1, name: "RUN x", started: Date())))
        await printer.handle(.log(vertex: Self.d1, stream: 1, data: Array("Downloading... ".utf8)))
        await printer.tick()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "#1 RUN x\n")
        try await Task.sleep(for: .milliseconds(600))
        await printer.tick()
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasSuffix(" Downloading... \n"))
        try handle.close()
    }

    @Test func theTTYFrameFitsTheTerminalAndCollapsesFinishedStepsFirst() {
        let t0 = Self.t0
        var entries: [TTYFrame.Entry] = (1...10).map { i in
            TTYFrame.Entry(status: VertexStatus(digest: Digest.of(Data("\(i)".utf8)), name: "[\(i)/11] RUN step \(i) " + String(repeating: "x", count: 60),
                                                started: t0, completed: t0.addingTimeInterval(1)), tasks: [], logs: [])
        }
        entries.append(TTYFrame.Entry(status: VertexStatus(digest: Self.d2, name: "[11/11] RUN sleep 4", started: t0),
                                      tasks: [], logs: ["one", "two"]))
        let frame = TTYFrame(entries: entries, started: t0, finished: false)
        let lines = frame.lines(now: t0.addingTimeInterval(2.5), width: 60, height: 8)
        #expect(lines.count == 7)
        #expect(lines[0] == "[+] Building 2.5s (10/11)")
        #expect(lines.allSatisfy { $0.count <= 59 })
        #expect(lines.contains { $0.hasPrefix(" => … ") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix(" => [11/11] RUN sleep 4") && $0.hasSuffix("2.5s") })
        #expect(lines.last == " => => # two")
        let wide = frame.lines(now: t0.addingTimeInterval(2.5), width: 200, height: 60)
        #expect(wide.count == 14 && !wide.contains { $0.hasPrefix(" => … ") })
    }

    @Test func quietPrintsNothingAndTTYDrawsEveryVertex() async throws {
        #expect(try await Self.capture(.quiet, Self.events).isEmpty)
        let tty = try await Self.capture(.tty, Self.events)
        #expect(tty.contains("[builder 2/3] RUN echo hi"))
        #expect(tty.contains("CACHED"))
        #expect(tty.contains("WARNING: cache ref reg/x:y not found"))
    }

    @Test func aCacheMissIsSaidOnItsStepInEveryMode() async throws {
        let name = "[stage-0 2/3] COPY app.txt /"
        let events: [ProgressEvent] = [
            .vertex(VertexStatus(digest: Self.d1, name: name, started: Self.t0)),
            .cacheMiss(vertex: Self.d1, reasons: ["context file app.txt: content changed", "build arg V changed"]),
            .vertex(VertexStatus(digest: Self.d1, name: name, started: Self.t0, completed: Self.t0.addingTimeInterval(0.2))),
        ]
        let plain = try await Self.capture(.plain, events).split(separator: "\n").map(String.init)
        #expect(plain == ["#1 \(name)", "#1 cache miss: context file app.txt: content changed; build arg V changed", "#1 DONE 0.2s"])
        let tty = try await Self.capture(.tty, events)
        #expect(tty.contains("CACHE MISS: \(name): context file app.txt: content changed; build arg V changed\n"), "the final frame folds it: listed after")
        let raw = try await Self.capture(.rawjson, events).split(separator: "\n")
        let status = try #require(raw.compactMap { line in
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["statuses"] as? [[String: Any]]
        }.first?.first)
        #expect(status["id"] as? String == "cache-miss" && status["vertex"] as? String == Self.d1.description)
        #expect(status["name"] as? String == "cache miss: context file app.txt: content changed; build arg V changed")
        #expect(try await Self.capture(.quiet, events).isEmpty)
    }
}
