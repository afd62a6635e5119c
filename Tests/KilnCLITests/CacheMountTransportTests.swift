import Foundation
import KilnOCI
import KilnRegistry
import KilnSystem
import KilnTestSupport
import Testing

/// `--cache-to …,cache-mounts=true`: `RUN --mount=type=cache` contents travel with the
/// registry cache, so a rebuild on an empty machine starts warm.
@Suite(.serialized) struct CacheMountTransportTests {
    static let writer = "FROM BASE\nRUN --mount=type=cache,target=/var/cache/pkgs sh -c 'ls /var/cache/pkgs; echo fetched-once > /var/cache/pkgs/dl.txt'\n"
    static let reader = "FROM BASE\nRUN --mount=type=cache,target=/var/cache/pkgs sh -c 'echo reader; cat /var/cache/pkgs/dl.txt || echo cold-cache'\n"

    static func build(_ rig: CLIRig, root: String, _ extra: [String]) async throws -> Subprocess.Result {
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file(root), "--progress", "plain"] + extra + [rig.dir.file("ctx")])
        #expect(r.status == 0, "\(r.errorText)")
        return r
    }

    @Test func aCacheMountSurvivesAnEmptyRootThroughTheRegistry() async throws {
        let rig = try await CLIRig.make()
        let cache = "\(rig.registry.host)/mounts/cache"
        try rig.dockerfile(Self.writer)
        _ = try await Self.build(rig, root: "one", ["--cache-to", "type=registry,ref=\(cache):on,mode=max,cache-mounts=true",
                                                    "--cache-to", "type=registry,ref=\(cache):off,mode=max"])
        let inspect = try await KilnProcess.run(["cache", "inspect", "\(cache):on"])
        #expect(inspect.text.contains("cache mount /var/cache/pkgs"), "\(inspect.text)")
        #expect(!(try await KilnProcess.run(["cache", "inspect", "\(cache):off"])).text.contains("cache mount"), "off by default")
        // Every blob the manifest lists is in the config's layers table, as BuildKit's caches
        // have it; no record reaches the cache mount's blob.
        try await withTestClient { client in
            let ref = try Reference(parsing: "\(cache):on")
            guard case .manifest(let m) = try await client.manifest(ref).document() else { Issue.record("not a manifest"); return }
            let config = try JSONSerialization.jsonObject(with: try await client.blobData(m.config, from: ref)) as? [String: Any]
            let table = Set(((config?["layers"] as? [[String: Any]]) ?? []).compactMap { $0["blob"] as? String })
            #expect(Set(m.layers.map(\.digest.description)).isSubset(of: table), "\(table)")
        }

        try rig.dockerfile(Self.reader)
        let warm = try await Self.build(rig, root: "two", ["--cache-from", "\(cache):on"])
        #expect(Self.logged(warm.errorText).contains("fetched-once") && !Self.logged(warm.errorText).contains("cold-cache"), "\(warm.errorText)")
        let cold = try await Self.build(rig, root: "three", ["--cache-from", "\(cache):off"])
        #expect(Self.logged(cold.errorText).contains("cold-cache"), "\(cold.errorText)")
    }

    /// What RUN steps printed: the text of plain progress's `#N 0.123 text` lines.
    static func logged(_ progress: String) -> [String] {
        progress.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 2)
            return parts.count == 3 && parts[0].hasPrefix("#") && Double(parts[1]) != nil ? String(parts[2]) : nil
        }
    }

    @Test func aCacheMountOverTheCapStaysBehindWithAWarning() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN --mount=type=cache,target=/c sh -c 'head -c 200000 /dev/urandom > /c/big'\n")
        let r = try await Self.build(rig, root: "one", ["--cache-to", "type=registry,ref=\(rig.registry.host)/mounts/cap:1,mode=max,cache-mounts=true,cache-mounts-max-size=100kB"])
        #expect(r.errorText.contains("WARNING: cache mount /c is ") && r.errorText.contains("over cache-mounts-max-size=100000: not exported"), "\(r.errorText)")
        let bad = try await KilnProcess.run(["build", "--root", rig.dir.file("one"), "--cache-to",
                                             "type=registry,ref=\(rig.registry.host)/mounts/cap:1,cache-mounts-max-size=lots", rig.dir.file("ctx")])
        #expect(bad.status == 1 && bad.errorText.contains("cache-mounts-max-size=lots"), "\(bad.errorText)")
    }
}
