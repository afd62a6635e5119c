import ArgumentParser
import Foundation
import KilnConfig
import KilnRegistry
import Logging

/// Options shared by every command that talks to registries.
struct RegistryOptions: ParsableArguments {
    @Option(name: .customLong("insecure-registry"),
            help: "Speak plain HTTP to this registry host (repeatable). Loopback hosts need no flag.")
    var insecureRegistries: [String] = []

    @Option(name: .customLong("registry-ca"), help: "Trust this PEM CA certificate file for TLS (repeatable).")
    var caFiles: [String] = []

    @Option(name: .customLong("certs-dir"),
            help: "Directory of HOST[:PORT]/ca.crt files; a host listed there uses TLS with that CA (default: $KILN_CERTS_DIR or /etc/kiln/certs.d).")
    var certsDir: String?

    @Flag(name: .customLong("debug"), help: "Log every registry request and retry to stderr.")
    var debug = false

    /// The registry client settings these options describe, over the configuration file's
    /// `[registry."HOST"]` sections (`$KILN_CONFIG`, default /etc/kiln/kiln.toml).
    func configuration() throws -> RegistryConfiguration {
        var c = RegistryConfiguration()
        c.insecureHosts = Set(insecureRegistries)
        c.extraCAFiles = caFiles
        let env = ProcessInfo.processInfo.environment
        c.certsDirectory = certsDir ?? env["KILN_CERTS_DIR"] ?? "/etc/kiln/certs.d"
        return try ConfigFile.load().apply(to: c)
    }

    /// A logger writing to stderr at the level asked for (`--debug` or `$KILN_LOG_LEVEL`).
    func logger() -> Logger {
        var logger = Logger(label: "kiln") { StreamLogHandler.standardError(label: $0) }
        let env = ProcessInfo.processInfo.environment["KILN_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        logger.logLevel = debug ? .debug : (env ?? .warning)
        return logger
    }

    /// Runs `body` with a client built from these options.
    func withClient<T: Sendable>(_ body: (RegistryClient) async throws -> T) async throws -> T {
        try await RegistryClient.withClient(configuration: try configuration(), credentials: DockerConfigCredentials(),
                                            logger: logger(), body)
    }
}
