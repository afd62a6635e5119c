import KilnArchive
import KilnExport
import KilnOCI

/// A `--cache-to`/`--cache-from` value that cannot be used; the message names the bad part.
public struct CacheSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
    init(_ d: String) { description = d }
}

/// How much of the build a cache export carries.
public enum CacheMode: String, Sendable {
    /// Layers of the final result's chain only.
    case min
    /// Layers of every step of every stage the target needed.
    case max
}

/// Options shared by the registry and local cache exporters.
public struct CacheExportOptions: Sendable, Equatable {
    /// `mode=`.
    public var mode: CacheMode = .min
    /// `oci-mediatypes=` (OCI types; Docker types and a Docker manifest list when false).
    public var ociMediaTypes = true
    /// `image-manifest=` (an OCI image manifest whose config is the cache config; else an index).
    public var imageManifest = true
    /// `compression=` and `compression-level=` for new blobs.
    public var compression: Compression = .gzipDefault
    /// `force-compression=`: convert every exported layer.
    public var forceCompression = false
    /// `ignore-error=`: an export failure only warns.
    public var ignoreError = false
    /// `cache-mounts=`: the build's `RUN --mount=type=cache` directories travel with the cache.
    public var cacheMounts = false
    /// `cache-mounts-max-size=`: a cache mount larger than this (uncompressed) stays behind, with a warning.
    public var cacheMountsMaxSize: Int64 = 1 << 30

    /// The defaults: min mode, OCI image manifest, gzip, errors fail the build.
    public init() {}
}

/// Where a cache is exported to.
public enum CacheExportTarget: Sendable, Equatable {
    /// A registry reference.
    case registry(Reference, CacheExportOptions)
    /// Records in the image config (`moby.buildkit.cache.v0`), min mode.
    case inline
    /// An OCI layout directory.
    case local(dest: String, CacheExportOptions)
}

/// Where a cache is imported from.
public enum CacheImportSource: Sendable, Equatable {
    /// A registry cache (any layout) or an image with an inline cache.
    case registry(Reference)
    /// An OCI layout directory.
    case local(src: String, tag: String?)
}

/// Parses buildx cache specs (CSV `key=value` fields, RFC 4180 quoting).
public enum CacheSpec {
    static func fields(_ spec: String) throws(CacheSpecError) -> [String: String] {
        let parts: [String]
        do { parts = try CSV.fields(spec) } catch { throw CacheSpecError("malformed cache spec \"\(spec)\": \(error.description)") }
        var out: [String: String] = [:]
        for p in parts {
            guard let eq = p.firstIndex(of: "=") else {
                throw CacheSpecError("malformed cache spec \"\(spec)\": '\(p)' is not key=value")
            }
            out[p[..<eq].trimmingCharacters(in: .whitespaces).lowercased()] = String(p[p.index(after: eq)...])
        }
        return out
    }

    /// Keys each cache type takes; any other key is refused (a typo must not be ignored).
    static let exportKeys: [String: Set<String>] = [
        "registry": ["type", "ref", "mode", "oci-mediatypes", "image-manifest", "compression", "compression-level", "force-compression", "ignore-error",
                     "cache-mounts", "cache-mounts-max-size"],
        "local": ["type", "dest", "mode", "oci-mediatypes", "image-manifest", "compression", "compression-level", "force-compression", "ignore-error",
                  "cache-mounts", "cache-mounts-max-size"],
        "inline": ["type"],
    ]
    static let importKeys: [String: Set<String>] = ["registry": ["type", "ref"], "local": ["type", "src", "tag"]]

