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

    /// An assembler.
    public init(plan: BuildPlan, images: [String: ResolvedImage], sourceDateEpoch: Int64? = nil) {
        self.plan = plan
        self.images = images
        self.sourceDateEpoch = sourceDateEpoch
    }

    /// The config for the target stage whose final chain is `chain`. Which steps added layers
    /// comes from ``chainLengths`` (see ``learnChains(from:store:)``).
    public func config(chain: [CachedLayer], graph: BuildGraph) throws -> ImageConfig {
        try config(for: plan.target, chain: chain, graph: graph)
    }

    private func config(for stage: PlannedStage, chain: [CachedLayer], graph: BuildGraph) throws -> ImageConfig {
        var config: ImageConfig
        var history: [HistoryEntry]
        var baseLayerCount: Int
        switch stage.base {
        case .scratch:
            config = ImageConfig(platform: stage.platform)
            history = []
            baseLayerCount = 0
        case .image(let ref, _):
            guard let img = images[ref] else { throw ExportError("base image \(ref) was not resolved") }
            config = img.config
            baseLayerCount = img.layers.count
            history = img.config.history
            if history.filter({ !$0.emptyLayer }).count != baseLayerCount {
                history = (0..<baseLayerCount).map { _ in HistoryEntry(created: img.config.created, createdBy: "base image \(ref)") }
            }
        case .stage(let i):
            guard let parent = plan.stage(index: i), graph.stageResults[i] != nil else {
                throw ExportError("stage \(i) has no result")
            }
            let parentChainCount = chainLength(of: parent, graph: graph)
            config = try self.config(for: parent, chain: Array(chain.prefix(parentChainCount)), graph: graph)
            history = config.history
            baseLayerCount = parentChainCount
        }
        config.fields["moby.buildkit.cache.v0"] = nil
        var rt = config.runtime
        var layerIndex = baseLayerCount
        var lastTime: Int64 = chain.prefix(baseLayerCount).last.map(\.createdAt) ?? 0
        var entrypointSet = false
        for step in stage.steps {
            let createdBy = "\(step.instruction.keyword) \(step.instruction.original.dropFirst(step.instruction.keyword.count).trimmingCharacters(in: .whitespaces))"
            if step.vertexName != nil {
                // A vertex step: it added a layer if the chain has one more for it.
                let expectedAfter = layerCount(upTo: step, in: stage, graph: graph, base: baseLayerCount)
                if expectedAfter > layerIndex, layerIndex < chain.count {
                    lastTime = chain[layerIndex].createdAt
                    layerIndex += 1
                    history.append(HistoryEntry(created: Timestamp.rfc3339(clamp(lastTime)), createdBy: createdBy, comment: "buildkit.dockerfile.v0"))
                } else {
                    history.append(HistoryEntry(created: Timestamp.rfc3339(clamp(lastTime)), createdBy: createdBy, comment: "buildkit.dockerfile.v0", emptyLayer: true))
                }
            } else {
                history.append(HistoryEntry(created: Timestamp.rfc3339(clamp(lastTime)), createdBy: createdBy, comment: "buildkit.dockerfile.v0", emptyLayer: true))
            }
            switch step.kind {
            case .env(let pairs):
                var env = rt.env ?? []
                for (k, v) in pairs {
                    if let i = env.firstIndex(where: { $0.hasPrefix(k + "=") }) { env[i] = "\(k)=\(v)" } else { env.append("\(k)=\(v)") }
                }
                rt.env = env
            case .label(let pairs):
                var labels = rt.labels ?? [:]
                for (k, v) in pairs { labels[k] = v }
                rt.labels = labels
            case .user(let u): rt.user = u
            case .workdir(let w): rt.workingDir = w
            case .expose(let ports): rt.exposedPorts = Array(Set((rt.exposedPorts ?? []) + ports)).sorted()
            case .volume(let v): rt.volumes = Array(Set((rt.volumes ?? []) + v)).sorted()
            case .entrypoint(let form):
                rt.entrypoint = command(form, shell: rt.shell)
                if !entrypointSet { rt.cmd = nil }
                entrypointSet = true
            case .cmd(let form): rt.cmd = command(form, shell: rt.shell)
            case .shell(let s): rt.shell = s
            case .stopSignal(let s): rt.stopSignal = s
            case .healthcheck(let h): rt.healthcheck = h
            case .onbuild(let t): rt.onBuild = (rt.onBuild ?? []) + [t]
            case .maintainer(let m): config.fields["author"] = .string(m)
            case .run, .copy, .arg: break
            }
        }
        config.runtime = rt
        config.diffIDs = chain.map(\.diffID)
        config.history = history
        config.created = Timestamp.rfc3339(clamp(chain.last?.createdAt ?? lastTime))
        config.architecture = stage.platform.architecture
        config.os = stage.platform.os
        return config
    }

    private func clamp(_ t: Int64) -> Int64 { sourceDateEpoch.map { min($0, t) } ?? t }

    private func command(_ form: CommandForm, shell: [String]?) -> [String] {
        switch form {
        case .exec(let a): return a
        case .shell(let s): return (shell ?? ["/bin/sh", "-c"]) + [s]
        }
    }

    /// Layers in the chain of `stage`'s result.
    private func chainLength(of stage: PlannedStage, graph: BuildGraph) -> Int {
        layerCounts[stage.index] ?? 0
    }

    /// Per stage, the number of layers in its final chain (filled by ``learnChains(from:store:)``).
    public var layerCounts: [Int: Int] = [:]
    /// Per vertex name, the chain length after the step.
    public var chainLengths: [String: Int] = [:]

    private func layerCount(upTo step: PlannedStep, in stage: PlannedStage, graph: BuildGraph, base: Int) -> Int {
        step.vertexName.flatMap { chainLengths[$0] } ?? base
    }
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
