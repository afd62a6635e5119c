import KilnOCI

/// One entry of the `errors` array a distribution registry returns with a failure.
public struct DistributionErrorDetail: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The error code, e.g. `MANIFEST_UNKNOWN`, `DENIED`.
    public var code: String
    /// The registry's message.
    public var message: String?
    /// Extra detail, kept as JSON.
    public var detail: JSONValue?

    /// `CODE: message`.
    public var description: String {
        var s = code
        if let message, !message.isEmpty { s += ": " + message }
        return s
    }
}

/// Errors from talking to a registry. Each case carries what a user needs to act: the URL or
/// reference, the HTTP status and the registry's own error body.
public enum RegistryError: Error, Sendable, CustomStringConvertible {
    /// The registry answered with an error status.
    case http(method: String, url: String, status: Int, errors: [DistributionErrorDetail], body: String)
    /// The manifest or blob does not exist.
    case notFound(what: String, url: String, errors: [DistributionErrorDetail])
    /// Credentials were missing or refused.
    case unauthorized(url: String, errors: [DistributionErrorDetail], hint: String)
    /// Content did not match the digest it was requested by.
    case digestMismatch(url: String, expected: Digest, actual: Digest)
    /// Content was not the size its descriptor declared.
    case sizeMismatch(url: String, expected: Int64, actual: Int64)
    /// The connection failed and retries were exhausted.
    case transport(method: String, url: String, attempts: Int, underlying: String)
    /// The registry's response made no sense (missing header, bad JSON, …).
    case invalidResponse(url: String, reason: String)
    /// The token service refused or failed.
    case tokenService(realm: String, status: Int?, reason: String)
    /// A credential helper (`docker-credential-NAME`) failed.
    case credentialHelper(helper: String, reason: String)
    /// Local configuration (docker config.json, CA file, options) is unusable.
    case configuration(String)
    /// A local file could not be read or written.
    case localIO(path: String, reason: String)
    /// A value from the registry did not parse as an OCI document.
    case document(url: String, OCIError)

    /// A one-line message for users (upload-session URLs without their long state query).
    public var description: String {
        func shown(_ url: String) -> String { Self.display(url) }
        switch self {
        case .http(let method, let url, let status, let errors, let body):
            return "\(method) \(shown(url)): HTTP \(status)\(Self.describe(errors: errors, body: body))"
        case .notFound(let what, let url, let errors):
            return "\(what) not found: \(shown(url))\(Self.describe(errors: errors, body: ""))"
        case .unauthorized(let url, let errors, let hint):
            return "unauthorized: \(shown(url))\(Self.describe(errors: errors, body: ""))\(hint.isEmpty ? "" : " (\(hint))")"
        case .digestMismatch(let url, let expected, let actual):
            return "digest mismatch for \(shown(url)): expected \(expected), got \(actual)"
        case .sizeMismatch(let url, let expected, let actual):
            return "size mismatch for \(shown(url)): expected \(expected) bytes, got \(actual)"
        case .transport(let method, let url, let attempts, let underlying):
            return "\(method) \(shown(url)) failed after \(attempts) attempt\(attempts == 1 ? "" : "s"): \(underlying)"
        case .invalidResponse(let url, let reason):
            return "unexpected response from \(shown(url)): \(reason)"
        case .tokenService(let realm, let status, let reason):
            return "token service \(realm)\(status.map { " (HTTP \($0))" } ?? ""): \(reason)"
        case .credentialHelper(let helper, let reason):
            return "credential helper docker-credential-\(helper): \(reason)"
        case .configuration(let message):
            return message
        case .localIO(let path, let reason):
            return "\(path): \(reason)"
        case .document(let url, let error):
            return "\(shown(url)): \(error)"
        }
    }

    /// `url` as users see it: an upload session's `_state` (a long opaque token) is left out.
    static func display(_ url: String) -> String {
        guard url.contains("_state="), var c = URLComponents(string: url) else { return url }
        c.queryItems = c.queryItems?.filter { $0.name != "_state" }
        if c.queryItems?.isEmpty == true { c.queryItems = nil }
        return c.string ?? url
    }

    /// True for errors that mean "the thing is not there" (as opposed to "could not ask").
    public var isNotFound: Bool {
        if case .notFound = self { return true }
        return false
    }

    private static func describe(errors: [DistributionErrorDetail], body: String) -> String {
        if !errors.isEmpty { return " (" + errors.map(\.description).joined(separator: "; ") + ")" }
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return "" }
        return ": " + String(trimmed.prefix(300))
    }
}

import Foundation

extension RegistryError {
    /// Decodes a registry error body (`{"errors":[…]}`); an empty list when the body is not one.
    static func details(from body: Data) -> [DistributionErrorDetail] {
        struct Envelope: Decodable { var errors: [DistributionErrorDetail]? }
        return (try? JSONDecoder().decode(Envelope.self, from: body))?.errors ?? []
    }
}