    static func checkKeys(_ fields: [String: String], allowed: Set<String>, type: String, spec: String, flag: String) throws(CacheSpecError) {
        for key in fields.keys.sorted() where !allowed.contains(key) {
            throw CacheSpecError("unknown key '\(key)' in \(flag) \"\(spec)\" (type=\(type) takes \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// `500MB`, `2GiB`, `1048576` (bytes).
    static func byteSize(_ s: String) -> Int64? {
        let upper = s.uppercased()
        for (suffix, mult) in [("KIB", 1024.0), ("MIB", 1048576.0), ("GIB", 1073741824.0), ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("B", 1.0)]
            where upper.hasSuffix(suffix) {
            guard let v = Double(upper.dropLast(suffix.count)), v >= 0 else { return nil }
            return Int64(v * mult)
        }
        return Int64(s).flatMap { $0 >= 0 ? $0 : nil }
    }

    static func bool(_ fields: [String: String], _ key: String, _ spec: String) throws(CacheSpecError) -> Bool? {
        guard let v = fields[key] else { return nil }
        switch v.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw CacheSpecError("invalid \(key)=\(v) in \"\(spec)\": use true or false")
        }
    }

    /// Parses one `--cache-to` value.
    public static func export(_ spec: String) throws(CacheSpecError) -> CacheExportTarget {
        let f = try fields(spec)
        guard let type = f["type"] else { throw CacheSpecError("cache spec \"\(spec)\" has no type= (registry, inline or local)") }
        if let allowed = exportKeys[type] { try checkKeys(f, allowed: allowed, type: type, spec: spec, flag: "--cache-to") }
        switch type {
        case "inline":
            return .inline
        case "registry", "local":
            var o = CacheExportOptions()
            if let m = f["mode"] {
                guard let mode = CacheMode(rawValue: m) else { throw CacheSpecError("invalid mode=\(m) in \"\(spec)\": use min or max") }
                o.mode = mode
            }
            o.ociMediaTypes = try bool(f, "oci-mediatypes", spec) ?? true
            let explicitManifest = try bool(f, "image-manifest", spec)
            if !o.ociMediaTypes && explicitManifest == true {
                throw CacheSpecError("oci-mediatypes=false cannot be combined with image-manifest=true in \"\(spec)\"")
            }
            o.imageManifest = explicitManifest ?? o.ociMediaTypes
            var level: Int?
            if let l = f["compression-level"] {
                guard let n = Int(l) else { throw CacheSpecError("invalid compression-level=\(l) in \"\(spec)\": not an integer") }
                level = n
            }
            let name = f["compression"] ?? "gzip"
            do {
                o.compression = try Compression(name: name, level: level)
            } catch {
                throw CacheSpecError("invalid cache compression in \"\(spec)\": \(error.description)")
            }
            o.forceCompression = try bool(f, "force-compression", spec) ?? false
            o.ignoreError = try bool(f, "ignore-error", spec) ?? false
            o.cacheMounts = try bool(f, "cache-mounts", spec) ?? false
            if let s = f["cache-mounts-max-size"] {
                guard let n = byteSize(s) else { throw CacheSpecError("invalid cache-mounts-max-size=\(s) in \"\(spec)\": use a size such as 500MB or 2GiB") }
                o.cacheMountsMaxSize = n
            }
            if type == "local" {
                guard let dest = f["dest"], !dest.isEmpty else { throw CacheSpecError("type=local cache export needs dest= in \"\(spec)\"") }
                return .local(dest: dest, o)
            }
            guard let r = f["ref"], !r.isEmpty else { throw CacheSpecError("type=registry cache export needs ref= in \"\(spec)\"") }
            do {
                return .registry(try Reference(parsing: r), o)
            } catch {
                throw CacheSpecError("invalid cache ref in \"\(spec)\": \(error.description)")
            }
        default:
            throw CacheSpecError("unknown cache type \"\(type)\" in \"\(spec)\" (use registry, inline or local)")
        }
    }

    /// Parses one `--cache-from` value; a bare reference means `type=registry,ref=REF`.
    public static func `import`(_ spec: String) throws(CacheSpecError) -> CacheImportSource {
        if !spec.contains("=") {
            do { return .registry(try Reference(parsing: spec)) } catch { throw CacheSpecError("invalid --cache-from \"\(spec)\": \(error.description)") }
        }
        let f = try fields(spec)
        if let allowed = importKeys[f["type"] ?? "registry"] {
            try checkKeys(f, allowed: allowed, type: f["type"] ?? "registry", spec: spec, flag: "--cache-from")
        }
        switch f["type"] ?? "registry" {
        case "registry":
            guard let r = f["ref"], !r.isEmpty else { throw CacheSpecError("type=registry cache import needs ref= in \"\(spec)\"") }
            do { return .registry(try Reference(parsing: r)) } catch { throw CacheSpecError("invalid cache ref in \"\(spec)\": \(error.description)") }
        case "local":
            guard let src = f["src"], !src.isEmpty else { throw CacheSpecError("type=local cache import needs src= in \"\(spec)\"") }
            return .local(src: src, tag: f["tag"])
        case let t:
            throw CacheSpecError("unknown cache type \"\(t)\" in \"\(spec)\" (use registry or local)")
        }
    }
}
