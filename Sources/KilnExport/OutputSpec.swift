/// One `-o`/`--output` of `kiln build`, in buildx's CSV syntax.
public struct OutputSpec: Sendable, Equatable {
    /// `image`, `registry`, `local`, `tar`, `oci`, `docker`.
    public var type: String
    /// All attributes (`dest`, `name`, `push`, …).
    public var attributes: [String: String]

    /// Parses `type=local,dest=out` (RFC 4180 quoting, as buildx).
    public init(parsing spec: String) throws(ExportError) {
        let fields = try CSV.fields(spec)
        var attrs: [String: String] = [:]
        for f in fields {
            guard let eq = f.firstIndex(of: "=") else {
                // buildx accepts a bare path as `type=local,dest=PATH`.
                if fields.count == 1 { attrs["type"] = "local"; attrs["dest"] = f; continue }
                throw ExportError("invalid output '\(spec)': '\(f)' is not key=value")
            }
            attrs[String(f[..<eq]).lowercased()] = String(f[f.index(after: eq)...])
        }
        guard let t = attrs["type"] else { throw ExportError("invalid output '\(spec)': type= is required") }
        guard ["image", "registry", "local", "tar", "oci", "docker"].contains(t) else {
            throw ExportError("unknown output type '\(t)' (use image, registry, local, tar, oci or docker)")
        }
        if ["local", "tar", "oci", "docker"].contains(t), attrs["dest"] == nil {
            throw ExportError("output type=\(t) needs dest=")
        }
        let allowed = Self.keys[t] ?? []
        for key in attrs.keys.sorted() where !allowed.contains(key) {
            throw ExportError("unknown key '\(key)' in output \"\(spec)\" (type=\(t) takes \(allowed.sorted().joined(separator: ", ")))")
        }
        type = t
        attributes = attrs
    }

    /// Keys each output type takes; any other key is refused (a typo must not be ignored).
    static let keys: [String: Set<String>] = {
        let image: Set<String> = ["type", "name", "push", "oci-mediatypes", "compression", "compression-level", "force-compression"]
        return ["image": image, "registry": image, "local": ["type", "dest"], "tar": ["type", "dest"],
                "oci": ["type", "dest", "name"], "docker": ["type", "dest", "name"]]
    }()

    /// An output from parts.
    public init(type: String, attributes: [String: String]) {
        self.type = type
        self.attributes = attributes
    }
}

/// RFC 4180 field splitting for buildx-style specs.
public enum CSV {
    /// The comma-separated fields of `line`; quotes group and `""` is a literal quote.
    public static func fields(_ line: String) throws(ExportError) -> [String] {
        var out: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(line)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars = chars.dropFirst() } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                out.append(field)
                field = ""
            } else {
                field.append(c)
            }
        }
        guard !quoted else { throw ExportError("malformed spec '\(line)': unterminated quote") }
        out.append(field)
        return out.filter { !$0.isEmpty }
    }
}
