import Foundation
import KilnSystem

/// Credentials from Docker's client configuration: `$DOCKER_CONFIG/config.json` (default
/// `~/.docker/config.json`) with `auths`, `credHelpers` and `credsStore`, as `docker login` writes it.
public struct DockerConfigCredentials: CredentialProvider {
    private let configPath: String
    private let helperSearchPath: String?

    /// Reads `config.json` from `directory`, or from `$DOCKER_CONFIG`, or from `~/.docker`.
    /// `helperSearchPath` overrides `$PATH` when looking for `docker-credential-*` helpers.
    public init(directory: String? = nil, helperSearchPath: String? = nil) {
        let env = ProcessInfo.processInfo.environment
        let dir = directory ?? env["DOCKER_CONFIG"] ?? ((env["HOME"] ?? NSHomeDirectory()) + "/.docker")
        self.configPath = FSPath.under(dir, "config.json")
        self.helperSearchPath = helperSearchPath
    }

    private struct ConfigFile: Decodable {
        struct AuthEntry: Decodable {
            var auth: String?
            var username: String?
            var password: String?
            var identitytoken: String?
        }
        var auths: [String: AuthEntry]?
        var credHelpers: [String: String]?
        var credsStore: String?
    }

    /// Looks `host` up: a per-host helper first, then the inline `auths` entry, then the default store.
    public func credential(for host: String) async throws(RegistryError) -> Credential? {
        guard let data = FileManager.default.contents(atPath: configPath) else { return nil }
        let config: ConfigFile
        do {
            config = try JSONDecoder().decode(ConfigFile.self, from: data)
        } catch {
            throw RegistryError.configuration("\(configPath) is not valid JSON: \(error.localizedDescription)")
        }
        let keys = Self.lookupKeys(for: host)
        if let helpers = config.credHelpers, let helper = keys.lazy.compactMap({ helpers[$0] }).first {
            return try await runHelper(helper, serverURL: keys[0])
        }
        if let auths = config.auths {
            for (key, entry) in auths where keys.contains(Self.normalize(key)) {
                if let c = try Self.decode(entry: entry, key: key, path: configPath) { return c }
            }
        }
        if let store = config.credsStore, !store.isEmpty {
            return try await runHelper(store, serverURL: keys[0])
        }
        return nil
    }

    /// The names a host may be stored under; Docker Hub's is the historical index URL.
    static func lookupKeys(for host: String) -> [String] {
        if host == "registry-1.docker.io" || host == "docker.io" || host == "index.docker.io" {
            return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
        }
        return [host]
    }

    /// `https://host/v1/` → `host`, keeping Docker Hub's index URL as it is.
    static func normalize(_ key: String) -> String {
        if key == "https://index.docker.io/v1/" { return key }
        var k = Substring(key)
        for scheme in ["https://", "http://"] where k.hasPrefix(scheme) { k = k.dropFirst(scheme.count) }
        if let slash = k.firstIndex(of: "/") { k = k[..<slash] }
        return String(k)
    }

    private static func decode(entry: ConfigFile.AuthEntry, key: String, path: String) throws(RegistryError) -> Credential? {
        if let auth = entry.auth, !auth.isEmpty {
            guard let raw = Data(base64Encoded: auth), let text = String(data: raw, encoding: .utf8),
                  let colon = text.firstIndex(of: ":")
            else {
                throw RegistryError.configuration("\(path): the 'auth' entry for \(key) is not base64 of user:password")
            }
            return Credential(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]),
                              identityToken: entry.identitytoken)
        }
        if let u = entry.username, let p = entry.password {
            return Credential(username: u, password: p, identityToken: entry.identitytoken)
        }
        if let token = entry.identitytoken {
            return Credential(username: "<token>", password: "", identityToken: token)
        }
        return nil
    }

    private func runHelper(_ name: String, serverURL: String) async throws(RegistryError) -> Credential? {
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw RegistryError.credentialHelper(helper: name, reason: "invalid helper name")
        }
        let output: HelperOutput
        do {
            output = try await HelperProcess.run(
                executable: "docker-credential-\(name)", arguments: ["get"], input: Data(serverURL.utf8),
                searchPath: helperSearchPath ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        } catch {
            throw RegistryError.credentialHelper(helper: name, reason: error.description)
        }
        if output.status != 0 {
            let msg = String(decoding: output.stdout + output.stderr, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // The helper protocol reports a missing entry as this message on stdout.
            if msg.contains("credentials not found") { return nil }
            throw RegistryError.credentialHelper(helper: name, reason: "exit \(output.status): \(msg.prefix(200))")
        }
        struct HelperReply: Decodable {
            var Username: String
            var Secret: String
        }
        guard let reply = try? JSONDecoder().decode(HelperReply.self, from: output.stdout) else {
            throw RegistryError.credentialHelper(helper: name, reason: "reply is not {\"Username\",\"Secret\"} JSON")
        }
        if reply.Username == "<token>" {
            return Credential(username: reply.Username, password: "", identityToken: reply.Secret)
        }
        return Credential(username: reply.Username, password: reply.Secret)
    }
}
