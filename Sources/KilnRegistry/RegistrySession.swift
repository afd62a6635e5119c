import AsyncHTTPClient
import Foundation
import KilnOCI
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import KilnSystem
import Synchronization

/// A request body that can be sent again on a retry.
enum RequestBody: Sendable {
    /// Bytes in memory (manifests, small documents).
    case bytes(Data)
    /// A byte range of an open file, streamed in chunks.
    case file(BlobFile, Range<Int64>)

    var length: Int64 {
        switch self {
        case .bytes(let d): Int64(d.count)
        case .file(_, let r): r.upperBound - r.lowerBound
        }
    }

    func makeBody() -> HTTPClientRequest.Body {
        switch self {
        case .bytes(let d):
            return .bytes(ByteBuffer(bytes: d))
        case .file(let file, let range):
            return .stream(file.chunks(in: range), length: .known(length))
        }
    }
}

/// One logical registry request; `send` may turn it into several HTTP attempts.
struct RegistryRequest: Sendable {
    var method: HTTPMethod
    var url: String
    /// The registry host the request belongs to: its auth applies to URLs on the same origin.
    var host: String
    var scopes: [AuthScope]
    var headers: HTTPHeaders = [:]
    var body: RequestBody?
    /// Statuses handed back to the caller; any other one becomes a ``RegistryError``.
    var accept: Set<Int>
    /// What the request is about, for messages ("manifest REF", "blob DIGEST").
    var what: String
    /// Whether transport failures and retryable statuses are retried here. Uploads that may have
    /// left partial data at the registry are resumed by their caller instead.
    var retryable = true
    var followRedirects = true
    /// False for downloads that are not registry requests (ADD URLs): no credentials are sent.
    var authenticate = true
}

/// The HTTP layer under ``RegistryClient``: connections, authentication, retries, redirects,
/// per-host transfer bounds and request accounting.
final class RegistrySession: Sendable {
    let http: HTTPClient
    /// Clients for hosts with TLS settings of their own (`insecure`, `ca` in the config file).
    let hostClients: [String: HTTPClient]
    let auth: Authenticator
    let configuration: RegistryConfiguration
    let logger: Logger
    private let semaphores = Mutex<[String: AsyncSemaphore]>([:])
    private let counters = Mutex<RequestCounters>(RequestCounters())

    init(configuration: RegistryConfiguration, credentials: any CredentialProvider, logger: Logger) throws(RegistryError) {
        let http = Self.client(configuration, caFiles: configuration.allCAFiles(), verify: true)
        var hostClients: [String: HTTPClient] = [:]
        for (host, settings) in configuration.hosts where settings.needsOwnTLS {
            let client = Self.client(configuration, caFiles: configuration.allCAFiles() + settings.caFiles, verify: !settings.skipVerify)
            hostClients[host] = client
            if host == Reference.dockerHub { hostClients[Reference.dockerHubAPIHost] = client }
        }
        for file in configuration.allCAFiles() + configuration.hosts.values.flatMap(\.caFiles)
            where !FileManager.default.isReadableFile(atPath: file) {
            for c in [http] + hostClients.values { try? c.syncShutdown() }
            throw RegistryError.configuration("CA certificate file \(file) is not readable")
        }
        self.http = http
        self.hostClients = hostClients
        self.configuration = configuration
        self.logger = logger
        self.auth = Authenticator(credentials: credentials, http: http, retry: configuration.retry,
                                  userAgent: configuration.userAgent, logger: logger)
    }

