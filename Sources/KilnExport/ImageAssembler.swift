import Foundation
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnStore

/// Builds the image config of a target stage: the base image's config (kept whole), the
/// Dockerfile's metadata applied in order, `rootfs.diff_ids` from the layer chain, and a
/// `history` with one entry per step (`empty_layer` for steps that made no layer). Times come
/// from the layers, so a fully cached rebuild gives the same config bytes.
public struct ImageAssembler {
    /// The plan built.
    public var plan: BuildPlan
    /// Base images by reference.
    public var images: [String: ResolvedImage]
    /// `SOURCE_DATE_EPOCH`: clamp every created time to it.
    public var sourceDateEpoch: Int64?
    /// `--label`s: set on the image over the Dockerfile's own.
    public var labels: [(String, String)] = []

    /// An assembler.
    public init(plan: BuildPlan, images: [String: ResolvedImage], sourceDateEpoch: Int64? = nil) {
        self.plan = plan
        self.images = images
        self.sourceDateEpoch = sourceDateEpoch
    }

    /// The config for the target stage whose final chain is `chain`. Which steps added layers
    /// comes from ``chainLengths`` (see ``learnChains(from:store:)``).
    public func config(chain: [CachedLayer], graph: BuildGraph) throws -> ImageConfig {
        var config = try config(for: plan.target, chain: chain, graph: graph)
        guard !labels.isEmpty else { return config }
        var rt = config.runtime
        var merged = rt.labels ?? [:]
        for (k, v) in labels { merged[k] = v }
        rt.labels = merged
        config.runtime = rt
        return config
    }

    private func config(for stage: PlannedStage, chain: [CachedLayer], graph: BuildGraph) throws -> ImageConfig {
        var (config, history, baseLayerCount) = try base(of: stage, chain: chain, graph: graph)
        config.fields["moby.buildkit.cache.v0"] = nil
        var layerIndex = baseLayerCount
        var lastTime: Int64 = chain.prefix(baseLayerCount).last.map(\.createdAt) ?? 0
        var entrypointSet = false
        for step in stage.steps {
            let createdBy = step.historyText
            // A vertex step added a layer if the chain has one more for it.
            var empty = true
            if let name = step.vertexName, (chainLengths[name] ?? baseLayerCount) > layerIndex, layerIndex < chain.count {
                lastTime = chain[layerIndex].createdAt
                layerIndex += 1
                empty = false
            }
            history.append(HistoryEntry(created: Timestamp.rfc3339(clamp(lastTime)), createdBy: createdBy, comment: "buildkit.dockerfile.v0",
                                        emptyLayer: empty))
            step.kind.apply(to: &config, entrypointSet: &entrypointSet)
        }
        config.diffIDs = chain.map(\.diffID)
        config.history = history
        config.created = Timestamp.rfc3339(clamp(chain.last?.createdAt ?? lastTime))
        config.architecture = stage.platform.architecture
        config.os = stage.platform.os
        return config
    }

    /// What a stage starts from: its base's config and history, and how many layers it has.
    private func base(of stage: PlannedStage, chain: [CachedLayer], graph: BuildGraph) throws -> (ImageConfig, [HistoryEntry], Int) {
        switch stage.base {
        case .scratch:
            return (Self.emptyConfig(stage.platform), [], 0)
        case .named(let name):
            // A directory's files, one layer (none when it is empty), and no config of its own.
            let count = min(chain.count, chainLengths[stage.fromName] ?? 0)
            let history = chain.prefix(count).map { l in
                HistoryEntry(created: Timestamp.rfc3339(clamp(l.createdAt)), createdBy: "build context \(name)", comment: "buildkit.dockerfile.v0")
            }
            return (Self.emptyConfig(stage.platform), history, count)
        case .image(let ref, _):
            guard let img = images[ref] else { throw ExportError("base image \(ref) was not resolved") }
            var history = img.config.history
            if history.filter({ !$0.emptyLayer }).count != img.layers.count {
                history = img.layers.map { _ in HistoryEntry(created: img.config.created, createdBy: "base image \(ref)") }
            }
            return (Self.consumingTriggers(img.config), history, img.layers.count)
        case .stage(let i):
            // A parent with no filesystem step (scratch and metadata only) still has a config.
            guard let parent = plan.stage(index: i) else { throw ExportError("stage \(i) was not planned") }
            let count = layerCounts[parent.index] ?? 0
            let config = try self.config(for: parent, chain: Array(chain.prefix(count)), graph: graph)
            return (Self.consumingTriggers(config), config.history, count)
        }
    }

    /// As BuildKit's empty image: the default PATH and `/` as working directory.
    static func emptyConfig(_ platform: Platform) -> ImageConfig {
        var config = ImageConfig(platform: platform)
        var rt = config.runtime
        rt.env = ["PATH=" + PlannedStage.defaultPath]
        rt.workingDir = "/"
        config.runtime = rt
        return config
    }

    /// A base's config with its ONBUILD triggers gone: the stage built on it ran them.
    static func consumingTriggers(_ config: ImageConfig) -> ImageConfig {
        var out = config
        var rt = out.runtime
        rt.onBuild = nil
        out.runtime = rt
        return out
    }

    private func clamp(_ t: Int64) -> Int64 { sourceDateEpoch.map { min($0, t) } ?? t }

    /// Per stage, the number of layers in its final chain (filled by ``learnChains(from:store:)``).
    public var layerCounts: [Int: Int] = [:]
    /// Per vertex name, the chain length after the step.
    public var chainLengths: [String: Int] = [:]

}

/// An export failure.
public struct ExportError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    /// The registry refused an upload because its bytes do not match their digest.
    public var digestInvalid = false
    /// An error with a message.
    public init(_ d: String) { description = d }
}
