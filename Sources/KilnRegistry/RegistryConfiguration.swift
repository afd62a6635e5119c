import Foundation
import KilnSystem
import KilnOCI

/// How a ``RegistryClient`` reaches registries: transport security per host, retries, bounds.
public struct RegistryConfiguration: Sendable {
    /// Hosts (`name[:port]`) spoken to over plain HTTP in addition to loopback ones.
    public var insecureHosts: Set<String> = []
    /// Extra CA certificate files (PEM) trusted for every TLS connection, beside the system's.
    public var extraCAFiles: [String] = []
    /// A directory laid out as `HOST[:PORT]/ca.crt` (Docker's `certs.d`): a host with a `ca.crt`
    /// there is spoken to over TLS with that CA, even on loopback.
    public var certsDirectory: String?
    /// Retry behaviour for failed requests.
    public var retry: RetryPolicy = .default
    /// At most this many blob transfers run at once against one host.
    public var maxConcurrentTransfersPerHost: Int = 4
    /// Blobs up to this size are uploaded with one PUT; larger ones in PATCH chunks of this size.
    public var chunkSize: Int64 = 16 * 1024 * 1024
    /// Seconds to wait for a TCP/TLS connection.
    public var connectTimeout: Int64 = 15
    /// Seconds without a byte (the first one included) before a read is given up (and retried).
    public var readTimeout: Int64 = 30
    /// The `User-Agent` sent with every request.
    public var userAgent: String = "kiln/0.1"
    /// Settings of single registries (the configuration file's `[registry."HOST"]`), by host as
    /// written there (`docker.io`, `registry.example.com:5000`).
    public var hosts: [String: HostSettings] = [:]

    /// The defaults: TLS verified everywhere but loopback, 5 attempts, 4 transfers per host.
    public init() {}

    /// Whether `host` (`name[:port]`) is spoken to over plain HTTP.
    public func usesPlainHTTP(_ host: String) -> Bool {
        if let http = settings(for: host)?.plainHTTP { return http }
        if hasCertsDirCA(host) { return false }
        return insecureHosts.contains(host) || insecureHosts.contains(Self.hostname(of: host)) || Self.isLoopback(host)
    }

    /// The settings for `host` (an API host: `registry-1.docker.io` finds `docker.io`'s).
    public func settings(for host: String) -> HostSettings? {
        hosts[host] ?? (host == Reference.dockerHubAPIHost ? hosts[Reference.dockerHub] : nil)
    }

    /// Where pulls from `ref` are tried, in order: each mirror configured for its registry
    /// (`HOST` or `HOST/PREFIX`, the prefix put before the repository), then the registry itself.
    public func pullCandidates(_ ref: Reference) -> [Reference] {
        let mirrors = settings(for: ref.apiHost)?.mirrors ?? []
        var out: [Reference] = []
        for m in mirrors {
            let (host, prefix) = m.firstIndex(of: "/").map { (String(m[..<$0]), String(m[m.index(after: $0)...])) } ?? (m, "")
            let repository = prefix.isEmpty ? ref.repository : prefix + "/" + ref.repository
            if let r = try? Reference(registry: host, repository: repository, tag: ref.tag, digest: ref.digest) { out.append(r) }
        }
        return out + [ref]
    }

    /// Every CA file to trust: the explicit ones and those found in the certs directory.
    public func allCAFiles() -> [String] {
        var files = extraCAFiles
        if let dir = certsDirectory, let hosts = try? FileManager.default.contentsOfDirectory(atPath: dir) {
            for host in hosts.sorted() {
                let ca = FSPath.under(dir, "\(host)/ca.crt")
                if FileManager.default.fileExists(atPath: ca) { files.append(ca) }
            }
        }
        return files
    }

    private func hasCertsDirCA(_ host: String) -> Bool {
        guard let dir = certsDirectory else { return false }
        return FileManager.default.fileExists(atPath: FSPath.under(dir, "\(host)/ca.crt"))
    }

    /// The host name without a port (and without IPv6 brackets).
    static func hostname(of host: String) -> String {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            return String(host[host.index(after: host.startIndex)..<close])
        }
        if let colon = host.lastIndex(of: ":") { return String(host[..<colon]) }
        return host
    }

    /// `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
    public static func isLoopback(_ host: String) -> Bool {
        let name = hostname(of: host).lowercased()
        if name == "localhost" || name.hasSuffix(".localhost") || name == "::1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

/// How kiln speaks to one registry, as buildkitd.toml's `[registry."HOST"]` says it.
public struct HostSettings: Sendable, Equatable {
    /// Hosts (`HOST` or `HOST/PREFIX`) tried before this registry for pulls, in order.
    public var mirrors: [String] = []
    /// `http = true`: plain HTTP; `false`: TLS even on loopback; nil: the default.
    public var plainHTTP: Bool?
    /// `insecure = true`: TLS without verifying the registry's certificate.
    public var skipVerify = false
    /// CA certificate files (PEM) trusted for this registry only.
    public var caFiles: [String] = []

    /// Default settings.
    public init() {}

    /// Whether connections to this host need a TLS setup of their own.
    var needsOwnTLS: Bool { skipVerify || !caFiles.isEmpty }
}

/// When and how long to wait before trying a failed request again.
public struct RetryPolicy: Sendable {
    /// Total attempts, the first included.
    public var maxAttempts: Int
    /// Delay before the second attempt; doubles each time.
    public var baseDelay: Duration
    /// Upper bound of one delay (also caps a registry's `Retry-After`).
    public var maxDelay: Duration
    /// No new attempt starts once this long has passed since the first one: a registry that
    /// keeps failing ends in one clear error, not in an unbounded wait.
    public var deadline: Duration

    /// A policy with the given bounds.
    public init(maxAttempts: Int, baseDelay: Duration, maxDelay: Duration, deadline: Duration = .seconds(300)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.deadline = deadline
    }

    /// 6 attempts, 200 ms doubling up to 10 s, with jitter, within 5 minutes.
    public static let `default` = RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(200), maxDelay: .seconds(10))

    /// Whether another attempt may start `delay` from now, `elapsed` after the first.
    public func allowsRetry(elapsed: Duration, delay: Duration) -> Bool { elapsed + delay < deadline }

    /// HTTP statuses worth another attempt: 408, 429 and 5xx except 501 and 505.
    public static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505)
    }

    /// The delay before attempt `attempt + 1` (attempt counts from 1): exponential with "equal
    /// jitter", or the registry's `Retry-After` when it gave one, capped at ``maxDelay``.
    public func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil) -> Duration {
        if let retryAfter { return min(retryAfter, maxDelay) }
        let exp = baseDelay * (1 << min(attempt - 1, 20))
        let capped = min(exp, maxDelay)
        let half = capped / 2
        let jitterMs = Int64.random(in: 0...max(0, Int64(half.components.seconds * 1000 + half.components.attoseconds / 1_000_000_000_000_000)))
        return half + .milliseconds(jitterMs)
    }

    /// Parses `Retry-After`: delta seconds or an HTTP date.
    public static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int64(value) { return .seconds(max(0, seconds)) }
        guard let date = Timestamp.parseHTTPDate(value) else { return nil }
        return .milliseconds(max(0, (date - Int64(now.timeIntervalSince1970)) * 1000))
    }
}
