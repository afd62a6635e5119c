import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Answers "what `Authorization` header goes with this request" for every registry host, and
/// learns from the registry's challenges. Tokens are cached per host and scope set until they
/// expire; concurrent requests for the same token share one fetch.
actor Authenticator {
    private let credentials: any CredentialProvider
    private let http: HTTPClient
    private let logger: Logger
    private let retry: RetryPolicy
    private let userAgent: String

    private struct CachedToken {
        var value: String
        var expires: ContinuousClock.Instant
    }

    private var challenges: [String: AuthChallenge] = [:]
    private var tokens: [String: CachedToken] = [:]
    private var inflight: [String: Task<CachedToken, any Error>] = [:]
    private var credentialCache: [String: Credential?] = [:]
    /// Token requests made, for tests and request accounting.
    private(set) var tokenRequests = 0

    init(credentials: any CredentialProvider, http: HTTPClient, retry: RetryPolicy, userAgent: String, logger: Logger) {
        self.credentials = credentials
        self.http = http
        self.retry = retry
        self.userAgent = userAgent
        self.logger = logger
    }

    /// The header for a request to `host` needing `scopes`, from what earlier challenges taught;
    /// `nil` until the host has challenged (the first request goes out anonymous).
    func authorization(host: String, scopes: [AuthScope]) async throws(RegistryError) -> String? {
        guard let challenge = challenges[host] else { return nil }
        switch challenge.scheme {
        case "basic":
            return try await credential(for: host)?.basicAuthorization
        case "bearer":
            return "Bearer " + (try await token(host: host, challenge: challenge, scopes: scopes).value)
        default:
            return nil
        }
    }

    /// Records a 401's challenge. Returns true when a new attempt can carry different credentials
    /// (a fresh token, or Basic credentials now known); false when retrying cannot help.
    func challenged(host: String, header: String?, scopes: [AuthScope], sentAuthorization: String?) async throws(RegistryError) -> Bool {
        let parsed = AuthChallenge.parse(header ?? "")
        guard let challenge = parsed.first(where: { $0.scheme == "bearer" }) ?? parsed.first(where: { $0.scheme == "basic" }) else {
            return false
        }
        challenges[host] = challenge
        switch challenge.scheme {
        case "basic":
            guard let cred = try await credential(for: host) else { return false }
            return cred.basicAuthorization != sentAuthorization
        case "bearer":
            // The token we sent (if any) was refused or lacked a scope: fetch one covering the
            // request's scopes and whatever the registry asked for. The caller bounds the retries.
            var wanted = scopes
            wanted.append(contentsOf: challenge.scopes.compactMap(AuthScope.init(parsing:)))
            let key = Self.key(host: host, scopes: scopes)
            tokens[key] = nil
            let fresh = try await fetchToken(host: host, challenge: challenge, scopes: AuthScope.merge(wanted))
            tokens[key] = fresh
            return "Bearer " + fresh.value != sentAuthorization
        default:
            return false
        }
    }

    /// The number of token requests sent so far.
    func tokenRequestCount() -> Int { tokenRequests }

    // MARK: private

    private static func key(host: String, scopes: [AuthScope]) -> String {
        host + " " + AuthScope.merge(scopes).map(\.description).joined(separator: " ")
    }

    private func credential(for host: String) async throws(RegistryError) -> Credential? {
        if let cached = credentialCache[host] { return cached }
        let c = try await credentials.credential(for: host)
        credentialCache[host] = c
        return c
    }

    private func token(host: String, challenge: AuthChallenge, scopes: [AuthScope]) async throws(RegistryError) -> CachedToken {
        let key = Self.key(host: host, scopes: scopes)
        if let t = tokens[key], t.expires > .now { return t }
        if let running = inflight[key] {
            do { return try await running.value } catch { throw Self.wrap(error, realm: challenge.realm ?? host) }
        }
        let merged = AuthScope.merge(scopes)
        let task = Task { () async throws -> CachedToken in
            try await self.fetchToken(host: host, challenge: challenge, scopes: merged)
        }
        inflight[key] = task
        defer { inflight[key] = nil }
        do {
            let t = try await task.value
            tokens[key] = t
            return t
        } catch {
            throw Self.wrap(error, realm: challenge.realm ?? host)
        }
    }

    private static func wrap(_ error: any Error, realm: String) -> RegistryError {
        (error as? RegistryError) ?? .tokenService(realm: realm, status: nil, reason: "\(error)")
    }

    private func fetchToken(host: String, challenge: AuthChallenge, scopes: [AuthScope]) async throws(RegistryError) -> CachedToken {
        guard let realm = challenge.realm, let realmURL = URL(string: realm), realmURL.scheme != nil else {
            throw RegistryError.tokenService(realm: challenge.realm ?? "(none)", status: nil,
                                             reason: "Bearer challenge from \(host) has no usable realm")
        }
        let cred = try await credential(for: host)
        if let refresh = cred?.identityToken {
            let form = ["grant_type": "refresh_token", "refresh_token": refresh]
            if let t = try await postToken(realm: realm, challenge: challenge, scopes: scopes, form: form) { return t }
        }
        let (status, body) = try await send(method: .GET, url: Self.tokenURL(realm: realm, challenge: challenge, scopes: scopes),
                                            authorization: cred.flatMap { $0.identityToken == nil ? $0.basicAuthorization : nil },
                                            form: nil, realm: realm)
        if (status == 404 || status == 405), let cred, cred.identityToken == nil {
            let form = ["grant_type": "password", "username": cred.username, "password": cred.password]
            if let t = try await postToken(realm: realm, challenge: challenge, scopes: scopes, form: form) { return t }
        }
        return try Self.decodeToken(status: status, body: body, realm: realm)
    }

    /// OAuth2 token request; `nil` when the service does not implement POST (404/405).
    private func postToken(realm: String, challenge: AuthChallenge, scopes: [AuthScope], form: [String: String]) async throws(RegistryError) -> CachedToken? {
        var fields = form
        fields["client_id"] = "kiln"
        fields["access_type"] = "offline"
        if let service = challenge.service { fields["service"] = service }
        if !scopes.isEmpty { fields["scope"] = scopes.map(\.description).joined(separator: " ") }
        let (status, body) = try await send(method: .POST, url: realm, authorization: nil, form: fields, realm: realm)
        if status == 404 || status == 405 { return nil }
        return try Self.decodeToken(status: status, body: body, realm: realm)
    }

    private static func tokenURL(realm: String, challenge: AuthChallenge, scopes: [AuthScope]) -> String {
        var items: [URLQueryItem] = []
        if let service = challenge.service { items.append(URLQueryItem(name: "service", value: service)) }
        for s in scopes { items.append(URLQueryItem(name: "scope", value: s.description)) }
        guard var comps = URLComponents(string: realm) else { return realm }
        comps.queryItems = (comps.queryItems ?? []) + items
        // URLComponents leaves ':' and ',' alone; registries accept both.
        return comps.url?.absoluteString ?? realm
    }

    private static func decodeToken(status: Int, body: Data, realm: String) throws(RegistryError) -> CachedToken {
        guard status == 200 else {
            let details = RegistryError.details(from: body)
            let reason = details.isEmpty ? String(decoding: body.prefix(300), as: UTF8.self) : details.map(\.description).joined(separator: "; ")
            throw RegistryError.tokenService(realm: realm, status: status, reason: reason.isEmpty ? "request refused" : reason)
        }
        struct Reply: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        guard let reply = try? JSONDecoder().decode(Reply.self, from: body),
              let value = reply.token ?? reply.access_token, !value.isEmpty
        else {
            throw RegistryError.tokenService(realm: realm, status: status, reason: "reply has no token")
        }
        // Docker's rule: a missing or too small lifetime means 60 seconds. Renew 5 s early.
        let lifetime = max(60, reply.expires_in ?? 60)
        return CachedToken(value: value, expires: .now + .seconds(lifetime - 5))
    }

    private func send(method: HTTPMethod, url: String, authorization: String?, form: [String: String]?, realm: String) async throws(RegistryError) -> (Int, Data) {
        var lastError = ""
        for attempt in 1...retry.maxAttempts {
            tokenRequests += 1
            var req = HTTPClientRequest(url: url)
            req.method = method
            req.headers.add(name: "User-Agent", value: userAgent)
            if let authorization { req.headers.add(name: "Authorization", value: authorization) }
            if let form {
                var comps = URLComponents()
                comps.queryItems = form.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
                let encoded = (comps.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
                req.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                req.body = .bytes(ByteBuffer(string: encoded))
            }
            do {
                let resp = try await http.execute(req, timeout: .seconds(60))
                let body = try await resp.body.collect(upTo: 1 << 20)
                let status = Int(resp.status.code)
                logger.debug("token \(method) \(realm) -> \(status) (attempt \(attempt))")
                if RetryPolicy.isRetryable(status: status) && attempt < retry.maxAttempts {
                    lastError = "HTTP \(status)"
                    try? await Task.sleep(for: retry.delay(afterAttempt: attempt,
                                                           retryAfter: RetryPolicy.parseRetryAfter(resp.headers.first(name: "Retry-After"))))
                    continue
                }
                return (status, Data(body.readableBytesView))
            } catch {
                lastError = "\(error)"
                logger.debug("token \(method) \(realm) failed (attempt \(attempt)): \(error)")
                if attempt < retry.maxAttempts { try? await Task.sleep(for: retry.delay(afterAttempt: attempt)) }
            }
        }
        throw RegistryError.tokenService(realm: realm, status: nil, reason: lastError)
    }
}
