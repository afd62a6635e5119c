/// A fully qualified image reference: `registry/repository[:tag][@digest]`.
///
/// Parsing follows the Docker reference grammar and its normalisation: a name without a
/// registry is on `docker.io`, a one-part Docker Hub name gains `library/`, and a reference with
/// neither tag nor digest gets the tag `latest`.
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    /// The registry as written after normalisation, e.g. `docker.io`, `localhost:5000`.
    public let registry: String
    /// The repository path, e.g. `library/busybox`.
    public let repository: String
    /// The tag, if any (`latest` when neither tag nor digest was given).
    public let tag: String?
    /// The digest, if any; it takes precedence over the tag when fetching.
    public let digest: Digest?

    /// Docker Hub's canonical registry name.
    public static let dockerHub = "docker.io"

    /// A reference from already validated parts.
    public init(registry: String, repository: String, tag: String? = nil, digest: Digest? = nil) throws(OCIError) {
        let whole = "\(registry)/\(repository)"
        try Reference.validateDomain(registry, whole: whole)
        try Reference.validatePath(repository, whole: whole)
        if let tag { try Reference.validateTag(tag, whole: whole) }
        self.registry = registry
        self.repository = repository
        self.tag = (tag == nil && digest == nil) ? "latest" : tag
        self.digest = digest
    }

    /// Parses a reference as a user writes it (`busybox`, `ghcr.io/o/r:1`, `host:5000/r@sha256:…`).
    public init(parsing input: String) throws(OCIError) {
        guard !input.isEmpty else { throw OCIError.invalidReference(input, reason: "empty reference") }
        var rest = Substring(input)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            digest = try Digest(parsing: String(rest[rest.index(after: at)...]))
            rest = rest[..<at]
        }
        var tag: String?
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        let name = String(rest)
        guard !name.isEmpty else { throw OCIError.invalidReference(input, reason: "missing repository name") }

        var domain = Reference.dockerHub
        var path = name
        if let slash = name.firstIndex(of: "/") {
            let first = name[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                domain = String(first)
                path = String(name[name.index(after: slash)...])
            }
        }
        if path.utf8.count == 64, path.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
            throw OCIError.invalidReference(input, reason: "a 64-character hex string is an image ID, not a name")
        }
        if domain == "index.docker.io" { domain = Reference.dockerHub }
        if domain == Reference.dockerHub && !path.contains("/") { path = "library/" + path }
        if path.lowercased() != path {
            throw OCIError.invalidReference(input, reason: "repository name must be lowercase")
        }
        guard domain.utf8.count + 1 + path.utf8.count <= 255 else {
            throw OCIError.invalidReference(input, reason: "name longer than 255 characters")
        }
        try Reference.validateDomain(domain, whole: input)
        try Reference.validatePath(path, whole: input)
        if let tag { try Reference.validateTag(tag, whole: input) }
        self.registry = domain
        self.repository = path
        self.tag = (tag == nil && digest == nil) ? "latest" : tag
        self.digest = digest
    }

    /// The host to speak the distribution API to (`registry-1.docker.io` for Docker Hub).
    public var apiHost: String { registry == Reference.dockerHub ? Reference.dockerHubAPIHost : registry }

    /// The host Docker Hub's registry API answers on.
    public static let dockerHubAPIHost = "registry-1.docker.io"

    /// What to put after `/manifests/`: the digest if known, else the tag.
    public var identifier: String { digest?.description ?? tag ?? "latest" }

    /// `registry/repository`.
    public var name: String { "\(registry)/\(repository)" }

    /// The full normalised form, e.g. `docker.io/library/busybox:latest`.
    public var description: String {
        var s = name
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    /// The same repository with another tag and no digest.
    public func withTag(_ tag: String) throws(OCIError) -> Reference {
        try Reference(registry: registry, repository: repository, tag: tag)
    }

    /// The same repository pinned to `digest` (the tag, if any, is kept for display).
    public func withDigest(_ digest: Digest) -> Reference {
        Reference(unchecked: registry, repository: repository, tag: tag, digest: digest)
    }

    /// Another repository on the same registry, e.g. to name a mount source.
    public func inRepository(_ repository: String) throws(OCIError) -> Reference {
        try Reference(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    private init(unchecked registry: String, repository: String, tag: String?, digest: Digest?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    // MARK: grammar

    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }

    private static func validatePath(_ path: String, whole: String) throws(OCIError) {
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            let bytes = Array(component.utf8)
            guard let first = bytes.first, let last = bytes.last, isAlnum(first), isAlnum(last) else {
                throw OCIError.invalidReference(
                    whole, reason: "path component '\(component)' must start and end with a lowercase letter or digit")
            }
            // separator := [_.] | __ | [-]+ between alphanumeric runs
            var i = 0
            while i < bytes.count {
                if isAlnum(bytes[i]) { i += 1; continue }
                var j = i
                while j < bytes.count && !isAlnum(bytes[j]) { j += 1 }
                let sep = bytes[i..<j]
                let ok = sep == [0x2e][...] || sep == [0x5f][...] || sep == [0x5f, 0x5f][...] || sep.allSatisfy { $0 == 0x2d }
                guard ok else {
                    throw OCIError.invalidReference(whole, reason: "invalid separator in path component '\(component)'")
                }
                i = j
            }
        }
    }

    private static func validateDomain(_ domain: String, whole: String) throws(OCIError) {
        var host = Substring(domain)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw OCIError.invalidReference(whole, reason: "unclosed '[' in registry host")
            }
            let inner = host[host.index(after: host.startIndex)..<close]
            guard !inner.isEmpty, inner.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw OCIError.invalidReference(whole, reason: "invalid IPv6 address in registry host")
            }
            host = host[host.index(after: close)...]
            if host.isEmpty { return }
            guard host.hasPrefix(":") else { throw OCIError.invalidReference(whole, reason: "invalid registry host") }
            try validatePort(host.dropFirst(), whole: whole)
            return
        }
        if let colon = host.firstIndex(of: ":") {
            try validatePort(host[host.index(after: colon)...], whole: whole)
            host = host[..<colon]
        }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            let ok = !label.isEmpty && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            guard ok else { throw OCIError.invalidReference(whole, reason: "invalid registry host '\(domain)'") }
        }
    }

    private static func validatePort(_ port: Substring, whole: String) throws(OCIError) {
        guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(port), n <= 65535 else {
            throw OCIError.invalidReference(whole, reason: "invalid port '\(port)'")
        }
    }

    private static func validateTag(_ tag: String, whole: String) throws(OCIError) {
        let bytes = Array(tag.utf8)
        func word(_ c: UInt8) -> Bool { isAlnum(c) || (c >= 0x41 && c <= 0x5a) || c == 0x5f }
        guard let first = bytes.first, word(first), bytes.count <= 128,
              bytes.allSatisfy({ word($0) || $0 == 0x2e || $0 == 0x2d })
        else {
            throw OCIError.invalidReference(whole, reason: "invalid tag '\(tag)'")
        }
    }
}
