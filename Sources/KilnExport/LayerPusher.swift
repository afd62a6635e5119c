import Foundation
import KilnOCI
import KilnRegistry
import KilnStore
import KilnSystem

/// Puts layer blobs into a repository as cheaply as the registry allows: nothing when it has
/// them, a cross-repository mount from any repository of the same registry known to hold them,
/// else an upload — fetching the blob first only then. Image and cache exports both use it.
/// A blob no source serves is ``BlobUnavailable``, thrown as itself.
public struct LayerPusher: Sendable {
    let context: ExportContext
    /// What an upload is called in progress (`pushing layer`, `writing layer`).
    let verb: String

    /// A pusher; an upload shows as `VERB sha256:…`.
    public init(context: ExportContext, verb: String = "pushing layer") {
        self.context = context
        self.verb = verb
    }

    /// Blobs pushed at once by one export (the registry client bounds transfers per host too).
    public static let parallelism = 4

    /// Pushes `layers` to `ref`, ``parallelism`` at a time.
    public func push(_ layers: [CachedLayer], to ref: Reference) async throws {
        try await forEachConcurrently(layers, limit: Self.parallelism) { try await self.push($0, to: ref) }
    }

    private func push(_ layer: CachedLayer, to ref: Reference) async throws {
        try await context.coordinator.serialize(digest: layer.digest, registry: ref.apiHost) {
            do {
                try await self.pushOne(layer, to: ref)
            } catch let refused as ExportError where refused.digestInvalid {
                // The registry found the bytes do not match the digest: a copy corrupted on disk
                // here is discarded, and the push fetches it again from where it came from.
                guard try await self.context.store.verify(layer.digest) == false else { throw refused }
                try await self.context.store.discardCorrupt(layer.digest)
                try await self.pushOne(layer, to: ref)
            }
        }
    }

    private func pushOne(_ layer: CachedLayer, to ref: Reference) async throws {
        let (client, store) = (context.client, context.store)
        let desc = Descriptor(mediaType: layer.mediaType, digest: layer.digest, size: layer.size)
        var candidates = try await store.sources(layer.digest).compactMap { try? Reference(parsing: $0) }
        if let s = layer.source, let r = try? Reference(parsing: s) { candidates.append(r) }
        candidates = candidates.filter { $0.apiHost == ref.apiHost && $0.repository != ref.repository }
        let plan = try await client.planPush(desc, to: ref, mountCandidates: Array(candidates.prefix(3)))
        switch plan {
        case .done(.mounted(let from)): await context.progress.done("mounted \(layer.digest) from \(from)", bytes: layer.size)
        case .done: await context.progress.done("\(layer.digest) exists", bytes: layer.size)
        case .upload(let session):
            let path = try await context.fetcher.fetch(layer)
            do {
                try await context.progress.task("\(verb) \(layer.digest)", bytes: layer.size) {
                    try await client.upload(desc, fromFile: path, to: ref, session: session)
                }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                var refused = ExportError("pushing layer \(layer.digest) to \(ref.name): \(ErrorText.describe(error))")
                if case .http(_, _, 400, let details, _) = error as? RegistryError, details.contains(where: { $0.code == "DIGEST_INVALID" }) {
                    refused.digestInvalid = true
                }
                throw refused
            }
        }
        try await store.addSource(layer.digest, repository: ref.name)
    }
}
