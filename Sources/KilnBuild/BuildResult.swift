import Foundation
import KilnOCI
import KilnSolver
import KilnStore

/// What a build made: the target's layer chain, the image it pushed or assembled, the caches it
/// exported, what happened to each step, and the warnings it gave.
public struct BuildResult: Sendable {
    /// The target stage's filesystem as a layer chain (empty for an empty scratch image).
    public var chain: [CachedLayer] = []
    /// Digest of the image config, when one was assembled.
    public var configDigest: Digest?
    /// The pushed image manifest, when the image was pushed.
    public var imageDescriptor: Descriptor?
    /// The names the image was given.
    public var imageNames: [String] = []
    /// The manifest (or index) of each exported registry or local cache.
    public var cacheManifests: [Descriptor] = []
    /// How each step was satisfied, by step name.
    public var steps: [String: StepOutcome] = [:]
    /// Warnings given during the build.
    public var warnings: [String] = []
    /// With `--explain`: the steps that ran although a cache held an earlier version of them,
    /// and why (nil without `--explain`).
    public var cacheMisses: [CacheMiss]?

    /// Whether a step was loaded from a cache or executed.
    public typealias StepOutcome = Solver.Outcome

    /// The `--metadata-file` JSON object, with BuildKit's keys.
    public func metadata() throws -> Data {
        var m: [String: Any] = [:]
        if let configDigest { m["containerimage.config.digest"] = configDigest.description }
        if let d = imageDescriptor {
            m["containerimage.digest"] = d.digest.description
            m["containerimage.descriptor"] = ["mediaType": d.mediaType, "digest": d.digest.description, "size": d.size]
        }
        if imageDescriptor != nil, !imageNames.isEmpty { m["image.name"] = imageNames.joined(separator: ",") }
        if let d = cacheManifests.last {
            let json = try JSONSerialization.data(withJSONObject: ["mediaType": d.mediaType, "digest": d.digest.description, "size": d.size],
                                                  options: [.sortedKeys])
            m["cache.manifest"] = String(decoding: json, as: UTF8.self)
        }
        if let misses = cacheMisses {
            m["kiln.cache-misses"] = misses.map { ["step": $0.step, "reasons": $0.reasons] as [String: Any] }
        }
        return try JSONSerialization.data(withJSONObject: m, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}
