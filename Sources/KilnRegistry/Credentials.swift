import Foundation

/// What a user authenticates to a registry with.
public struct Credential: Sendable, Hashable {
    /// The user name (`<token>` for identity tokens from some helpers).
    public var username: String
    /// The password or personal access token.
    public var password: String
    /// An OAuth2 refresh token (`identitytoken` in docker config.json); when present, token
    /// requests use OAuth2 POST with `grant_type=refresh_token`.
    public var identityToken: String?

    /// A credential from its parts.
    public init(username: String, password: String, identityToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
    }

    /// The value of an `Authorization: Basic …` header.
    var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }
}

/// Supplies credentials for a registry host.
public protocol CredentialProvider: Sendable {
    /// The credential for `host` (`name[:port]`, e.g. `registry-1.docker.io`), or `nil` for anonymous.
    func credential(for host: String) async throws(RegistryError) -> Credential?
}

/// No credentials: every request is anonymous.
public struct AnonymousCredentials: CredentialProvider {
    /// Creates the provider.
    public init() {}
    /// Always `nil`.
    public func credential(for host: String) async throws(RegistryError) -> Credential? { nil }
}

/// Fixed credentials per host, for tests and programmatic use.
public struct StaticCredentials: CredentialProvider {
    private let byHost: [String: Credential]
    /// A provider answering from `byHost`.
    public init(_ byHost: [String: Credential]) { self.byHost = byHost }
    /// The credential registered for `host`.
    public func credential(for host: String) async throws(RegistryError) -> Credential? { byHost[host] }
}
