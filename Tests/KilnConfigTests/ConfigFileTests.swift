import Foundation
import KilnConfig
import KilnOCI
import KilnRegistry
import KilnTestSupport
import Testing

/// The configuration file: buildkitd.toml's `[registry."HOST"]` sections read with a real TOML
/// parser, every mistake named by its line, and their effect on real registries — mirrors tried
/// first for pulls, plain HTTP or TLS, a per-registry CA, unverified TLS.
@Suite struct ConfigFileTests {
    static func parse(_ text: String) throws(ConfigError) -> ConfigFile { try ConfigFile(parsing: text, path: "/etc/kiln/kiln.toml") }

    static func error(_ text: String) -> ConfigError? {
        do { _ = try parse(text); return nil } catch { return error }
    }

    @Test func registrySectionsAreRead() throws {
        let file = try Self.parse("""
            # as in buildkitd.toml
            [registry."docker.io"]
              mirrors = ["mirror.example.com", "127.0.0.1:5000/hub"]

            [registry."registry.internal:5000"]
              http = true
            [registry.'secure.example']
              insecure = true
              ca = "/dev/null"
            """)
        #expect(file.registries["docker.io"]?.mirrors == ["mirror.example.com", "127.0.0.1:5000/hub"])
        #expect(file.registries["registry.internal:5000"]?.plainHTTP == true)
        #expect(file.registries["secure.example"]?.skipVerify == true && file.registries["secure.example"]?.caFiles == ["/dev/null"])
        let config = file.apply(to: RegistryConfiguration())
        #expect(config.usesPlainHTTP("registry.internal:5000"))
        let ref = try Reference(parsing: "busybox:1.36")
        #expect(config.pullCandidates(ref).map(\.description) == [
            "mirror.example.com/library/busybox:1.36", "127.0.0.1:5000/hub/library/busybox:1.36", "docker.io/library/busybox:1.36",
        ])
        #expect(config.pullCandidates(try Reference(parsing: "quay.io/a/b:1")).count == 1)
    }

    @Test func everyMistakeNamesItsLine() {
        let unknownKey = Self.error("[registry.\"docker.io\"]\n  mirrors = [\"m\"]\n  mirors = [\"typo\"]\n")
        #expect(unknownKey?.line == 3 && unknownKey?.message.contains("unknown key 'mirors'") == true, "\(String(describing: unknownKey))")
        let section = Self.error("[registry.\"docker.io\"]\nmirrors = []\n\n[worker.oci]\n  enabled = true\n")
        #expect(section?.line == 4 && section?.message.contains("unknown key 'worker'") == true, "\(String(describing: section))")
        let malformed = Self.error("[registry.\"docker.io\"]\nmirrors = [\"a\",\n\nhttp = true\n")
        #expect(malformed?.line != nil && malformed?.message.hasPrefix("malformed TOML") == true, "\(String(describing: malformed))")
        let type = Self.error("[registry.\"r\"]\nhttp = \"yes\"\n")
        #expect(type?.line == 2 && type?.message.contains("http must be true or false") == true)
        let scheme = Self.error("[registry.\"docker.io\"]\nmirrors = [\"https://mirror\"]\n")
        #expect(scheme?.line == 2 && scheme?.message.contains("no scheme") == true)
        let keypair = Self.error("[registry.\"r\"]\n[[registry.\"r\".keypair]]\nkey = \"k\"\ncert = \"c\"\n")
        #expect(keypair?.line == 2 && keypair?.message.contains("not supported") == true, "\(String(describing: keypair))")
        let ca = Self.error("[registry.\"r\"]\nca = [\"/no/such/ca.pem\"]\n")
        #expect(ca?.description == "/etc/kiln/kiln.toml:2: ca: cannot read /no/such/ca.pem")
    }

    @Test func theFileIsFoundThroughTheEnvironment() throws {
        let dir = try TemporaryDirectory()
        try "[registry.\"a\"]\nhttp = true\n".write(toFile: dir.file("k.toml"), atomically: false, encoding: .utf8)
        #expect(try ConfigFile.load(environment: ["KILN_CONFIG": dir.file("k.toml")]).registries["a"]?.plainHTTP == true)
        #expect(throws: ConfigError.self) { try ConfigFile.load(environment: ["KILN_CONFIG": dir.file("missing.toml")]) }
    }

    /// A registry holding a small image at `repository:latest`.
    static func registryWithImage(_ repository: String, tls: (cert: String, key: String, ca: String)? = nil) async throws -> (TestRegistry, TemporaryDirectory) {
        let registry = try await TestRegistry(tls: tls.map { ($0.cert, $0.key) })
        var configuration: RegistryConfiguration?
        if let tls {
            var c = RegistryConfiguration()
            c.certsDirectory = nil
            var settings = HostSettings()
            (settings.plainHTTP, settings.caFiles) = (false, [tls.ca])
            c.hosts[registry.host] = settings
            configuration = c
        }
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("rootfs/etc"), withIntermediateDirectories: true)
        try "hello\n".write(toFile: dir.file("rootfs/etc/motd"), atomically: false, encoding: .utf8)
        _ = try await withTestClient(configuration) { client in
            try await TestImage.push(rootfs: dir.file("rootfs"), to: "\(registry.host)/\(repository):latest", client: client, scratch: dir.path)
        }
        return (registry, dir)
    }

    @Test func pullsGoThroughTheFirstMirrorThatAnswers() async throws {
        let (mirror, _) = try await Self.registryWithImage("hub/library/busybox")
        defer { mirror.stop() }
        // The first mirror has no such repository; the second (a path prefix) has it; Docker Hub
        // itself is never reached (this machine has no route to it).
        let file = try Self.parse("[registry.\"docker.io\"]\nmirrors = [\"\(mirror.host)/empty\", \"\(mirror.host)/hub\"]\n")
        var base = RegistryConfiguration()
        base.certsDirectory = nil
        base.retry = RetryPolicy(maxAttempts: 1, baseDelay: .milliseconds(10), maxDelay: .milliseconds(10))
        try await withTestClient(file.apply(to: base)) { client in
            let ref = try Reference(parsing: "busybox")
            let fetched = try await client.manifest(ref)
            guard case .manifest(let m) = try fetched.document() else { Issue.record("not a manifest"); return }
            let config = try await client.blobData(m.config, from: ref)
            #expect(Digest.of(config) == m.config.digest)
            let dir = try TemporaryDirectory()
            try await client.fetchBlob(m.layers[0], from: ref, to: dir.file("layer"))
            #expect(FileManager.default.fileExists(atPath: dir.file("layer")))
        }
    }

    @Test func aRegistrysTLSSettingsDecideHowItIsVerified() async throws {
        let certDir = try TemporaryDirectory()
        let certs = try await TestCertificates.make(in: certDir.path)
        let (registry, _) = try await Self.registryWithImage("app", tls: (certs.serverCert, certs.serverKey, certs.caCert))
        defer { registry.stop() }
        let ref = try Reference(parsing: "\(registry.host)/app:latest")
        var base = RegistryConfiguration()
        base.certsDirectory = nil
        base.retry = RetryPolicy(maxAttempts: 1, baseDelay: .milliseconds(10), maxDelay: .milliseconds(10))
        func fetch(_ section: String) async throws -> Digest {
            let file = try Self.parse("[registry.\"\(registry.host)\"]\nhttp = false\n" + section)
            return try await withTestClient(file.apply(to: base)) { try await $0.manifest(ref).digest }
        }
        _ = try await fetch("ca = [\"\(certs.caCert)\"]\n")
        _ = try await fetch("insecure = true\n")
        await #expect(throws: RegistryError.self) { _ = try await fetch("") }
    }
}
