import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// `kiln cache inspect` and `kiln cache prune` as a user runs them.
@Suite(.serialized) struct CacheCommandTests {
    @Test func inspectAndPruneARegistryCache() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo x > /x\n")
        let cache = "\(rig.registry.host)/cmd/cache"
        for tag in ["a", "b"] {
            let r = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), "--progress", "quiet",
                                               "--cache-to", "type=registry,ref=\(cache):\(tag),mode=max", rig.dir.file("ctx")])
            #expect(r.status == 0, "\(r.errorText)")
        }
        let text = try await KilnProcess.run(["cache", "inspect", "\(cache):a"])
        #expect(text.status == 0 && text.text.contains("layout  image-manifest") && text.text.contains("[stage-0 2/2] RUN echo x > /x"), "\(text.text)")
        let json = try await KilnProcess.run(["cache", "inspect", "--format", "json", "type=registry,ref=\(cache):a"])
        let obj = try JSONSerialization.jsonObject(with: Data(json.output)) as? [String: Any]
        #expect((obj?["layers"] as? [Any])?.count == 2 && obj?["records"] is [Any])
        let missing = try await KilnProcess.run(["cache", "inspect", "\(cache):nope"])
        #expect(missing.status == 1 && missing.errorText.hasPrefix("error: ") && !missing.errorText.contains("\n"), "\(missing.errorText)")

        // Both tags name one manifest (the same build): a dry run lists it, deletes nothing.
        let dry = try await KilnProcess.run(["cache", "prune", cache, "--older-than", "0s", "--dry-run"])
        #expect(dry.status == 0 && dry.text.contains("would delete \(cache):a,b "), "\(dry.text)")
        #expect(try await KilnProcess.run(["cache", "inspect", "\(cache):a"]).status == 0)
        let kept = try await KilnProcess.run(["cache", "prune", cache, "--keep", "1"])
        #expect(kept.status == 0 && kept.text.contains("deleted 0 caches"), "\(kept.text)")
        let pruned = try await KilnProcess.run(["cache", "prune", cache, "--older-than", "0s"])
        #expect(pruned.status == 0 && pruned.text.contains("deleted 1 cache referencing"), "\(pruned.text)")
        #expect(try await KilnProcess.run(["cache", "inspect", "\(cache):a"]).status == 1)
        let noFlags = try await KilnProcess.run(["cache", "prune", cache])
        #expect(noFlags.status == 1 && noFlags.errorText.contains("--older-than DURATION or --keep N"))
    }
}
