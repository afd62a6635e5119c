import Foundation
import KilnArchive
import KilnOCI
import KilnTestSupport
import Testing

/// Content keys as BuildKit's `cache/contenthash` makes them: the recorded cases' context
/// checksums come out digit for digit.
@Suite struct BuildKitContentHashTests {
    func contentKey(_ name: String, paths: [String], excluded: (String) -> Bool = { _ in false }) throws -> String {
        let dir = try TemporaryDirectory()
        let ctx = dir.file("ctx")
        try BuildKitOracle.copyContext(name, to: ctx)
        let sums = try paths.map { try BuildKitContentHash.checksum(root: ctx, relative: $0, excluded: excluded) }
        return Digest.of(Data(sums.map(\.description).joined(separator: "\u{0}").utf8)).description
    }

    @Test func aFileADirectoryAndAnIgnoringRootMatchTheRecordings() throws {
        #expect(try contentKey("10-copy-file", paths: ["hello.txt"]) == "sha256:286f4db492f491f7b3f357be9b60a4964ab5322915dda76c7810107aa9e116c3")
        #expect(try contentKey("11-copy-dir", paths: ["dir"]) == "sha256:dfd845dccfb72ab04aedc55ab780cd3555c608e7512bfda28f66d7d3b1323844")
        let ignored = try contentKey("18-dockerignore", paths: ["/"]) { $0.hasSuffix(".log") || $0 == "secret" || $0.hasPrefix("secret/") }
        #expect(ignored == "sha256:f346047452bc15907870bf331f7aca290b06180282a3ce078345f4a488d7d3a1")
    }
}
