import Foundation
import KilnArchive
import KilnBuild
import KilnOCI
import KilnRegistry
import KilnStore
import KilnSystem
import KilnTestSupport
@testable import KilnWorker
import Testing

/// The two snapshotters: layers unpacked once and shared, the same layer bytes from either,
/// deletions that survive, flattening where mount options run out, pruning.
@Suite(.serialized) struct SnapshotterTests {
    /// Makes, changes, deletes and replaces: every kind of change a RUN can leave.
    static let changes = """
        ARG BASE
        FROM ${BASE}
        RUN mkdir -p /data/keep /data/replace/sub /data/gone && echo k > /data/keep/f && echo old > /data/replace/sub/old \\
         && echo top > /data/replace/top && echo g > /data/gone/f && echo m > /data/mod && ln -s keep /data/link \\
         && echo h > /data/hard && ln /data/hard /data/hard2 && echo same > /data/same
        RUN rm -rf /data/replace /data/gone /data/link && mkdir -p /data/replace/sub && echo new > /data/replace/sub/new \\
         && echo more >> /data/mod && chmod 600 /data/keep/f && ln -s replace /data/link && mkdir /data/fresh \\
         && echo f > /data/fresh/f && touch -m -d @1000 /data/same
        RUN test ! -e /data/gone && test ! -e /data/replace/top && test ! -e /data/replace/sub/old \\
         && test "$(cat /data/replace/sub/new /data/mod /data/hard2)" = "$(printf 'new\\nm\\nmore\\nh')" \\
         && test "$(readlink /data/link)" = replace && echo checked > /data/checked
        """

    static func build(_ dockerfile: String, rig: RunStepTests.Rig, root: String, snapshotter: SnapshotterKind,
                      outputs: [BuildOutput] = []) async throws -> TestBuild.Outcome {
        try await TestBuild.run(dockerfile, context: rig.dir.file("ctx"), root: root, buildArgs: ["BASE": rig.base], snapshotter: snapshotter) {
            $0.sourceDateEpoch = 1_700_000_000
            $0.outputs = outputs
        }
    }

