/// A parsed `WWW-Authenticate` challenge.
public struct AuthChallenge: Sendable, Hashable {
    /// The scheme, lowercased: `bearer` or `basic`.
    public var scheme: String
    /// Parameters with lowercased keys (`realm`, `service`, `scope`, `error`).
    public var parameters: [String: String]

    /// The token endpoint of a Bearer challenge.
    public var realm: String? { parameters["realm"] }
    /// The `service` to name in token requests.
    public var service: String? { parameters["service"] }
    /// The scopes the registry asks for (space-separated in the header).
    public var scopes: [String] { parameters["scope"].map { $0.split(separator: " ").map(String.init) } ?? [] }
    /// True when a token was valid but lacked a needed scope.
    public var isInsufficientScope: Bool { parameters["error"] == "insufficient_scope" }

    /// Parses every challenge in a header value (`Bearer realm="…",service="…", Basic realm="…"`).
    public static func parse(_ header: String) -> [AuthChallenge] {
        var out: [AuthChallenge] = []
        var s = Substring(header)
        func skipSpaces() { while let c = s.first, c == " " || c == "\t" || c == "," { s.removeFirst() } }
        func token() -> String {
            var t = ""
            while let c = s.first, c != " ", c != "\t", c != ",", c != "=" { t.append(c); s.removeFirst() }
            return t
        }
        skipSpaces()
        while !s.isEmpty {
            let scheme = token().lowercased()
            guard !scheme.isEmpty else { break }
            var params: [String: String] = [:]
            while true {
                skipSpaces()
                // Look ahead: `name=` is a parameter, a bare word starts the next challenge.
                let save = s
                let name = token()
                guard !name.isEmpty, s.first == "=" else { s = save; break }
                s.removeFirst()
                var value = ""
                if s.first == "\"" {
                    s.removeFirst()
                    while let c = s.first {
                        s.removeFirst()
                        if c == "\\", let next = s.first { value.append(next); s.removeFirst(); continue }
                        if c == "\"" { break }
                        value.append(c)
                    }
                } else {
                    value = token()
                }
                params[name.lowercased()] = value
            }
            out.append(AuthChallenge(scheme: scheme, parameters: params))
            skipSpaces()
        }
        return out
    }
}

/// A token scope such as `repository:library/busybox:pull,push`.
public struct AuthScope: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The resource name (repository path).
    public var repository: String
    /// The actions, e.g. `pull`, `push`.
    public var actions: Set<String>

    /// A repository scope.
    public init(repository: String, actions: Set<String>) {
        self.repository = repository
        self.actions = actions
    }

    /// Pull access to `repository`.
    public static func pull(_ repository: String) -> AuthScope { AuthScope(repository: repository, actions: ["pull"]) }
    /// Pull and push access to `repository`.
    public static func push(_ repository: String) -> AuthScope { AuthScope(repository: repository, actions: ["pull", "push"]) }

    /// `repository:NAME:a,b` with actions sorted.
    public var description: String { "repository:\(repository):\(actions.sorted().joined(separator: ","))" }

    /// Orders scopes by their string form.
    public static func < (a: AuthScope, b: AuthScope) -> Bool { a.description < b.description }

    /// Parses `repository:NAME:actions`; other resource types are kept out.
    public init?(parsing s: String) {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0] == "repository" else { return nil }
        repository = parts[1..<(parts.count - 1)].joined(separator: ":")
        actions = Set(parts[parts.count - 1].split(separator: ",").map(String.init))
    }

    /// Merges scopes on the same repository into one with the union of their actions.
    public static func merge(_ scopes: [AuthScope]) -> [AuthScope] {
        var byRepo: [String: Set<String>] = [:]
        for s in scopes { byRepo[s.repository, default: []].formUnion(s.actions) }
        return byRepo.map { AuthScope(repository: $0.key, actions: $0.value) }.sorted()
    }
}
