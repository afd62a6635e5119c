import Foundation
import KilnOCI
import KilnRegistry
import KilnTestSupport
import NIOCore
import Synchronization
import Testing

/// TLS with a private CA plus htpasswd Basic auth, and the Bearer token flow, against the real
/// registry.
@Suite struct AuthenticationTests {
    /// A registry over TLS (CA made by openssl) requiring Basic auth for `alice:s3cret`.
    func tlsBasicRegistry(_ dir: TemporaryDirectory) async throws -> (TestRegistry, TestCertificates, RegistryConfiguration) {
        let certs = try await TestCertificates.make(in: dir.path)
        let htpasswd = try await ProcessRunner.run(["htpasswd", "-Bbn", "alice", "s3cret"])
        try htpasswd.text.write(toFile: dir.file("htpasswd"), atomically: true, encoding: .utf8)
        let registry = try await TestRegistry(tls: (certs.serverCert, certs.serverKey), auth: .htpasswd(file: dir.file("htpasswd")))
        // certs.d layout: this loopback host is spoken to over TLS with this CA.
        let certsDir = dir.file("certs.d")
        try FileManager.default.createDirectory(atPath: certsDir + "/" + registry.host, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: certs.caCert, toPath: certsDir + "/" + registry.host + "/ca.crt")
        var config = testConfiguration()
        config.certsDirectory = certsDir
        return (registry, certs, config)
    }

    @Test func tlsWithBasicAuthPushesAndPulls() async throws {
        let dir = try TemporaryDirectory()
        let (registry, _, config) = try await tlsBasicRegistry(dir)
        let ref = try Reference(parsing: "\(registry.host)/secure/app:v1")
        let creds = StaticCredentials([registry.host: Credential(username: "alice", password: "s3cret")])
        try await withClient(config, credentials: creds) { client in
            let (digest, blobs) = try await pushImage(client, to: ref, dir: dir, layerSize: 500_000)
            #expect(try await client.manifest(ref).digest == digest)
            let out = dir.file("layer")
            try await client.fetchBlob(blobs[1], from: ref, to: out)
            #expect(try fileDigest(out) == blobs[1].digest)
            // One anonymous probe learnt the Basic challenge; every later request carried credentials.
            #expect(client.counters.total < 12)
        }
    }

