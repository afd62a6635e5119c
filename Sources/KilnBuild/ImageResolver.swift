import Foundation
import KilnDockerfile
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore

/// Resolves `FROM` references through the registry: index → the platform's manifest → config.
/// Only documents are fetched; layers stay remote until a step needs the filesystem.
public actor ImageResolver {
    private let client: RegistryClient
    private let store: ContentStore
    private var cache: [String: ResolvedImage] = [:]

    /// A resolver using `client`, recording blob sources in `store`.
    public init(client: RegistryClient, store: ContentStore) {
        self.client = client
        self.store = store
    }

    /// Images resolved so far, by reference as written.
    public var resolved: [String: ResolvedImage] { cache }

    /// Resolves `reference` for `platform`.
    public func resolve(_ reference: String, platform: Platform) async throws -> ResolvedImage {
        if let r = cache[reference] { return r }
        if reference.hasPrefix(NamedContext.ociLayoutScheme) {
            let img = try await OCILayoutImage(store: store).resolve(String(reference.dropFirst(NamedContext.ociLayoutScheme.count)),
                                                                     reference: reference, platform: platform)
            cache[reference] = img
            return img
        }
        let ref = try Reference(parsing: reference)
        var top = try await client.manifest(ref)
        let resolvedDigest = top.digest
        if case .index(let index) = try top.document() {
            guard let d = index.manifest(for: platform) else {
                let have = index.manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw RegistryError.invalidResponse(url: ref.description, reason: "no manifest for \(platform) (has \(have))")
            }
            top = try await client.manifest(ref.withDigest(d.digest))
        }
        guard case .manifest(let manifest) = try top.document() else {
            throw RegistryError.invalidResponse(url: ref.description, reason: "nested index")
        }
        let config = try ImageConfig.decode(try await client.blobData(manifest.config, from: ref))
        guard config.diffIDs.count == manifest.layers.count else {
            throw RegistryError.invalidResponse(url: ref.description, reason: "config lists \(config.diffIDs.count) diff_ids for \(manifest.layers.count) layers")
        }
        try await store.addSources(manifest.layers.map(\.digest), repository: ref.name)
        var img = ResolvedImage(reference: reference, manifestDigest: top.digest, config: config, platform: platform,
                                layers: manifest.layers, repository: ref.name)
        img.resolvedDigest = resolvedDigest
        cache[reference] = img
        return img
    }
}
