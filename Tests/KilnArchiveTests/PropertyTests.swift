import Foundation
@testable import KilnArchive
import KilnTestSupport
import PropertyBased
import Testing

/// Random trees survive pack → apply unchanged, and pack to the same bytes twice.
@Suite struct PropertyTests {
    /// Builds a tree from a seed: nested dirs, files of random sizes and modes, symlinks, hard links.
    static func buildTree(_ root: String, seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var dirs = [""]
        var files: [String] = []
        let count = Int(rng.next() % 40) + 1
        for i in 0..<count {
            let parent = dirs[Int(rng.next() % UInt64(dirs.count))]
            let name = "n\(i)-" + String(repeating: "x", count: Int(rng.next() % 120))
            let rel = parent.isEmpty ? name : parent + "/" + name
            let path = root + "/" + rel
            switch rng.next() % 6 {
            case 0:
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
                chmod(path, [0o755, 0o700, 0o1777][Int(rng.next() % 3)])
                dirs.append(rel)
            case 1:
                symlink(["../x", "/abs/target", rel, "n0"][Int(rng.next() % 4)], path)
            case 2 where !files.isEmpty:
                link(root + "/" + files[Int(rng.next() % UInt64(files.count))], path)
            default:
                let size = Int(rng.next() % 3 == 0 ? rng.next() % 200_000 : rng.next() % 600)
                var bytes = [UInt8](repeating: 0, count: size)
                for j in 0..<size { bytes[j] = UInt8(truncatingIfNeeded: rng.next() >> (j % 7)) }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                chmod(path, [0o644, 0o600, 0o755, 0o4755][Int(rng.next() % 4)])
                if rng.next() % 4 == 0 { lchown(path, uid_t(rng.next() % 70_000), gid_t(rng.next() % 70_000)) }
                if rng.next() % 5 == 0 { ProcessXattr.set(path, "user.r", [UInt8(rng.next() % 256)]) }
                files.append(rel)
            }
            if FileManager.default.fileExists(atPath: path) { setMtime(path, Int(1_500_000_000 + rng.next() % 100_000_000)) }
        }
        for d in dirs.reversed() { setMtime(root + (d.isEmpty ? "" : "/" + d), Int(1_500_000_000 + rng.next() % 1000)) }
    }

    @Test func packApplyRoundTripAndDeterminism() async throws {
        await propertyCheck(count: 40, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            do {
                let dir = try TemporaryDirectory()
                try Self.buildTree(dir.file("src"), seed: seed)
                let once = try packToMemory(dir.file("src"))
                let twice = try packToMemory(dir.file("src"))
                #expect(once == twice, "seed \(seed): packing twice differs")
                try FileManager.default.createDirectory(atPath: dir.file("dst"), withIntermediateDirectories: true)
                try applyFromMemory(once, to: dir.file("dst"))
                let a = try TreeSnapshot(dir.file("src")), b = try TreeSnapshot(dir.file("dst"))
                #expect(a.differences(b).isEmpty, "seed \(seed): \(a.differences(b).prefix(3))")
                #expect(try packToMemory(dir.file("dst")) == once, "seed \(seed): repack differs")
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }
}

/// A small deterministic generator so a failing seed reproduces the same tree.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
