import Foundation
import KilnOCI
import KilnRegistry
import KilnSystem
import KilnTestSupport
import Testing

/// Kiln's cache keys are BuildKit's: every case of the recorded oracle
/// (`shared/reference/buildkit-keys`), built on the byte-identical base image and exported with
/// `--cache-to type=local,mode=max`, gives every record BuildKit recorded as stable — digests,
/// inputs, selectors (`compare.py`); where BuildKit exports nothing, Kiln exports nothing.
@Suite(.serialized) struct BuildKitKeysTests {
    @Test(arguments: BuildKitOracle.cases)
    func everyStableRecordIsBuildKits(_ name: String) async throws {
        let registry = try await TestRegistry()
        let host = registry.host
        _ = try await ProcessRunner.run(["python3", BuildKitOracle.directory + "/pushbase.py", host])
        let dir = try TemporaryDirectory("kiln-bk-keys")
        let ctx = dir.file("ctx")
        try BuildKitOracle.copyContext(name, to: ctx)
        let caseDir = BuildKitOracle.directory + "/cases/" + name
        let spec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: caseDir + "/case.json"))) as? [String: Any]
        var args = ["build", "--root", dir.file("root"), "--progress", "plain", "--build-arg", "BASE=\(host)/base/busybox:latest"]
        for (k, v) in ((spec?["build_args"] as? [String: String]) ?? [:]).sorted(by: { $0.key < $1.key }) { args += ["--build-arg", "\(k)=\(v)"] }
        if let target = spec?["target"] as? String { args += ["--target", target] }
        let out = dir.file("out")
        let r = try await KilnProcess.run(args + ["--cache-to", "type=local,dest=\(out),mode=max", ctx])
        #expect(r.status == 0, "\(r.errorText)")
        guard FileManager.default.fileExists(atPath: caseDir + "/buildkit/cache") else {
            #expect(!FileManager.default.fileExists(atPath: out + "/index.json"), "BuildKit exports nothing for \(name)")
            #expect(r.errorText.contains("skipping cache export for empty result"), "\(r.errorText)")
            return
        }
        let compare = try await Subprocess.run(["python3", BuildKitOracle.directory + "/compare.py", caseDir, out, "--explain"])
        #expect(compare.status == 0, "\(name): \(compare.text)")
    }
}

/// BuildKit's content-based alternatives (a `COPY --from` input linked by the content of the
/// files copied) are found when the stage is solved; a warm build, and a build on another
/// machine that imported the cache, export them all the same: the same config, byte for byte.
@Suite(.serialized) struct ContentAlternativeExportTests {
    @Test func warmAndImportedBuildsExportTheSameConfig() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE AS build\nRUN echo built > /x.txt\nFROM BASE\nCOPY --from=build /x.txt /x.txt\nCOPY --from=BASE /etc/passwd /p\n")
        func export(root: String, to dest: String, from: String? = nil) async throws -> Data {
            var args = ["build", "--root", rig.dir.file(root), "--progress", "plain", "--cache-to", "type=local,dest=\(rig.dir.file(dest)),mode=max"]
            if let from { args += ["--cache-from", "type=local,src=\(rig.dir.file(from))"] }
            let r = try await KilnProcess.run(args + [rig.dir.file("ctx")])
            #expect(r.status == 0, "\(r.errorText)")
            let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rig.dir.file(dest + "/index.json")))) as? [String: Any]
            let top = ((index?["manifests"] as? [[String: Any]])?.first?["digest"] as? String) ?? ""
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rig.dir.file(dest + "/blobs/sha256/" + top.dropFirst(7)))))
            let config = (((manifest as? [String: Any])?["config"] as? [String: Any])?["digest"] as? String) ?? ""
            return try Data(contentsOf: URL(fileURLWithPath: rig.dir.file(dest + "/blobs/sha256/" + config.dropFirst(7))))
        }
        let cold = try await export(root: "root1", to: "cold")
        let records = try JSONSerialization.jsonObject(with: cold) as? [String: Any]
        let copies = (records?["records"] as? [[String: Any]] ?? []).filter { (($0["inputs"] as? [[Any]])?.count ?? 0) == 2 }
        #expect(copies.count == 2)
        // The stage's key (an image: both of its roots) with the paths as selector, and the
        // content copied without one.
        let alternatives = copies.map { (($0["inputs"] as? [[[String: Any]]])?[1] ?? []) }
        #expect(alternatives.map(\.count).sorted() == [2, 3], "\(String(decoding: cold, as: UTF8.self))")
        #expect(alternatives.allSatisfy { $0.filter { $0["selector"] == nil }.count == 1 })
        #expect(try await export(root: "root1", to: "warm") == cold)
        #expect(try await export(root: "root2", to: "imported", from: "cold") == cold)
    }
}

/// A multi-platform base is keyed, as BuildKit keys it, by the digest its tag resolves to —
/// the index's — with the platform.
@Suite(.serialized) struct IndexBaseKeyTests {
    @Test func anIndexedBaseIsKeyedByTheIndexDigest() async throws {
        let rig = try await CLIRig.make()
        let indexed = "\(rig.registry.host)/idx/base:1"
        try rig.dockerfile("FROM BASE\nRUN echo base > /base\n")
        let push = try await KilnProcess.run(["build", "--root", rig.dir.file("root0"), "--progress", "plain", "--push", "-t", indexed,
                                              "--annotation", "index:org.opencontainers.image.description=indexed", rig.dir.file("ctx")])
        #expect(push.status == 0, "\(push.errorText)")
        var config = RegistryConfiguration()
        config.certsDirectory = nil
        let index = try await RegistryClient.withClient(configuration: config, credentials: AnonymousCredentials()) { client in
            try await client.manifestDescriptor(try Reference(parsing: indexed))
        }
        #expect(index?.mediaType == MediaType.ociIndex)
        try rig.dockerfile("FROM \(indexed)\nRUN echo on top > /top\n")
        let out = rig.dir.file("out")
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root1"), "--progress", "plain",
                                           "--cache-to", "type=local,dest=\(out),mode=max", rig.dir.file("ctx")])
        #expect(r.status == 0, "\(r.errorText)")
        // sha256("<sha256(buildkit.source.v0:<sha256(key JSON)>)>@0")
        let key = Digest.of(Data(#"{"Digest":"\#(index?.digest.description ?? "")","OS":"linux","Arch":"amd64"}"#.utf8))
        let cacheMap = Digest.of(Data("buildkit.source.v0:\(key)".utf8))
        let record = Digest.of(Data("\(cacheMap)@0".utf8)).description
        let layout = try String(contentsOfFile: out + "/index.json", encoding: .utf8)
        let configs = try FileManager.default.contentsOfDirectory(atPath: out + "/blobs/sha256").compactMap {
            try? String(contentsOfFile: out + "/blobs/sha256/" + $0, encoding: .utf8)
        }.filter { $0.contains("\"records\"") }
        #expect(configs.contains { $0.contains(record) }, "no record \(record) in \(configs) (\(layout))")
    }
}
