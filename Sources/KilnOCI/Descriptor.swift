/// A reference to content by digest, with its size and media type (OCI image spec, descriptor).
public struct Descriptor: Hashable, Sendable, Codable {
    /// Media type of the referenced content.
    public var mediaType: String
    /// Digest of the referenced bytes.
    public var digest: Digest
    /// Size of the referenced bytes.
    public var size: Int64
    /// Other places the content may be fetched from (non-distributable layers).
    public var urls: [String]?
    /// Free-form annotations.
    public var annotations: [String: String]?
    /// Platform of a manifest listed in an index.
    public var platform: Platform?
    /// Artifact type of the referenced manifest.
    public var artifactType: String?
    /// Embedded content, base64-encoded.
    public var data: String?

    /// A descriptor with the required fields and any optional ones.
    public init(
        mediaType: String, digest: Digest, size: Int64, urls: [String]? = nil,
        annotations: [String: String]? = nil, platform: Platform? = nil, artifactType: String? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.urls = urls
        self.annotations = annotations
        self.platform = platform
        self.artifactType = artifactType
    }

    /// Decodes a descriptor; a negative size is refused.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType) ?? ""
        digest = try c.decode(Digest.self, forKey: .digest)
        size = try c.decode(Int64.self, forKey: .size)
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "negative size")
        }
        urls = try c.decodeIfPresent([String].self, forKey: .urls)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
        platform = try c.decodeIfPresent(Platform.self, forKey: .platform)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        data = try c.decodeIfPresent(String.self, forKey: .data)
    }
}