    @Test func aRunLayerIsByteIdenticalFromAnOverlayUpperOrTheCopyingFallback() async throws {
        let rig = try await RunStepTests.busyboxRig()
        let overlay = try await Self.build(Self.changes, rig: rig, root: rig.dir.file("overlay"), snapshotter: .overlayfs,
                                           outputs: [.local(dest: rig.dir.file("out-overlay"))])
        let copy = try await Self.build(Self.changes, rig: rig, root: rig.dir.file("copy"), snapshotter: .copy,
                                        outputs: [.local(dest: rig.dir.file("out-copy"))])
        #expect(overlay.chain.count == 4)
        let differences = try Self.entryDifferences(overlay, copy, rig: rig)
        #expect(overlay.chain.map(\.digest) == copy.chain.map(\.digest), "\(differences)")
        #expect(TestLayers.oracle(rig.dir.file("out-overlay"), "data") == TestLayers.oracle(rig.dir.file("out-copy"), "data"))

        // Deletions are whiteouts of exactly what went (no opaque markers, which BuildKit never writes).
        let names = Set(try TestLayers.entries(overlay.chain[2], root: rig.dir.file("overlay")).keys)
        for w in ["data/.wh.gone", "data/replace/.wh.top", "data/replace/sub/.wh.old"] { #expect(names.contains(w), "\(names.sorted())") }
        #expect(!names.contains { $0.hasSuffix(TarEntry.opaqueWhiteout) })
        #expect(names.contains("data/keep/f") && names.contains("data/fresh/f") && names.contains("data/same"))
        #expect(!names.contains("data/hard") && !names.contains("data/hard2"), "untouched hard links are not part of the change")
    }

    /// The entries that differ between two builds' layers, for a failure message.
    static func entryDifferences(_ a: TestBuild.Outcome, _ b: TestBuild.Outcome, rig: RunStepTests.Rig) throws -> [String] {
        var out: [String] = []
        for (la, lb) in zip(a.chain, b.chain) where la.digest != lb.digest {
            let ea = try TestLayers.entries(la, root: rig.dir.file("overlay")).mapValues { "\($0.0)" }
            let eb = try TestLayers.entries(lb, root: rig.dir.file("copy")).mapValues { "\($0.0)" }
            for k in Set(ea.keys).union(eb.keys).sorted() where ea[k] != eb[k] {
                out.append("\(k): overlay \(ea[k] ?? "-") / copy \(eb[k] ?? "-")")
            }
        }
        return out
    }

    @Test func deletionsSurviveInLayersUnpackedFromTheirBlobs() async throws {
        let rig = try await RunStepTests.busyboxRig()
        for kind in SnapshotterKind.allCases {
            let root = rig.dir.file("root-\(kind)")
            _ = try await Self.build(Self.changes, rig: rig, root: root, snapshotter: kind)
            // The next step runs over layers unpacked from the stored blobs, not the adopted uppers.
            HostFiles.removeTree(root + "/layers")
            HostFiles.removeTree(root + "/views")
            let next = try await Self.build(Self.changes + "\nRUN test ! -e /data/gone && test ! -e /data/replace/top && ls /data/replace/sub\n",
                                            rig: rig, root: root, snapshotter: kind)
            #expect(next.logs.contains("new") && !next.logs.contains("old"), "\(kind): \(next.logs)")
        }
    }

    @Test(arguments: SnapshotterKind.allCases)
    func aLayerSharedByTwoChainsIsUnpackedOnce(kind: KilnWorker.SnapshotterKind) async throws {
        let rig = try await RunStepTests.busyboxRig()
        let root = rig.dir.file("root")
        let a = try await Self.build("ARG BASE\nFROM ${BASE}\nRUN echo a > /a\n", rig: rig, root: root, snapshotter: kind).chain
        let b = try await Self.build("ARG BASE\nFROM ${BASE}\nRUN echo b > /b\n", rig: rig, root: root, snapshotter: kind).chain
        #expect(a.count == 2 && b.count == 2 && a[0] == b[0])
        HostFiles.removeTree(root + "/layers")
        HostFiles.removeTree(root + "/views")
        try await withTestClient { client in
            let store = try ContentStore(root: root)
            defer { store.claim.release() }
            let snapshots = Snapshots.make(fetcher: RegistryBlobFetcher(store: store, client: client), kind: kind)
            async let viewA = snapshots.directory(for: a, report: nil)
            async let viewB = snapshots.directory(for: b, report: nil)
            let (da, db) = try await (viewA, viewB)
            #expect(await snapshots.layers.unpackedFromBlobs == 3)
            #expect(FileManager.default.fileExists(atPath: da + "/a") && !FileManager.default.fileExists(atPath: da + "/b"))
            #expect(FileManager.default.fileExists(atPath: db + "/b") && FileManager.default.fileExists(atPath: db + "/bin/sh"))
            #expect(try HostFiles.list(store.layersDirectory).count == 3)
        }
    }

    @Test func chainsBeyondOneMountOptionStringAreFlattenedOnce() async throws {
        let rig = try await RunStepTests.busyboxRig()
        let root = rig.dir.file("root")
        let steps = (1...45).map { "RUN echo \($0) > /f\($0)" }.joined(separator: "\n")
        let chain = try await Self.build("ARG BASE\nFROM ${BASE}\n\(steps)\nRUN rm /f7\n", rig: rig, root: root, snapshotter: .overlayfs).chain
        #expect(chain.count == 47)
        try await withTestClient { client in
            let store = try ContentStore(root: root)
            defer { store.claim.release() }
            let layers = UnpackedLayers(fetcher: RegistryBlobFetcher(store: store, client: client))
            let legacy = OverlaySnapshotter(layers: layers, legacyMounts: true)
            let view = try await legacy.directory(for: chain, report: nil)
            #expect(try String(contentsOfFile: view + "/f45", encoding: .utf8) == "45\n")
            #expect(try String(contentsOfFile: view + "/f1", encoding: .utf8) == "1\n")
            #expect(!FileManager.default.fileExists(atPath: view + "/f7"))
            let flat = try HostFiles.list(store.layersDirectory).filter { $0.hasPrefix("flat-") }
            #expect(flat.count == 1)

            // A RUN's root over the same chain reuses the flattened prefix.
            let run = try await legacy.prepareRun(chain, report: nil)
            #expect(FileManager.default.fileExists(atPath: run.rootfs + "/f2"))
            try "x".write(toFile: run.rootfs + "/written", atomically: false, encoding: .utf8)
            await legacy.finish(run)
            #expect(FileManager.default.fileExists(atPath: run.upper.map { $0 + "/written" } ?? ""))
            HostFiles.removeTree(run.work)
            #expect(try HostFiles.list(store.layersDirectory).filter { $0.hasPrefix("flat-") } == flat)
        }
    }

    /// The same layer twice in one chain (two identical COPY steps): overlayfs refuses a
    /// directory twice among its lowers (ELOOP), so the lower copy is left out.
    @Test(arguments: KilnWorker.SnapshotterKind.allCases)
    func aLayerTwiceInOneChainMounts(kind: KilnWorker.SnapshotterKind) async throws {
        let rig = try await RunStepTests.busyboxRig()
        try "f\n".write(toFile: rig.dir.file("ctx/f"), atomically: false, encoding: .utf8)
        let outcome = try await Self.build("ARG BASE\nFROM ${BASE}\nCOPY f /f\nCOPY f /f\nRUN cat /f > /g\n", rig: rig,
                                           root: rig.dir.file("root"), snapshotter: kind, outputs: [.local(dest: rig.dir.file("out"))])
        #expect(outcome.chain.count == 4 && outcome.chain[1].digest == outcome.chain[2].digest)
        #expect(try String(contentsOfFile: rig.dir.file("out/g"), encoding: .utf8) == "f\n")
    }

    @Test func pruneRemovesUnpackedLayersNoBuildHolds() async throws {
        let rig = try await RunStepTests.busyboxRig()
        let root = rig.dir.file("root")
        let chain = try await Self.build("ARG BASE\nFROM ${BASE}\nRUN echo a > /a\n", rig: rig, root: root, snapshotter: .overlayfs).chain
        #expect(try HostFiles.list(root + "/layers").count == 2)
        let holder = try ContentStore(root: root)
        defer { holder.claim.release() }
        try await holder.hold(resources: [ContentStore.unpackedResource(ContentStore.unpackedName(chain[1].diffID))])

        let pruner = try ContentStore(root: root)
        defer { pruner.claim.release() }
        let freed = try await pruner.pruneUnpackedLayers(all: true)
        #expect(freed > 0)
        #expect(try HostFiles.list(root + "/layers") == [chain[1].diffID.encoded], "the held layer stays")
        #expect(await pruner.usage().unpackedLayers < 4096 * 8)
        holder.claim.release()
        _ = try await pruner.pruneUnpackedLayers(all: true)
        #expect(try HostFiles.list(root + "/layers").isEmpty)
    }
}
