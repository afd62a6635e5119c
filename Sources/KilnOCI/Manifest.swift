import Foundation

/// An image manifest, OCI (`application/vnd.oci.image.manifest.v1+json`) or Docker schema 2.
public struct ImageManifest: Hashable, Sendable, Codable {
    /// Always 2.
    public var schemaVersion: Int
    /// The manifest's own media type (required for Docker, optional for OCI).
    public var mediaType: String?
    /// Artifact type for OCI artifacts.
    public var artifactType: String?
    /// The config blob.
    public var config: Descriptor
    /// The layer blobs, base first.
    public var layers: [Descriptor]
    /// The manifest this one refers to (referrers API).
    public var subject: Descriptor?
    /// Free-form annotations.
    public var annotations: [String: String]?

    /// A manifest with the given parts.
    public init(
        mediaType: String? = MediaType.ociManifest, artifactType: String? = nil, config: Descriptor,
        layers: [Descriptor], subject: Descriptor? = nil, annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.subject = subject
        self.annotations = annotations
    }

    /// Decodes and validates a manifest served as `mediaType` (the Content-Type, when known).
    public static func decode(_ data: Data, mediaType: String? = nil) throws(OCIError) -> ImageManifest {
        try decodeDocument(ImageManifest.self, from: data, kind: "image manifest", accepts: MediaType.isManifest)
    }

    /// The canonical bytes of this manifest.
    public func encoded() throws -> Data { try CanonicalJSON.encode(self) }
}

/// An image index (OCI) or manifest list (Docker).
public struct ImageIndex: Hashable, Sendable, Codable {
    /// Always 2.
    public var schemaVersion: Int
    /// The index's own media type.
    public var mediaType: String?
    /// Artifact type for OCI artifacts.
    public var artifactType: String?
    /// The listed manifests (or, for BuildKit's cache index, layers and a cache config).
    public var manifests: [Descriptor]
    /// The manifest this one refers to.
    public var subject: Descriptor?
    /// Free-form annotations.
    public var annotations: [String: String]?

    /// An index with the given parts.
    public init(
        mediaType: String? = MediaType.ociIndex, artifactType: String? = nil, manifests: [Descriptor],
        subject: Descriptor? = nil, annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.manifests = manifests
        self.subject = subject
        self.annotations = annotations
    }

    /// Decodes and validates an index.
    public static func decode(_ data: Data) throws(OCIError) -> ImageIndex {
        try decodeDocument(ImageIndex.self, from: data, kind: "image index", accepts: MediaType.isIndex)
    }

    /// The canonical bytes of this index.
    public func encoded() throws -> Data { try CanonicalJSON.encode(self) }

    /// The first manifest for `platform`, if any.
    public func manifest(for platform: Platform) -> Descriptor? {
        manifests.first { d in d.platform.map(platform.matches) ?? false }
    }
}

/// A manifest or index, told apart by media type (or, when a server gives none, by shape).
public enum ManifestDocument: Sendable, Hashable {
    /// A single-image manifest.
    case manifest(ImageManifest)
    /// An index or manifest list.
    case index(ImageIndex)

    /// Decodes `data` served with `contentType`, falling back to the document's own `mediaType`
    /// field and then to its shape.
    public static func decode(_ data: Data, contentType: String?) throws(OCIError) -> ManifestDocument {
        let declared = contentType.flatMap { ct -> String? in
            let base = ct.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            return base.isEmpty || base == "application/json" || base == "application/octet-stream" ? nil : base
        }
        let probe = try CanonicalJSON.decode(Probe.self, from: data, kind: "manifest")
        let mt = declared ?? probe.mediaType ?? (probe.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest)
        if MediaType.isIndex(mt) { return .index(try ImageIndex.decode(data)) }
        if MediaType.isManifest(mt) { return .manifest(try ImageManifest.decode(data, mediaType: mt)) }
        if mt == MediaType.dockerSchema1Signed || probe.schemaVersion == 1 {
            throw OCIError.unsupportedMediaType(mt, expected: "a schema 2 manifest (schema 1 is not supported)")
        }
        throw OCIError.unsupportedMediaType(mt, expected: "an OCI or Docker manifest or index")
    }

    private struct Probe: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var manifests: [JSONValue]?
    }
}

/// What manifests and indexes share: a schema version and a media type to check.
protocol VersionedDocument: Decodable {
    var schemaVersion: Int { get }
    var mediaType: String? { get }
}

extension ImageManifest: VersionedDocument {}
extension ImageIndex: VersionedDocument {}

/// Decodes a manifest or index (`kind` in messages), refusing another schema version or a
/// declared media type `accepts` does not accept.
func decodeDocument<T: VersionedDocument>(_ type: T.Type, from data: Data, kind: String,
                                          accepts: (String) -> Bool) throws(OCIError) -> T {
    let d = try CanonicalJSON.decode(T.self, from: data, kind: kind)
    guard d.schemaVersion == 2 else {
        throw OCIError.invalidDocument(kind: kind, reason: "schemaVersion \(d.schemaVersion), want 2")
    }
    if let declared = d.mediaType, !accepts(declared) {
        throw OCIError.unsupportedMediaType(declared, expected: "an \(kind)")
    }
    return d
}
