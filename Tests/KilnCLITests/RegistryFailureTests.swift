import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// A registry that fails, stalls or never answers costs a clear error or a warning, within a
/// bounded time — never a crash.
@Suite(.serialized) struct RegistryFailureTests {
    /// A TCP listener that accepts connections and never answers them.
    final class BlackHole: @unchecked Sendable {
        let port: Int
        private let fd: Int32

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            listen(fd, 128)  // the kernel completes handshakes; nobody ever reads or writes
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            self.fd = fd
            port = Int(UInt16(bigEndian: addr.sin_port))
        }

        deinit { close(fd) }
    }

    @Test func aBlackHoledCacheSourceCostsItsBudgetThenWarns() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo built > /f\n")
        let hole = try BlackHole()
        let started = ContinuousClock.now
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), "--progress", "plain",
                                           "--cache-from", "type=registry,ref=127.0.0.1:\(hole.port)/app/cache:main", rig.dir.file("ctx")])
        let took = ContinuousClock.now - started
        #expect(r.status == 0, "\(r.errorText)")
        #expect(r.errorText.contains("127.0.0.1:\(hole.port)/app/cache:main"), "the warning names the ref: \(r.errorText)")
        #expect(took < .seconds(20), "a black-holed --cache-from took \(took)")
    }

    @Test func aRegistryFailingEverySecondRequestNeverCrashesKiln() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN head -c 200000 /dev/urandom > /big && echo done\n")
        let proxy = try await FaultProxy(upstream: rig.registry.host)
        defer { Task { await proxy.stop() } }
        var outcomes: [Int32] = []
        for run in 0..<20 {
            proxy.reset()
            proxy.inject(.everySecondRequest(run % 4 < 2 ? .status(503) : .status(429, headers: ["Retry-After": "0"])))
            let ignore = run % 2 == 0
            let r = try await KilnProcess.run([
                "build", "--root", rig.dir.file("root-\(run)"), "--progress", "plain", "-t", "\(proxy.host)/app/img:\(run)", "--push",
                "--cache-to", "type=registry,ref=\(proxy.host)/app/cache:\(run),mode=max\(ignore ? ",ignore-error=true" : "")",
                rig.dir.file("ctx"),
            ], environment: ["KILN_CACHE_FROM_TIMEOUT": "5"])
            outcomes.append(r.status)
            #expect(r.status < 128, "run \(run) crashed (\(r.status)): \(r.errorText)")
            if r.status != 0 {
                let errorLines = r.errorText.split(separator: "\n").filter { $0.hasPrefix("error:") }
                #expect(errorLines.count == 1, "one clear error line: \(r.errorText)")
            }
        }
        #expect(outcomes.count == 20)
    }
}
