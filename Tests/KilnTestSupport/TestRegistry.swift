import Foundation

/// A real CNCF distribution registry (`docker-registry`, Debian's package) on a free loopback
/// port, with optional TLS, htpasswd or token authentication.
public final class TestRegistry: Sendable {
    /// How the registry authenticates.
    public enum Auth: Sendable {
        /// Anonymous access.
        case none
        /// Basic auth from an htpasswd file (bcrypt entries).
        case htpasswd(file: String)
        /// Bearer tokens from a token service.
        case token(realm: String, service: String, issuer: String, rootCertBundle: String)
    }

    /// `127.0.0.1:PORT`.
    public let host: String
    /// The port.
    public let port: Int
    /// The storage and config directory.
    public let directory: TemporaryDirectory
    private let process: Process

    /// Starts a registry and waits until it answers `/v2/`.
    public init(tls: (cert: String, key: String)? = nil, auth: Auth = .none, deleteEnabled: Bool = true) async throws {
        directory = try TemporaryDirectory("kiln-registry")
        port = try freeLoopbackPort()
        host = "127.0.0.1:\(port)"
        var config = """
        version: 0.1
        log:
          level: error
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(directory.path)/storage
          delete:
            enabled: \(deleteEnabled)
        http:
          addr: 127.0.0.1:\(port)
          secret: kiln-test-secret

        """
        if let tls {
            config += "  tls:\n    certificate: \(tls.cert)\n    key: \(tls.key)\n"
        }
        switch auth {
        case .none: break
        case .htpasswd(let file):
            config += "auth:\n  htpasswd:\n    realm: kiln-test\n    path: \(file)\n"
        case .token(let realm, let service, let issuer, let bundle):
            config += "auth:\n  token:\n    realm: \(realm)\n    service: \(service)\n    issuer: \(issuer)\n    rootcertbundle: \(bundle)\n"
        }
        let configPath = directory.file("config.yml")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["docker-registry", "serve", configPath]
        let log = FileHandle(forWritingAtPath: "/dev/null")
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p

        let scheme = tls == nil ? "http" : "https"
        for _ in 0..<200 {
            if !p.isRunning { break }
            if await Self.listening(port: port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        p.terminate()
        throw ProcessRunner.Failure(description: "docker-registry did not start on \(scheme)://\(host)")
    }

    private static func listening(port: Int) async -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Stops the registry.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
