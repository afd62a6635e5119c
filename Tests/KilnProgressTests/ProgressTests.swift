import Foundation
import KilnOCI
import KilnSolver
import KilnTestSupport
import Testing
import KilnProgress

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
        #expect(lines.contains("#1 partial"))
        #expect(lines.contains("#1 DONE 0.5s"))
        #expect(lines.contains("#2 [builder 3/3] COPY a b"))
        #expect(lines.contains("#2 CACHED"))
        #expect(lines.contains { $0.hasPrefix("WARNING: cache ref reg/x:y not found") })
    }

    @Test func quietPrintsNothingAndTTYDrawsEveryVertex() async throws {
        #expect(try await Self.capture(.quiet, Self.events).isEmpty)
        let tty = try await Self.capture(.tty, Self.events)
        #expect(tty.contains("[builder 2/3] RUN echo hi"))
        #expect(tty.contains("CACHED"))
        #expect(tty.contains("WARNING: cache ref reg/x:y not found"))
    }
}