    @Test func wrongPasswordIsUnauthorized() async throws {
        let dir = try TemporaryDirectory()
        let (registry, _, config) = try await tlsBasicRegistry(dir)
        let ref = try Reference(parsing: "\(registry.host)/secure/app:v1")
        let creds = StaticCredentials([registry.host: Credential(username: "alice", password: "wrong")])
        try await withClient(config, credentials: creds) { client in
            await #expect {
                _ = try await client.manifest(ref)
            } throws: { error in
                guard case RegistryError.unauthorized = error else { return false }
                return !"\(error)".contains("wrong")  // never print a secret
            }
        }
        try await withClient(config) { client in
            await #expect {
                _ = try await client.manifest(ref)
            } throws: { error in
                "\(error)".contains("no credentials")
            }
        }
    }

    @Test func untrustedCertificateFailsClearly() async throws {
        let dir = try TemporaryDirectory()
        let (registry, _, _) = try await tlsBasicRegistry(dir)
        // Another CA in the certs dir: TLS is used, but the server's chain does not verify.
        let other = try TemporaryDirectory()
        let otherCerts = try await TestCertificates.make(in: other.path)
        let certsDir = other.file("certs.d")
        try FileManager.default.createDirectory(atPath: certsDir + "/" + registry.host, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: otherCerts.caCert, toPath: certsDir + "/" + registry.host + "/ca.crt")
        var config = testConfiguration()
        config.certsDirectory = certsDir
        config.retry = RetryPolicy(maxAttempts: 1, baseDelay: .milliseconds(1), maxDelay: .milliseconds(1))
        let ref = try Reference(parsing: "\(registry.host)/secure/app:v1")
        try await withClient(config) { client in
            await #expect {
                _ = try await client.manifest(ref)
            } throws: { error in
                let text = "\(error)"
                return text.contains("https://\(registry.host)") && (text.contains("TLS") || text.contains("certificate") || text.contains("handshake"))
            }
        }
    }

    /// A registry in token mode with a token service granting `alice` everything and anonymous
    /// clients `pull`.
    func tokenRegistry(_ dir: TemporaryDirectory, policy: TokenServer.Policy) async throws -> (TestRegistry, TokenServer) {
        let certs = try await TestCertificates.make(in: dir.path)
        let tokens = try await TokenServer(keyPEM: certs.tokenKey, certPEM: certs.tokenCert, policy: policy)
        let registry = try await TestRegistry(auth: .token(realm: tokens.realm, service: tokens.service,
                                                           issuer: tokens.issuer, rootCertBundle: certs.tokenCert))
        return (registry, tokens)
    }

    static var alicePolicy: TokenServer.Policy {
        var p = TokenServer.Policy()
        p.users = ["alice": "s3cret"]
        p.refreshTokens = ["refresh-abc": "alice"]
        p.anonymousActions = ["pull"]
        return p
    }

    @Test func bearerTokensAreFetchedOncePerScopeAndCached() async throws {
        let dir = try TemporaryDirectory()
        let (registry, tokens) = try await tokenRegistry(dir, policy: Self.alicePolicy)
        defer { Task { await tokens.stop() } }
        let ref = try Reference(parsing: "\(registry.host)/team/app:v1")
        let creds = StaticCredentials([registry.host: Credential(username: "alice", password: "s3cret")])
        try await withClient(credentials: creds) { client in
            let (digest, _) = try await pushImage(client, to: ref, dir: dir)
            for _ in 0..<5 { #expect(try await client.manifest(ref).digest == digest) }
            // push scope once, pull scope once (manifest GETs ask for pull only).
            #expect(tokens.requestCount <= 3, "token requests: \(tokens.grants.map(\.scopes))")
        }
        #expect(tokens.grants.allSatisfy { $0.user == "alice" })
    }

    @Test func anonymousPullWorksAndAnonymousPushIsRefused() async throws {
        let dir = try TemporaryDirectory()
        let (registry, tokens) = try await tokenRegistry(dir, policy: Self.alicePolicy)
        defer { Task { await tokens.stop() } }
        let ref = try Reference(parsing: "\(registry.host)/team/app:v1")
        let alice = StaticCredentials([registry.host: Credential(username: "alice", password: "s3cret")])
        let digest = try await withClient(credentials: alice) { client in try await pushImage(client, to: ref, dir: dir).0 }
        try await withClient { client in
            let fetched = try await client.manifest(ref)
            #expect(fetched.digest == digest)
            await #expect(throws: RegistryError.self) {
                _ = try await pushImage(client, to: try ref.withTag("v2"), dir: dir)
            }
        }
    }

    @Test func insufficientScopeRefetchesWithMergedScopes() async throws {
        let dir = try TemporaryDirectory()
        var policy = Self.alicePolicy
        policy.narrowFirstGrants = 1  // the first token covers pull only
        let (registry, tokens) = try await tokenRegistry(dir, policy: policy)
        defer { Task { await tokens.stop() } }
        let ref = try Reference(parsing: "\(registry.host)/team/narrow:v1")
        let creds = StaticCredentials([registry.host: Credential(username: "alice", password: "s3cret")])
        try await withClient(credentials: creds) { client in
            let (digest, _) = try await pushImage(client, to: ref, dir: dir)
            #expect(try await client.manifest(ref).digest == digest)
        }
        #expect(tokens.grants.count >= 2)
    }

    @Test func wrongCredentialsReportTheTokenService() async throws {
        let dir = try TemporaryDirectory()
        let (registry, tokens) = try await tokenRegistry(dir, policy: Self.alicePolicy)
        defer { Task { await tokens.stop() } }
        let ref = try Reference(parsing: "\(registry.host)/team/app:v1")
        let creds = StaticCredentials([registry.host: Credential(username: "alice", password: "nope")])
        try await withClient(credentials: creds) { client in
            await #expect {
                _ = try await client.manifest(ref)
            } throws: { error in
                guard case RegistryError.tokenService(let realm, let status, _) = error else { return false }
                return realm == tokens.realm && status == 401 && !"\(error)".contains("nope")
            }
        }
    }

    @Test func oauthPostIsUsedForIdentityTokensAndWhenGetIsRefused() async throws {
        let dir = try TemporaryDirectory()
        var policy = Self.alicePolicy
        policy.rejectGET = true
        let (registry, tokens) = try await tokenRegistry(dir, policy: policy)
        defer { Task { await tokens.stop() } }
        let ref = try Reference(parsing: "\(registry.host)/team/oauth:v1")
        let password = StaticCredentials([registry.host: Credential(username: "alice", password: "s3cret")])
        try await withClient(credentials: password) { client in
            _ = try await pushImage(client, to: ref, dir: dir)
        }
        #expect((tokens.requestsByMethod["POST"] ?? 0) >= 1)
        let refresh = StaticCredentials([registry.host: Credential(username: "<token>", password: "", identityToken: "refresh-abc")])
        try await withClient(credentials: refresh) { client in
            _ = try await client.manifest(ref)
        }
        #expect(tokens.grants.last?.user == "alice")
    }
}

/// Blob GETs redirected to storage on another origin (as S3-backed registries do) are followed
/// without the registry's credentials.
@Suite struct RedirectTests {
    @Test func redirectToAnotherOriginDropsAuthorization() async throws {
        let dir = try TemporaryDirectory()
        let certs = try await TestCertificates.make(in: dir.path)
        let tokens = try await TokenServer(keyPEM: certs.tokenKey, certPEM: certs.tokenCert, policy: AuthenticationTests.alicePolicy)
        let registry = try await TestRegistry(auth: .token(realm: tokens.realm, service: tokens.service,
                                                           issuer: tokens.issuer, rootCertBundle: certs.tokenCert))
        let proxy = try await FaultProxy(upstream: registry.host)
        let blob = try makeBlob(in: dir, size: 123_456)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: blob.path))
        let seenAuthorization = Mutex<[String?]>([])
        let storage = try await HTTPTestServer { request in
            seenAuthorization.withLock { $0.append(request.head.headers.first(name: "Authorization")) }
            return .init(status: .ok, body: ByteBuffer(bytes: bytes))
        }
        let ref = try Reference(parsing: "\(proxy.host)/team/redirected")
        let creds = StaticCredentials([proxy.host: Credential(username: "alice", password: "s3cret")])
        try await withClient(credentials: creds) { client in
            try await client.pushBlob(blob.descriptor, fromFile: blob.path, to: ref)
            proxy.inject(.init(times: 1, fault: .redirect(to: "http://127.0.0.1:\(storage.port)/storage/blob?sig=abc")) {
                $0.method == .GET && $0.uri.contains("/blobs/sha256:")
            })
            let out = dir.file("out")
            try await client.fetchBlob(blob.descriptor, from: ref, to: out)
            #expect(try fileDigest(out) == blob.descriptor.digest)
        }
        #expect(seenAuthorization.withLock { $0 } == [nil])
        #expect(proxy.log.contains { $0.fault == "redirect" && $0.status == 307 })
        await storage.stop()
        await proxy.stop()
        await tokens.stop()
    }
}
