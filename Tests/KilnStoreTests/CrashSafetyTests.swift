import Foundation
import KilnArchive
import KilnOCI
import KilnStore
import KilnTestSupport
import Testing

/// Two processes write one store at once and are killed with SIGKILL mid-write; the store
/// stays consistent: every blob's bytes match its name, metadata reads, GC clears leftovers.
@Suite struct CrashSafetyTests {
    static let rootVariable = "KILN_STORE_STRESS_ROOT"

    /// The worker: runs only when spawned by `twoProcessesAndKillNine`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[rootVariable] != nil, "spawned by twoProcessesAndKillNine"))
    func storeStressWorker() async throws {
        let root = try #require(ProcessInfo.processInfo.environment[Self.rootVariable])
        let store = try ContentStore(root: root)
        var i = 0
        while true {
            i += 1
            // Large enough that a kill often lands mid-write; half the blobs are shared between workers.
            let seed = i % 2 == 0 ? "shared-\(i % 50)" : "\(getpid())-\(i)"
            let payload = Array(repeating: Array(seed.utf8), count: 20_000).flatMap { $0 }
            try await store.ingest(expected: Digest.of(payload), mediaType: "application/octet-stream") { try $0.write(payload) }
            try await store.addSource(Digest.of(payload), repository: "r/\(getpid())")
        }
    }

    @Test func twoProcessesAndKillNine() async throws {
        let dir = try TemporaryDirectory()
        let binary = CommandLine.arguments[0]
        var workers: [Process] = []
        for _ in 0..<2 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["--testing-library", "swift-testing", "--filter", "storeStressWorker"]
            var env = ProcessInfo.processInfo.environment
            env[Self.rootVariable] = dir.path
            p.environment = env
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            workers.append(p)
        }
        try await Task.sleep(for: .milliseconds(2500))
        for p in workers { kill(p.processIdentifier, SIGKILL) }
        for p in workers { p.waitUntilExit() }

        let store = try ContentStore(root: dir.path)
        let blobs = try FileManager.default.contentsOfDirectory(atPath: dir.file("blobs/sha256"))
        #expect(blobs.count > 10, "the workers wrote too little to test anything")
        for name in blobs {
            let d = try Digest(parsing: "sha256:" + name)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: store.path(for: d)))
            #expect(Digest.of(bytes) == d, "blob \(name) does not match its digest")
            #expect(try await store.info(d)?.size == Int64(bytes.count))
        }
        // The killed workers' partial files are swept; nothing of theirs is left.
        let swept = await store.sweepAbandoned(reaper: nil)
        #expect(swept.claims == 2)
        _ = try await store.garbageCollect(keeping: Set(try blobs.map { try Digest(parsing: "sha256:" + $0) }), ingestGrace: 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("ingest")) == [store.claim.id])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("tmp")) == [store.claim.id])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("claims")) == [store.claim.id + ".lock"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("blobs/sha256")).count == blobs.count)
    }
}
