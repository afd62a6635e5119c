import Foundation
import KilnOCI

/// The digests BuildKit's ops give their cache maps, computed from the same bytes BuildKit
/// hashes (`solver/llbsolver/ops`: source.go, exec.go, file.go; `util/cachedigest`): a record's
/// digest is then `sha256("<cache map digest>@<output>")` (``CacheKey/recordDigest``).
public enum BuildKitCacheMap {
    /// `buildkit.source.v0:` + the key of an image by manifest digest and platform.
    public static func image(manifest: Digest, platform: Platform) -> Digest {
        let key = GoJSON.fields([("Digest", .string(manifest.description))] + platformFields(platform))
        return source(Digest.of(key.data).description)
    }

    /// `buildkit.source.v0:` + an image's rootfs ChainID: the key that still matches the same
    /// layers under another manifest.
    public static func rootfs(chainID: Digest) -> Digest { source(chainID.description) }

    static func source(_ key: String) -> Digest { Digest.of(Data("buildkit.source.v0:\(key)".utf8)) }

    /// An exec op's cache map: its JSON (mount selectors and cache-mount ids as the op clears
    /// them) with the platform.
    public static func exec(_ op: GoJSON, platform: Platform) -> Digest {
        Digest.of(GoJSON.fields([("Type", .string("buildkit.exec.v0")), ("Exec", op)] + platformFields(platform)).data)
    }

    /// A file op's cache map: each action's JSON (as base64, Go's `[]byte`), and the actions'
    /// `[input, secondary input, output]` unless they are the usual chain.
    /// `kiln` holds what only Kiln's key holds (see ``BuildKitFile``).
    public static func file(actions: [GoJSON], indexes: [[Int]], kiln: GoJSON? = nil) -> Digest {
        Digest.of(GoJSON.fields([
            ("Type", .string("buildkit.file.v0")),
            ("Actions", .array(actions.map { .bytes($0.data) })),
            ("indexes", isDefault(indexes) ? nil : .array(indexes.map { .array($0.map { .int(Int64($0)) }) })),
            ("kiln", kiln),
        ]).data)
    }

    /// BuildKit's `isDefaultIndexes`: the first action reads input 0, each later one the
    /// previous action's result; secondary inputs are input 1 or none; only the last makes
    /// the output.
    static func isDefault(_ indexes: [[Int]]) -> Bool {
        guard !indexes.isEmpty else { return false }
        for (i, idx) in indexes.enumerated() {
            guard idx.count == 3 else { return false }
            if i == 0 && idx[0] != 0 { return false }
            if i != 0 && idx[0] != indexes.count + (i - 1) { return false }
            if idx[1] != -1 && idx[1] != 1 { return false }
            if idx[2] != (i == indexes.count - 1 ? 0 : -1) { return false }
        }
        return true
    }

    /// A file op input's selector: its paths sorted, reversed ("for historical reasons"),
    /// NUL-joined.
    public static func fileSelector(_ paths: [String]) -> Digest {
        Digest.of(Data(paths.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.reversed().joined(separator: "\u{0}").utf8))
    }

    /// An exec input's selector: its mounts' selectors NUL-joined in mount order.
    public static func execSelector(_ paths: [String]) -> Digest {
        Digest.of(Data(paths.joined(separator: "\u{0}").utf8))
    }

    /// A content key's digest: the checksums of the selected paths, NUL-joined.
    public static func contentDigest(_ checksums: [Digest]) -> Digest {
        Digest.of(Data(checksums.map(\.description).joined(separator: "\u{0}").utf8))
    }

    /// BuildKit's `dedupePaths`: the paths not below another one of them, sorted.
    public static func dedupePaths(_ paths: [String]) -> [String] {
        let unique = Set(paths)
        guard unique.count > 1 else { return Array(unique) }
        return unique.filter { p in !unique.contains { q in q != p && p.hasPrefix(q.hasSuffix("/") ? q : q + "/") } }.sorted()
    }

    /// `OS`, `Arch` and, when set, `Variant`, `OSVersion`, `OSFeatures`, as both cache maps
    /// write a platform.
    static func platformFields(_ platform: Platform) -> [(String, GoJSON?)] {
        let features = platform.osFeatures ?? []
        return [("OS", .string(platform.os)), ("Arch", .string(platform.architecture)), ("Variant", nonEmpty(platform.variant)),
                ("OSVersion", nonEmpty(platform.osVersion)), ("OSFeatures", features.isEmpty ? nil : .array(features.map(GoJSON.string)))]
    }

    static func nonEmpty(_ s: String?) -> GoJSON? { (s ?? "").isEmpty ? nil : .string(s ?? "") }
}
