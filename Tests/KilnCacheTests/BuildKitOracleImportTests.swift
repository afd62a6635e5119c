import Foundation
import KilnCache
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnTestSupport
import Testing

/// Kiln reads BuildKit's own caches: given each cache BuildKit recorded for the oracle's cases
/// (its manifest and config; the layer blobs were not kept), the key lookup finds a result for
/// every step of the case — on the graph Kiln makes for the same Dockerfile, context and base.
@Suite struct BuildKitOracleImportTests {
    static let base = BuildKitOracle.directory + "/base"

    static func graph(_ name: String, context: String) async throws -> BuildGraph {
        let caseDir = BuildKitOracle.directory + "/cases/" + name
        let spec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: caseDir + "/case.json"))) as? [String: Any]
        var buildArgs = (spec?["build_args"] as? [String: String]) ?? [:]
        buildArgs["BASE"] = "registry.test/base/busybox:latest"
        let config = try ImageConfig.decode(Data(contentsOf: URL(fileURLWithPath: base + "/config.json")))
        let manifestData = try Data(contentsOf: URL(fileURLWithPath: base + "/manifest.json"))
        let manifest = try ImageManifest.decode(manifestData)
        let image = ResolvedImage(reference: buildArgs["BASE"] ?? "", manifestDigest: Digest.of(manifestData), config: config,
                                  platform: .linuxAMD64, layers: manifest.layers)
        let text = try String(contentsOfFile: context + "/Dockerfile", encoding: .utf8)
        let plan = try await BuildPlanner(options: PlanOptions(buildArgs: buildArgs, target: spec?["target"] as? String))
            .plan(try DockerfileParser().parse(text)) { _, _ in config }
        return try GraphBuilder(context: BuildContext(directory: context, dockerfileName: "Dockerfile")).build(plan, images: [image.reference: image])
    }

    @Test(arguments: BuildKitOracle.cases.filter { FileManager.default.fileExists(atPath: BuildKitOracle.directory + "/cases/\($0)/buildkit/cache") })
    func everyStepFindsBuildKitsRecord(_ name: String) async throws {
        let dir = try TemporaryDirectory()
        try BuildKitOracle.copyContext(name, to: dir.file("ctx"))
        let graph = try await Self.graph(name, context: dir.file("ctx"))
        let cache = try await RegistryCacheImporter.loadLocal(BuildKitOracle.directory + "/cases/\(name)/buildkit/cache", tag: nil, store: nil)
        let steps = graph.vertices.filter { if case .image = $0.op { false } else { true } }
        #expect(!steps.isEmpty)
        #expect(RegistryCacheImporter.matchedSteps(cache, graph: graph) == steps.count,
                "\(name): steps without a BuildKit record: \(RegistryCacheImporter.unmatchedSteps(cache, graph: graph))")
    }
}
