import KilnOCI
import KilnStore

/// `FROM <image>`: a base image's layers, known by descriptor and never downloaded until a step
/// needs its files.
public struct ImageSourceOp: Sendable {
    /// The image as resolved from its registry.
    public let image: ResolvedImage

    /// The image's layers as a chain whose blobs are sourced from its repository.
    public var chain: [CachedLayer] {
        zip(image.layers, image.config.diffIDs).map { d, diffID in
            CachedLayer(digest: d.digest, diffID: diffID, mediaType: d.mediaType, size: d.size, createdAt: 0, source: image.repository)
        }
    }

    /// Its facts: the reference, the manifest digest and the platform.
    static func facts(_ img: ResolvedImage) -> [String: String] {
        [FactName.image: img.reference, FactName.digest: img.manifestDigest.description, FactName.platform: img.platform.description]
    }

    /// Its key as BuildKit's image source gives it (manifest digest + platform) and an
    /// alternative by rootfs ChainID, which still matches when the same layers are pushed again
    /// under another manifest.
    static func keys(_ img: ResolvedImage) throws(GraphError) -> (CacheKey, CacheKey) {
        (try CacheKey(base: BuildKitCacheMap.image(manifest: img.resolvedDigest ?? img.manifestDigest, platform: img.platform)),
         try CacheKey(base: BuildKitCacheMap.rootfs(chainID: img.chainID)))
    }
}
