import Foundation
import KilnOCI
import KilnRegistry
import KilnSystem
import KilnTestSupport
import Testing

/// `kiln build --explain`: a step that runs although a cache held an earlier version of it says
/// which input changed — on an empty root, from the facts the imported cache carries.
@Suite(.serialized) struct ExplainTests {
    /// The plain progress lines of a build, and the line each step's number prints for `what`.
    struct Plain {
        let lines: [String]
        init(_ text: String) { lines = text.split(separator: "\n").map(String.init) }

        /// `#N` of the step whose header ends with `step`.
        func number(_ step: String) -> String? {
            lines.first { $0.hasPrefix("#") && $0.hasSuffix(step) }.flatMap { $0.split(separator: " ").first.map(String.init) }
        }

        /// The `#N cache miss: …` text of `step` (nil when none was printed).
        func miss(_ step: String) -> String? {
            guard let n = number(step) else { return nil }
            return lines.first { $0.hasPrefix(n + " cache miss: ") }.map { String($0.dropFirst(n.count + 1)) }
        }
    }

    func build(_ rig: CLIRig, root: String, _ extra: [String]) async throws -> Subprocess.Result {
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file(root), "--progress", "plain"] + extra + [rig.dir.file("ctx")])
        #expect(r.status == 0, "\(r.errorText)")
        return r
    }

    @Test func aChangedContextFileIsNamedOnAnEmptyRoot() async throws {
        let rig = try await CLIRig.make()
        let cache = "type=registry,ref=\(rig.registry.host)/explain/file:c"
        try rig.dockerfile("FROM BASE\nCOPY app.txt keep.txt /\nRUN cat /app.txt\n")
        try "one\n".write(toFile: rig.dir.file("ctx/app.txt"), atomically: false, encoding: .utf8)
        try "same\n".write(toFile: rig.dir.file("ctx/keep.txt"), atomically: false, encoding: .utf8)
        _ = try await build(rig, root: "root1", ["--cache-to", cache + ",mode=max"])

        try "two\n".write(toFile: rig.dir.file("ctx/app.txt"), atomically: false, encoding: .utf8)
        let metadata = rig.dir.file("metadata.json")
        let r = try await build(rig, root: "root2", ["--explain", "--cache-from", cache, "--metadata-file", metadata])
        let plain = Plain(r.errorText)
        #expect(plain.miss("COPY app.txt keep.txt /") == "cache miss: context file app.txt: content changed", "\(r.errorText)")
        #expect(plain.miss("RUN cat /app.txt")?.hasPrefix("cache miss: the step before it changed") == true, "\(r.errorText)")

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metadata))) as? [String: Any]
        let misses = json?["kiln.cache-misses"] as? [[String: Any]] ?? []
        let copy = misses.first { ($0["step"] as? String)?.hasSuffix("COPY app.txt keep.txt /") == true }
        #expect(copy?["reasons"] as? [String] == ["context file app.txt: content changed"], "\(misses)")
        #expect(misses.count == 2)
    }

    @Test func aChangedBuildArgIsNamedInPlainAndRawJSON() async throws {
        let rig = try await CLIRig.make()
        let cache = "type=registry,ref=\(rig.registry.host)/explain/arg:c"
        try rig.dockerfile("FROM BASE\nRUN echo one > /one\nARG FLAVOUR=mild\nRUN echo $FLAVOUR > /flavour\nRUN echo three\n")
        _ = try await build(rig, root: "root1", ["--cache-to", cache + ",mode=max"])

        let r = try await build(rig, root: "root2", ["--explain", "--build-arg", "FLAVOUR=hot", "--cache-from", cache])
        let plain = Plain(r.errorText)
        #expect(plain.miss("RUN echo $FLAVOUR > /flavour") == "cache miss: build arg FLAVOUR changed", "\(r.errorText)")
        #expect(plain.miss("RUN echo one > /one") == nil, "a cached step has nothing to explain: \(r.errorText)")
        // Every RUN after an ARG has it in its environment (as in BuildKit): both reasons hold.
        #expect(plain.miss("RUN echo three") == "cache miss: the step before it changed ([stage-0 3/4] RUN echo $FLAVOUR > /flavour); build arg FLAVOUR changed",
                "\(r.errorText)")

        let raw = try await KilnProcess.run(["build", "--root", rig.dir.file("root3"), "--progress", "rawjson", "--explain",
                                             "--build-arg", "FLAVOUR=hot", "--cache-from", cache, rig.dir.file("ctx")])
        #expect(raw.status == 0, "\(raw.errorText)")
        let statuses = raw.errorText.split(separator: "\n").compactMap { line -> [String: Any]? in
            let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (obj?["statuses"] as? [[String: Any]])?.first
        }
        let miss = statuses.first { $0["id"] as? String == "cache-miss" }
        #expect(miss?["name"] as? String == "cache miss: build arg FLAVOUR changed", "\(raw.errorText)")
        let vertices = raw.errorText.split(separator: "\n").compactMap { line -> [String: Any]? in
            let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (obj?["vertexes"] as? [[String: Any]])?.first
        }
        let step = vertices.first { ($0["name"] as? String)?.hasSuffix("RUN echo $FLAVOUR > /flavour") == true }
        #expect(step?["digest"] as? String == miss?["vertex"] as? String, "the status is on the step's vertex")
    }

    @Test func aRepushedBaseImageIsNamedWithBothDigests() async throws {
        let rig = try await CLIRig.make()
        let baseRef = "\(rig.registry.host)/explain/base:latest"
        let first = try await pushBase(rig, marker: "one", to: baseRef)
        let cache = "type=registry,ref=\(rig.registry.host)/explain/base-cache:c"
        try "FROM \(baseRef)\nRUN cat /marker > /copy\n".write(toFile: rig.dir.file("ctx/Dockerfile"), atomically: false, encoding: .utf8)
        _ = try await build(rig, root: "root1", ["--cache-to", cache + ",mode=max"])

        let second = try await pushBase(rig, marker: "two", to: baseRef)
        let r = try await build(rig, root: "root2", ["--explain", "--cache-from", cache])
        let short = { (d: String) in String(d.prefix("sha256:".count + 12)) }
        #expect(Plain(r.errorText).miss("RUN cat /marker > /copy")
            == "cache miss: base image \(baseRef) changed (\(short(first)) → \(short(second)))", "\(r.errorText)")
    }

    @Test func withoutExplainNothingIsSaidAndALocalCacheExplainsToo() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nCOPY run.sh /\n")
        try "echo\n".write(toFile: rig.dir.file("ctx/run.sh"), atomically: false, encoding: .utf8)
        _ = try await build(rig, root: "root", [])
        chmod(rig.dir.file("ctx/run.sh"), 0o755)
        let quiet = try await build(rig, root: "root", [])
        #expect(!quiet.errorText.contains("cache miss"), "\(quiet.errorText)")
        chmod(rig.dir.file("ctx/run.sh"), 0o700)
        let r = try await build(rig, root: "root", ["--explain"])
        #expect(Plain(r.errorText).miss("COPY run.sh /") == "cache miss: context file run.sh: mode changed (755 → 700)", "\(r.errorText)")
    }

    /// Pushes a base image whose `/marker` holds `marker`; returns its manifest digest.
    func pushBase(_ rig: CLIRig, marker: String, to ref: String) async throws -> String {
        let rootfs = rig.dir.file("base-\(marker)")
        try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "cat"] { symlink("busybox", rootfs + "/bin/" + applet) }
        try marker.write(toFile: rootfs + "/marker", atomically: false, encoding: .utf8)
        var config = RegistryConfiguration()
        config.certsDirectory = nil
        let digest = try await RegistryClient.withClient(configuration: config, credentials: AnonymousCredentials()) { client in
            _ = try await TestImage.push(rootfs: rootfs, to: ref, client: client, scratch: rig.dir.path, env: ["PATH=/bin"])
            return try await client.manifestDescriptor(try Reference(parsing: ref))?.digest
        }
        guard let digest else { throw CLIRigError("\(ref) was not pushed") }
        return digest.description
    }
}
