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
        let m = try CanonicalJSON.decode(ImageManifest.self, from: data, kind: "image manifest")
        guard m.schemaVersion == 2 else {
            throw OCIError.invalidDocument(kind: "image manifest", reason: "schemaVersion \(m.schemaVersion), want 2")
        }
        if let declared = m.mediaType, !MediaType.isManifest(declared) {
            throw OCIError.unsupportedMediaType(declared, expected: "an image manifest")
        }
        return m
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
        let i = try CanonicalJSON.decode(ImageIndex.self, from: data, kind: "image index")
        guard i.schemaVersion == 2 else {
            throw OCIError.invalidDocument(kind: "image index", reason: "schemaVersion \(i.schemaVersion), want 2")
        }
        if let declared = i.mediaType, !MediaType.isIndex(declared) {
            throw OCIError.unsupportedMediaType(declared, expected: "an image index")
        }
        return i
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
