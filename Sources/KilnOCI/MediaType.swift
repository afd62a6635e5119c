/// Media types of OCI and Docker image documents and layers.
public enum MediaType {
    /// OCI image manifest.
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index.
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    /// OCI image config.
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    /// OCI empty descriptor payload (`{}`), used as the config of artifacts.
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"
    /// OCI layer, uncompressed tar.
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    /// OCI layer, gzip-compressed tar.
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    /// OCI layer, zstd-compressed tar.
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    /// OCI non-distributable layer, uncompressed (deprecated by the spec, still found in the wild).
    public static let ociLayerNonDistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    /// OCI non-distributable layer, gzip.
    public static let ociLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    /// OCI non-distributable layer, zstd.
    public static let ociLayerNonDistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

    /// Docker schema 2 manifest.
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker manifest list.
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// Docker image config.
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    /// Docker layer, gzip-compressed tar (also used for uncompressed layers by some tools).
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    /// Docker layer, uncompressed tar.
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
    /// Docker layer, zstd (as written by BuildKit with `oci-mediatypes=false,compression=zstd`).
    public static let dockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd"
    /// Docker foreign (non-distributable) layer, gzip.
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    /// Docker schema 1 signed manifest, recognised only to be refused clearly.
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    /// BuildKit's remote cache config.
    public static let buildkitCacheConfig = "application/vnd.buildkit.cacheconfig.v0"

    /// Every manifest and index type Kiln reads, in the order sent in `Accept`.
    public static let manifestAcceptList: [String] = [
        ociIndex, ociManifest, dockerManifestList, dockerManifest,
    ]

    /// True for single-image manifest types.
    public static func isManifest(_ mt: String) -> Bool { mt == ociManifest || mt == dockerManifest }

    /// True for multi-image index types.
    public static func isIndex(_ mt: String) -> Bool { mt == ociIndex || mt == dockerManifestList }

    /// True for image config types.
    public static func isImageConfig(_ mt: String) -> Bool { mt == ociConfig || mt == dockerConfig }

    /// The compression a layer media type declares, or `nil` when the type is not a layer.
    public static func layerCompression(_ mt: String) -> LayerCompression? {
        switch mt {
        case ociLayer, ociLayerNonDistributable, dockerLayer: .uncompressed
        case ociLayerGzip, ociLayerNonDistributableGzip, dockerLayerGzip, dockerForeignLayerGzip: .gzip
        case ociLayerZstd, ociLayerNonDistributableZstd, dockerLayerZstd: .zstd
        default: nil
        }
    }

    /// True for layer types that registries may refuse to host (`urls` point elsewhere).
    public static func isNonDistributable(_ mt: String) -> Bool {
        mt == ociLayerNonDistributable || mt == ociLayerNonDistributableGzip
            || mt == ociLayerNonDistributableZstd || mt == dockerForeignLayerGzip
    }

    /// The layer media type for a compression in the OCI or Docker family.
    public static func layer(_ compression: LayerCompression, oci: Bool) -> String {
        switch (compression, oci) {
        case (.uncompressed, true): ociLayer
        case (.gzip, true): ociLayerGzip
        case (.zstd, true): ociLayerZstd
        case (.uncompressed, false): dockerLayer
        case (.gzip, false): dockerLayerGzip
        case (.zstd, false): dockerLayerZstd
        }
    }
}

/// How a layer blob is compressed, as far as its media type says.
public enum LayerCompression: String, Sendable, Hashable, CaseIterable {
    /// A plain tar.
    case uncompressed
    /// gzip (eStargz layers are gzip too).
    case gzip
    /// zstd.
    case zstd
}
