import Foundation
import KilnSystem

/// Runs external tools (openssl, htpasswd, docker-registry) from tests without blocking a thread.
public enum ProcessRunner {
    /// What a finished process printed.
    public struct Result: Sendable {
        /// Exit status.
        public var status: Int32
        /// Standard output.
        public var stdout: Data
        /// Standard error.
        public var stderr: Data
        /// Standard output as text.
        public var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// A failed tool run.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong, with the tool's stderr.
        public var description: String
        /// A failure with a message.
        public init(description: String) { self.description = description }
    }

    /// Runs `args[0]` (looked up in PATH) and waits for it; throws when it exits non-zero.
    @discardableResult
    public static func run(_ args: [String], stdin: Data? = nil, environment: [String: String]? = nil) async throws -> Result {
        let r = try await Subprocess.run(args, stdin: stdin, environment: environment)
        guard r.status == 0 else {
            throw Failure(description: "\(args.joined(separator: " ")) exited \(r.status): \(r.errorText)")
        }
        return Result(status: r.status, stdout: Data(r.output), stderr: Data(r.errorOutput))
    }
}

/// A temporary directory removed when the value is released.
public final class TemporaryDirectory: Sendable {
    /// Its absolute path.
    public let path: String

    /// Creates a fresh directory under the system temp dir.
    public init(_ prefix: String = "kiln-test") throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// `path/name`.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Picks a free TCP port on 127.0.0.1.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ProcessRunner.Failure(description: "socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { ptr in
        ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
        }
    }
    guard ok else { throw ProcessRunner.Failure(description: "bind() failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Random bytes of the given size, written to `path` in 1 MiB pieces.
public func writeRandomFile(_ path: String, size: Int) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: path, contents: nil)
    guard let h = FileHandle(forWritingAtPath: path) else { throw ProcessRunner.Failure(description: "cannot write \(path)") }
    defer { try? h.close() }
    var remaining = size
    var rng = SystemRandomNumberGenerator()
    while remaining > 0 {
        let n = min(remaining, 1 << 20)
        var words = [UInt64](repeating: 0, count: (n + 7) / 8)
        for i in words.indices { words[i] = rng.next() }
        words.withUnsafeBytes { h.write(Data($0.prefix(n))) }
        remaining -= n
    }
}