    /// An HTTP client trusting the system's CAs and `caFiles` (or, without `verify`, any certificate).
    private static func client(_ configuration: RegistryConfiguration, caFiles: [String], verify: Bool) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = caFiles.filter { FileManager.default.isReadableFile(atPath: $0) }.map { .file($0) }
        if !verify { tls.certificateVerification = .none }
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(configuration.connectTimeout), read: .seconds(configuration.readTimeout)),
            decompression: .disabled)
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        // Connection failures surface at once and go through our own retry policy; left to the
        // pool, a TLS verification failure would be retried silently until the timeout.
        config.connectionPool.retryConnectionEstablishment = false
        config.httpVersion = .automatic
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    func shutdown() async {
        try? await http.shutdown()
        for c in hostClients.values { try? await c.shutdown() }
    }

    /// `http://host` or `https://host`.
    func baseURL(host: String) -> String {
        (configuration.usesPlainHTTP(host) ? "http://" : "https://") + host
    }

    /// Bounds concurrent blob transfers to one host.
    func withTransferPermit<T: Sendable>(host: String, _ body: @Sendable () async throws -> T) async throws -> T {
        let sem = semaphores.withLock { map in
            if let s = map[host] { return s }
            let s = AsyncSemaphore(value: configuration.maxConcurrentTransfersPerHost)
            map[host] = s
            return s
        }
        return try await sem.withPermit(body)
    }

    /// Requests sent so far, by method (auth token requests not included).
    var requestCounters: RequestCounters { counters.withLock { $0 } }

    func count(_ method: HTTPMethod, uploadedBytes: Int64 = 0) {
        counters.withLock { c in
            c.byMethod[method.rawValue, default: 0] += 1
            c.uploadedBytes += uploadedBytes
        }
    }

    func countDownloaded(_ bytes: Int64) {
        counters.withLock { $0.downloadedBytes += bytes }
    }

    /// Where one logical request stands across its HTTP attempts.
    private struct Attempts {
        var url: String
        var method: HTTPMethod
        var body: RequestBody?
        var attempt = 0
        var authRetries = 0
        var redirects = 0
        let maxAttempts: Int
        let began = ContinuousClock.now
        var elapsed: Duration { ContinuousClock.now - began }
    }

    /// Sends `request`, answering auth challenges, following redirects (dropping credentials on
    /// another origin) and retrying what is worth retrying. Returns a response whose status is
    /// in `request.accept`; its body is still to be read.
    func send(_ request: RegistryRequest) async throws(RegistryError) -> HTTPClientResponse {
        var state = Attempts(url: request.url, method: request.method, body: request.body,
                             maxAttempts: request.retryable ? configuration.retry.maxAttempts : 1)
        while true {
            state.attempt += 1
            let (req, sentAuthorization) = try await httpRequest(request, state: state)
            count(state.method, uploadedBytes: state.body?.length ?? 0)
            let response: HTTPClientResponse
            do {
                response = try await (hostClients[request.host] ?? http).execute(req, timeout: .hours(6))
            } catch {
                let reason = Self.describe(error)
                logger.debug("\(state.method) \(state.url) failed (attempt \(state.attempt)/\(state.maxAttempts)): \(reason)")
                let delay = configuration.retry.delay(afterAttempt: state.attempt)
                if Task.isCancelled || state.attempt >= state.maxAttempts || !configuration.retry.allowsRetry(elapsed: state.elapsed, delay: delay) {
                    throw RegistryError.transport(method: state.method.rawValue, url: state.url, attempts: state.attempt, underlying: reason)
                }
                try await sleep(delay)
                continue
            }
            logger.debug("\(state.method) \(state.url) -> \(response.status.code) (attempt \(state.attempt)/\(state.maxAttempts))")
            if request.accept.contains(Int(response.status.code)) { return response }
            guard try await shouldTryAgain(after: response, request: request, state: &state, sentAuthorization: sentAuthorization) else {
                throw await failure(response, request: request, state: state)
            }
        }
    }

    /// The HTTP request of the next attempt, with credentials for the registry's own origin.
    private func httpRequest(_ request: RegistryRequest, state: Attempts) async throws(RegistryError) -> (HTTPClientRequest, String?) {
        var req = HTTPClientRequest(url: state.url)
        req.method = state.method
        req.headers = request.headers
        req.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
        var sentAuthorization: String?
        if origin(of: state.url) == origin(of: baseURL(host: request.host)) && request.authenticate {
            sentAuthorization = try await auth.authorization(host: request.host, scopes: request.scopes)
            if let a = sentAuthorization { req.headers.replaceOrAdd(name: "Authorization", value: a) }
        }
        if let body = state.body {
            req.body = body.makeBody()
            req.headers.replaceOrAdd(name: "Content-Length", value: String(body.length))
        } else if [.PUT, .POST, .PATCH].contains(state.method) {
            req.headers.replaceOrAdd(name: "Content-Length", value: "0")
        }
        return (req, sentAuthorization)
    }

    /// After a status the caller does not accept: follows a redirect, answers a challenge or
    /// waits out a retryable status (true: send again); false when the status is final.
    private func shouldTryAgain(after response: HTTPClientResponse, request: RegistryRequest, state: inout Attempts,
                                sentAuthorization: String?) async throws(RegistryError) -> Bool {
        let status = Int(response.status.code)
        if [301, 302, 303, 307, 308].contains(status), request.followRedirects, state.redirects < 5,
           let location = response.headers.first(name: "Location"), let next = resolve(location, against: state.url) {
            await drain(response)
            state.redirects += 1
            state.url = next
            if status == 303 { state.method = .GET; state.body = nil }
            state.attempt -= 1
            return true
        }
        if status == 401, origin(of: state.url) == origin(of: baseURL(host: request.host)), request.authenticate, state.authRetries < 2 {
            await drain(response)
            let header = response.headers.first(name: "WWW-Authenticate")
            guard try await auth.challenged(host: request.host, header: header, scopes: request.scopes, sentAuthorization: sentAuthorization) else {
                throw RegistryError.unauthorized(
                    url: state.url, errors: [],
                    hint: sentAuthorization == nil ? "no credentials for \(request.host); log in or add them to the Docker config" : "credentials refused")
            }
            state.authRetries += 1
            state.attempt -= 1
            return true
        }
        if RetryPolicy.isRetryable(status: status), state.attempt < state.maxAttempts {
            let retryAfter = RetryPolicy.parseRetryAfter(response.headers.first(name: "Retry-After"))
            let delay = configuration.retry.delay(afterAttempt: state.attempt, retryAfter: retryAfter)
            if configuration.retry.allowsRetry(elapsed: state.elapsed, delay: delay) {
                await drain(response)
                try await sleep(delay)
                return true
            }
        }
        return false
    }

    /// The error for a final status, with the registry's own error body.
    private func failure(_ response: HTTPClientResponse, request: RegistryRequest, state: Attempts) async -> RegistryError {
        let status = Int(response.status.code)
        let data = await collect(response, limit: 64 * 1024)
        let details = RegistryError.details(from: data)
        switch status {
        case 404: return .notFound(what: request.what, url: state.url, errors: details)
        case 401, 403: return .unauthorized(url: state.url, errors: details, hint: status == 403 ? "access denied" : "")
        default:
            return .http(method: state.method.rawValue, url: state.url, status: status, errors: details, body: String(decoding: data, as: UTF8.self))
        }
    }

    /// Reads a whole (small) body, failing past `limit` bytes.
    func collectBody(_ response: HTTPClientResponse, limit: Int, url: String) async throws(RegistryError) -> Data {
        do {
            let buf = try await response.body.collect(upTo: limit)
            return Data(buf.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw RegistryError.invalidResponse(url: url, reason: "body larger than \(limit) bytes")
        } catch {
            throw RegistryError.transport(method: "GET", url: url, attempts: 1, underlying: Self.describe(error))
        }
    }

    private func collect(_ response: HTTPClientResponse, limit: Int) async -> Data {
        var out = Data()
        do {
            for try await chunk in response.body {
                if out.count < limit { out.append(contentsOf: chunk.readableBytesView.prefix(limit - out.count)) }
            }
        } catch {}
        return out
    }

    /// Reads and discards a body so the connection can be reused.
    func drain(_ response: HTTPClientResponse) async {
        do { for try await _ in response.body {} } catch {}
    }

    func sleep(_ d: Duration) async throws(RegistryError) {
        do {
            try await Task.sleep(for: d)
        } catch {
            throw RegistryError.transport(method: "", url: "", attempts: 0, underlying: "cancelled")
        }
    }

    /// `scheme://host:port` of a URL, for same-origin checks.
    func origin(of url: String) -> String {
        guard let c = URLComponents(string: url) else { return url }
        let scheme = c.scheme?.lowercased() ?? ""
        let port = c.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(c.host?.lowercased() ?? "")\(port)"
    }

    /// Resolves a `Location` header (absolute, or relative to the request URL).
    func resolve(_ location: String, against url: String) -> String? {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        guard let base = URL(string: url), let u = URL(string: location, relativeTo: base) else { return nil }
        return u.absoluteString
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError { return "\(e)" }
        if let e = error as? NIOSSLError { return "TLS: \(e)" }
        if let e = error as? IOError { return e.description }
        return "\(error)"
    }
}

/// How many requests a client sent and how many blob bytes moved.
public struct RequestCounters: Sendable, Hashable {
    /// Requests per HTTP method.
    public var byMethod: [String: Int] = [:]
    /// Bytes sent in request bodies.
    public var uploadedBytes: Int64 = 0
    /// Blob bytes received.
    public var downloadedBytes: Int64 = 0
    /// All requests.
    public var total: Int { byMethod.values.reduce(0, +) }
}
