import Foundation
@testable import KilnDockerfile
import KilnOCI
@testable import KilnSolver
import Testing

/// The bytes BuildKit hashes, for what the recorded oracle does not show.
@Suite struct BuildKitCacheMapTests {
    @Test func goJSONEscapesAsGoDoes() {
        let v = GoJSON.fields([("a", .string("<x> & \"q\" \\ \n\t\u{1} \u{2028}")), ("b", nil), ("c", .int(-1)), ("d", .bytes(Data("hi".utf8)))])
        #expect(v.text == #"{"a":"\u003cx\u003e \u0026 \"q\" \\ \n\t\u0001 \u2028","c":-1,"d":"aGk="}"#)
    }

    @Test func fileOpIndexesAreLeftOutOnlyForTheUsualChain() {
        #expect(BuildKitCacheMap.isDefault([[0, 1, 0]]))
        #expect(BuildKitCacheMap.isDefault([[0, 1, -1], [2, 1, 0]]))
        #expect(!BuildKitCacheMap.isDefault([[0, 1, -1], [2, 1, -1], [3, 1, 0]]), "three actions: llb numbers the second 2, the check wants 3")
        #expect(!BuildKitCacheMap.isDefault([[-1, 0, 0]]))
        #expect(!BuildKitCacheMap.isDefault([[-1, -1, 0]]))
        #expect(BuildKitFile.indexes(count: 2, onBase: true, inputs: 2) { _ in 1 } == [[0, 1, -1], [2, 1, 0]])
        #expect(BuildKitFile.indexes(count: 1, onBase: false, inputs: 1) { _ in 0 } == [[-1, 0, 0]])
    }

    @Test func selectorsAndDedupedPaths() {
        let sorted = ["/b", "/a"].sorted().reversed().joined(separator: "\u{0}")
        #expect(BuildKitCacheMap.fileSelector(["/a", "/b"]) == Digest.of(Data(sorted.utf8)))
        #expect(BuildKitCacheMap.execSelector(["/"]) == Digest.of(Data("/".utf8)))
        #expect(BuildKitCacheMap.dedupePaths(["/a/b", "/a", "/ab", "/a"]) == ["/a", "/ab"])
    }

    static func run(_ mounts: [String], network: String? = nil) throws -> RunStep {
        var r = RunStep(command: .shell("true"), shell: ["/bin/sh", "-c"], heredocs: [], mounts: mounts, network: network,
                        buildArgs: [], env: [("PATH", "/bin")], workdir: "/", user: "")
        r.parsedMounts = try mounts.map { try RunMount.parse($0, line: 1, file: "Dockerfile") }
        return r
    }

    @Test func runMountsAsTheFrontendWritesThem() throws {
        let run = try Self.run(["type=cache,target=/var/cache/apt,sharing=locked", "type=cache,target=/root/.cache",
                                "type=secret,id=tok", "type=tmpfs,target=/tmp", "type=bind,source=src,target=/src"], network: "host")
        let json = BuildKitExec(run: run, onBase: true).cacheMapJSON(ExecOp(run: run)).text
        #expect(json.contains(#"{"input":-1,"dest":"/root/.cache","output":-1,"mountType":3,"cacheOpt":{"ID":"//root/.cache"}}"#), "\(json)")
        #expect(json.contains(#"{"input":-1,"dest":"/var/cache/apt","output":-1,"mountType":3,"cacheOpt":{}}"#), "locked sharing is cleared: \(json)")
        #expect(json.contains(#"{"input":1,"dest":"/src","output":-1,"readonly":true}"#), "\(json)")
        #expect(json.contains(#"{"input":-1,"dest":"/tmp","output":-1,"mountType":4,"TmpfsOpt":{}}"#), "\(json)")
        #expect(json.hasSuffix(#"{"input":-1,"dest":"/run/secrets/tok","mountType":1,"secretOpt":{"ID":"tok","mode":256,"optional":true}}],"network":1}"#), "\(json)")
        #expect(json.hasPrefix(#"{"meta":{"args":["/bin/sh","-c","true"],"env":["PATH=/bin"],"cwd":"/","removeMountStubsRecursive":true},"mounts":[{"dest":"/"},"#))
    }

    @Test func ownersByIdAndByName() {
        #expect(BuildKitFile.owner("1000:1000")?.text == #"{"user":{"User":{"byId":1000}},"group":{"User":{"byId":1000}}}"#)
        #expect(BuildKitFile.owner("app")?.text == #"{"user":{"User":{"byName":{"name":"app"}}}}"#)
        #expect(BuildKitFile.owner(nil) == nil)
    }

    @Test func workdirSlashMakesNoStep() async throws {
        let plan = try await BuildPlanner().plan(try DockerfileParser().parse("FROM reg/base:1\nWORKDIR /\nWORKDIR /app\n")) { _, _ in nil }
        var config = ImageConfig()
        config.diffIDs = [Digest.of(Data("l".utf8))]
        let img = ResolvedImage(reference: "reg/base:1", manifestDigest: Digest.of(Data("m".utf8)), config: config, platform: .linuxAMD64)
        let graph = try GraphBuilder(contextDirectory: "/nonexistent").build(plan, images: ["reg/base:1": img])
        #expect(graph.vertices.map(\.name) == ["[stage-0 1/3] FROM reg/base:1", "[stage-0 3/3] WORKDIR /app"])
    }
}
