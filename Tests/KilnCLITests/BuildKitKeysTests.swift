import Foundation
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
        try rig.dockerfile("FROM BASE AS build\nRUN echo built > /x.txt\nFROM BASE\nCOPY --from=build /x.txt /x.txt\n")
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
        let copy = (records?["records"] as? [[String: Any]])?.first { (($0["inputs"] as? [[Any]])?.count ?? 0) == 2 }
        #expect(((copy?["inputs"] as? [[Any]])?[1].count ?? 0) == 2, "the stage's key and the content of /x.txt: \(String(decoding: cold, as: UTF8.self))")
        #expect(try await export(root: "root1", to: "warm") == cold)
        #expect(try await export(root: "root2", to: "imported", from: "cold") == cold)
    }
}
