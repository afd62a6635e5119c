import Foundation
import KilnRegistry
import KilnSystem
import KilnTestSupport
import Synchronization
import Testing

/// The `kiln` executable built beside the tests, run as a user runs it.
enum KilnProcess {
    /// `.build/<triple>/debug/kiln`, next to the test bundle (or `$KILN_BINARY`, to run these
    /// tests against another build).
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["KILN_BINARY"], !b.isEmpty { return b }
        return FSPath.parent(URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path) + "/kiln"
    }

    /// Runs kiln to its end; `status` is 128 + N when it died of signal N.
    static func run(_ args: [String], environment: [String: String] = [:]) async throws -> Subprocess.Result {
        try await Subprocess.run([binary] + args, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    /// Starts kiln in the background, collecting everything it prints.
    static func start(_ args: [String], environment: [String: String] = [:]) -> Running {
        Running(args: [binary] + args, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    /// A kiln process under test.
    final class Running: Sendable {
        final class State: Sendable {
            let output = Mutex("")
            let pid = Mutex<Int32>(0)
        }
        private let state = State()
        private let task: Task<Int32, any Error>

        init(args: [String], environment: [String: String]) {
            let state = self.state
            task = Task {
                try await Subprocess.run(args, environment: environment, stream: { chunk, _ in
                    state.output.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
                }, started: { p in state.pid.withLock { $0 = p } }).status
            }
        }

        /// Everything printed so far (stdout and stderr).
        var printed: String { state.output.withLock { $0 } }

        /// Waits until `text` was printed (or `seconds` pass).
        func waitFor(_ text: String, seconds: Double = 60) async throws {
            let deadline = Date().addingTimeInterval(seconds)
            while !printed.contains(text) {
                guard Date() < deadline else { throw ProcessRunner.Failure(description: "no \"\(text)\" after \(seconds)s in:\n\(printed)") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        /// Sends `signal` to the process.
        func send(_ signal: Int32) { kill(state.pid.withLock { $0 }, signal) }

        /// The exit status (128 + N after signal N).
        func wait() async throws -> Int32 { try await task.value }
    }
}

/// What a root holds that an interrupted build must not leave behind.
struct Leftovers: Equatable, CustomStringConvertible {
    var mounts: [String]
    var containers: [String]
    var temporary: [String]

    static let none = Leftovers(mounts: [], containers: [], temporary: [])

    /// Mounts, runc containers and files in `tmp/` and `ingest/` under `root`.
    static func of(_ root: String) async throws -> Leftovers {
        let containers = FileManager.default.fileExists(atPath: root + "/runc")
            ? try await ProcessRunner.run(["runc", "--root", root + "/runc", "list", "-q"]).text.split(separator: "\n").map(String.init) : []
        var temporary: [String] = []
        for dir in ["tmp", "ingest"] {
            let e = FileManager.default.enumerator(atPath: root + "/" + dir)
            while let name = e?.nextObject() as? String { temporary.append(dir + "/" + name) }
        }
        return Leftovers(mounts: MountTable.mounts(under: root), containers: containers, temporary: temporary)
    }

    var description: String { "mounts \(mounts), containers \(containers), temporary files \(temporary)" }
}

/// A registry with the busybox base image and a context directory, for CLI tests.
struct CLIRig {
    let registry: TestRegistry
    let dir: TemporaryDirectory
    let base: String

    static func make() async throws -> CLIRig {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory("kiln-cli")
        let rootfs = dir.file("rootfs")
        for d in ["bin", "etc", "tmp"] { try FileManager.default.createDirectory(atPath: rootfs + "/" + d, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "echo", "sleep", "cat", "ls", "touch", "head", "true"] { symlink("busybox", rootfs + "/bin/" + applet) }
        try "root:x:0:0:root:/root:/bin/sh\n".write(toFile: rootfs + "/etc/passwd", atomically: false, encoding: .utf8)
        try "root:x:0:\n".write(toFile: rootfs + "/etc/group", atomically: false, encoding: .utf8)
        var config = RegistryConfiguration()
        config.certsDirectory = nil
        let base = try await RegistryClient.withClient(configuration: config, credentials: AnonymousCredentials()) { client in
            try await TestImage.push(rootfs: rootfs, to: "\(registry.host)/base/busybox:latest", client: client, scratch: dir.path, env: ["PATH=/bin"])
        }
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        return CLIRig(registry: registry, dir: dir, base: base)
    }

    /// Writes the context's Dockerfile (`BASE` is replaced by the base image).
    func dockerfile(_ text: String, name: String = "Dockerfile") throws {
        try text.replacingOccurrences(of: "BASE", with: base).write(toFile: dir.file("ctx/" + name), atomically: false, encoding: .utf8)
    }
}
