import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A Docker token service for a registry in `auth: token` mode: it checks Basic credentials
/// (GET) or OAuth2 form posts (POST), and issues ES256 JWTs carrying the signing certificate
/// in `x5c`, which distribution verifies against its `rootcertbundle`.
public final class TokenServer: Sendable {
    /// What the service grants and how it behaves.
    public struct Policy: Sendable {
        /// user → password.
        public var users: [String: String] = [:]
        /// refresh token → user, for OAuth2 `grant_type=refresh_token`.
        public var refreshTokens: [String: String] = [:]
        /// Actions anonymous clients get.
        public var anonymousActions: Set<String> = []
        /// Answer GET with 404 so clients must use OAuth2 POST.
        public var rejectGET = false
        /// The first this-many token requests grant `pull` only, whatever is asked.
        public var narrowFirstGrants = 0
        /// Token lifetime in seconds.
        public var expiresIn = 300

        /// A policy.
        public init() {}
    }

    /// The `realm` URL to configure in the registry.
    public let realm: String
    /// The `service` name.
    public let service = "kiln-test-registry"
    /// The `issuer` name.
    public let issuer = "kiln-test-issuer"
    private let server: HTTPTestServer
    private let stats: TokenStats

    /// Starts the service with a signing key and certificate (PEM files).
    public init(keyPEM: String, certPEM: String, policy: Policy) async throws {
        // The key crosses into the handler as bytes: swift-crypto's key type is not Sendable here.
        let keyRaw = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPEM, encoding: .utf8)).rawRepresentation
        let certDER = try Self.pemBody(String(contentsOfFile: certPEM, encoding: .utf8))
        let stats = TokenStats(narrow: policy.narrowFirstGrants)
        let service = "kiln-test-registry", issuer = "kiln-test-issuer"
        server = try await HTTPTestServer { request in
            stats.count(request.head.method.rawValue)
            let head = request.head
            var user: String?
            var scopes: [String] = []
            let comps = URLComponents(string: "http://x" + head.uri)
            if head.method == .GET {
                if policy.rejectGET { return .init(status: .notFound) }
                scopes = comps?.queryItems?.filter { $0.name == "scope" }.compactMap(\.value) ?? []
                if let auth = head.headers.first(name: "Authorization") {
                    guard auth.hasPrefix("Basic "), let raw = Data(base64Encoded: String(auth.dropFirst(6))),
                          let text = String(data: raw, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                          policy.users[String(text[..<colon])] == String(text[text.index(after: colon)...])
                    else { return Self.denied() }
                    user = String(text[..<colon])
                }
            } else if head.method == .POST {
                var form = URLComponents()
                form.percentEncodedQuery = String(buffer: request.body).replacingOccurrences(of: "+", with: " ")
                let fields = Dictionary((form.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
                scopes = (fields["scope"] ?? "").split(separator: " ").map(String.init)
                switch fields["grant_type"] {
                case "password":
                    guard let u = fields["username"], policy.users[u] == fields["password"] else { return Self.denied() }
                    user = u
                case "refresh_token":
                    guard let u = policy.refreshTokens[fields["refresh_token"] ?? ""] else { return Self.denied() }
                    user = u
                default:
                    return .init(status: .badRequest)
                }
            } else {
                return .init(status: .methodNotAllowed)
            }
            stats.record(user: user, scopes: scopes)
            let narrow = stats.takeNarrow()
            var access: [[String: Any]] = []
            for s in scopes {
                let parts = s.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count >= 3, parts[0] == "repository" else { continue }
                let asked = Set(parts[parts.count - 1].split(separator: ",").map(String.init))
                var allowed = user != nil ? asked : asked.intersection(policy.anonymousActions)
                if narrow { allowed = allowed.intersection(["pull"]) }
                access.append(["type": "repository", "name": parts[1..<(parts.count - 1)].joined(separator: ":"),
                               "actions": allowed.sorted()])
            }
            let now = Int(Date().timeIntervalSince1970)
            let claims: [String: Any] = [
                "iss": issuer, "sub": user ?? "", "aud": service, "exp": now + policy.expiresIn, "nbf": now - 10,
                "iat": now, "jti": UUID().uuidString, "access": access,
            ]
            guard let token = try? Self.jwt(claims: claims, key: P256.Signing.PrivateKey(rawRepresentation: keyRaw), certDER: certDER) else { return .init(status: .internalServerError) }
            let reply: [String: Any] = ["token": token, "access_token": token, "expires_in": policy.expiresIn]
            let body = (try? JSONSerialization.data(withJSONObject: reply)) ?? Data()
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            return .init(status: .ok, headers: headers, body: ByteBuffer(bytes: body))
        }
        realm = "http://127.0.0.1:\(server.port)/token"
        self.stats = stats
    }

    /// Token requests by method.
    public var requestsByMethod: [String: Int] { stats.m.withLock { $0.byMethod } }
    /// All token requests.
    public var requestCount: Int { stats.m.withLock { $0.byMethod.values.reduce(0, +) } }
    /// Users and scopes of every granted request, in order.
    public var grants: [(user: String?, scopes: [String])] { stats.m.withLock { $0.grants } }

    /// Stops the service.
    public func stop() async { await server.stop() }

    private static func denied() -> HTTPTestServer.Response {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: "application/json")
        return .init(status: .unauthorized, headers: h,
                     body: ByteBuffer(string: #"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#))
    }

    private static func pemBody(_ pem: String) throws -> Data {
        let b64 = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let d = Data(base64Encoded: b64) else { throw ProcessRunner.Failure(description: "bad PEM") }
        return d
    }

    private static func b64url(_ d: Data) -> String {
        d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func jwt(claims: [String: Any], key: P256.Signing.PrivateKey, certDER: Data) throws -> String {
        let header: [String: Any] = ["typ": "JWT", "alg": "ES256", "x5c": [certDER.base64EncodedString()]]
        let h = b64url(try JSONSerialization.data(withJSONObject: header))
        let c = b64url(try JSONSerialization.data(withJSONObject: claims))
        let signingInput = Data("\(h).\(c)".utf8)
        let sig = try key.signature(for: signingInput)
        return "\(h).\(c).\(b64url(sig.rawRepresentation))"
    }
}

private final class TokenStats: Sendable {
    struct Inner {
        var byMethod: [String: Int] = [:]
        var grants: [(user: String?, scopes: [String])] = []
        var narrowLeft: Int
    }

    let m: Mutex<Inner>
    init(narrow: Int) { m = Mutex(Inner(narrowLeft: narrow)) }
    func count(_ method: String) { m.withLock { $0.byMethod[method, default: 0] += 1 } }
    func record(user: String?, scopes: [String]) { m.withLock { $0.grants.append((user, scopes)) } }
    func takeNarrow() -> Bool {
        m.withLock { s in
            guard s.narrowLeft > 0 else { return false }
            s.narrowLeft -= 1
            return true
        }
    }
}
