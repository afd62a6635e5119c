import Foundation
import KilnSystem
import KilnTestSupport
import Testing

/// Several kiln processes on one state directory: pruning never removes what a running build
/// holds, and first builds on a fresh root may start together.
@Suite(.serialized) struct SharedRootTests {
    @Test func pruneAllBesideTwoRunningBuildsLeavesBothGreen() async throws {
        let rig = try await CLIRig.make()
        try FileManager.default.createDirectory(atPath: rig.dir.file("ctx2"), withIntermediateDirectories: true)
        try rig.dockerfile("""
        FROM BASE AS one
        RUN sleep 1 && echo a > /a
        RUN sleep 1 && cat /a > /b
        FROM BASE
        COPY --from=one /b /b
        RUN sleep 1 && cat /b /bin/sh > /c
        RUN test -s /c && echo ok > /d
        """)
        try rig.dockerfile("FROM BASE\nRUN sleep 1 && echo x > /x\nRUN sleep 1 && cat /x > /y\nRUN sleep 1 && test -e /bin/sh && cat /y > /z\n",
                           name: "../ctx2/Dockerfile")
        let root = rig.dir.file("root")
        let builds = [rig.dir.file("ctx"), rig.dir.file("ctx2")].map { ctx in
            KilnProcess.start(["build", "--root", root, "--progress", "plain", "-o", "type=local,dest=\(ctx)-out", ctx])
        }
        let pruning = Task {
            var prunes = 0
            while !Task.isCancelled {
                // A prune cut short when the builds end is not counted.
                guard let r = try? await KilnProcess.run(["prune", "--root", root, "--all"]) else { break }
                #expect(r.status == 0, "\(r.errorText)")
                prunes += 1
                try? await Task.sleep(for: .milliseconds(150))
            }
            return prunes
        }
        let statuses = [try await builds[0].wait(), try await builds[1].wait()]
        pruning.cancel()
        let prunes = try await pruning.value
        #expect(statuses == [0, 0], "\(builds[0].printed)\n---\n\(builds[1].printed)")
        #expect(prunes >= 3, "prune ran \(prunes) times during the builds")
        #expect(FileManager.default.contents(atPath: rig.dir.file("ctx-out/d")) == Data("ok\n".utf8))
        #expect(FileManager.default.contents(atPath: rig.dir.file("ctx2-out/z")) == Data("x\n".utf8))
        // With no build running, prune removes everything it keeps.
        _ = try await KilnProcess.run(["prune", "--root", root, "--all"])
        #expect(try await Leftovers.of(root) == .none)
        let left = ["blobs/sha256", "snapshots"].flatMap { (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + $0)) ?? [] }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func firstCommandsOnAFreshRootMayStartTogether() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo hi > /hi\n")
        // Eight at once on an empty root, twenty times: the database is created exactly once.
        for round in 0..<20 {
            let root = rig.dir.file("fresh-du-\(round)")
            let commands = (0..<8).map { _ in KilnProcess.start(["du", "--root", root]) }
            for c in commands {
                let status = try await c.wait()
                #expect(status == 0, "round \(round): \(c.printed)")
            }
        }
        for round in 0..<3 {
            let root = rig.dir.file("fresh-build-\(round)")
            let builds = (0..<3).map { _ in KilnProcess.start(["build", "--root", root, "--progress", "plain", rig.dir.file("ctx")]) }
            for b in builds {
                let status = try await b.wait()
                #expect(status == 0, "round \(round): \(b.printed)")
            }
        }
    }
}

/// `kiln du` accounts for every byte under the root; `kiln prune --all` removes all of it that
/// no build holds.
@Suite(.serialized) struct AccountingTests {
    @Test func duCountsEverythingAndPruneAllRemovesIt() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN --mount=type=cache,target=/c head -c 300000 /dev/urandom > /c/blob && echo x > /x\n")
        let root = rig.dir.file("root")
        #expect(try await KilnProcess.run(["build", "--root", root, "--progress", "plain", rig.dir.file("ctx")]).status == 0)
        let du = try await KilnProcess.run(["du", "--root", root])
        let reported = try #require(du.text.split(separator: "\n").first { $0.hasPrefix("total:") })
        let measured = try await ProcessRunner.run(["du", "-sb", root]).text.split(separator: "\t").first.flatMap { Int64($0) } ?? 0
        let bytes = try #require(Self.bytes(in: String(reported)))
        #expect(abs(Double(bytes - measured)) <= Double(measured) * 0.05, "du says \(reported), du -sb says \(measured)")
        #expect(du.text.contains("cache mounts:") && !du.text.contains("cache mounts:      0 B"), "\(du.text)")
        let prune = try await KilnProcess.run(["prune", "--root", root, "--all"])
        #expect(prune.status == 0, "\(prune.errorText)")
        for dir in ["blobs/sha256", "snapshots", "tmp", "ingest"] {
            let left = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + dir)) ?? [])
            #expect(left.isEmpty, "\(dir): \(left)")
        }
        let cacheLeft = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/cache-mounts")) ?? []).filter { !$0.hasSuffix(".lock") }
        #expect(cacheLeft.isEmpty, "\(cacheLeft)")
    }

    /// `1.5 MiB` → bytes.
    static func bytes(in line: String) -> Int64? {
        let parts = line.split(separator: " ").filter { !$0.isEmpty }
        guard parts.count >= 3, let v = Double(parts[1]) else { return nil }
        let units: [Substring: Double] = ["B": 1, "KiB": 1024, "MiB": 1_048_576, "GiB": 1_073_741_824]
        return units[parts[2]].map { Int64(v * $0) }
    }
}
