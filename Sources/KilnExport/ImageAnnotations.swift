import Foundation
import KilnOCI
import KilnStore

/// `--annotation [TYPE[,TYPE…][PLATFORM]:]KEY=VALUE`, as buildx reads it: annotations for the
/// image manifest (the default), the manifest's descriptor in an index, the index itself, or
/// the index's descriptor in an OCI layout's `index.json`.
public struct ImageAnnotations: Sendable, Equatable {
    /// On the image manifest.
    public var manifest: [String: String] = [:]
    /// On the manifest's descriptor in the image index.
    public var manifestDescriptor: [String: String] = [:]
    /// On the image index.
    public var index: [String: String] = [:]
    /// On the index's descriptor in an OCI layout's `index.json` (OCI outputs only).
    public var indexDescriptor: [String: String] = [:]

    /// No annotations.
    public init() {}

    /// Whether the image needs an index over its manifest (an index-level annotation asks for one).
    public var needsIndex: Bool { !manifestDescriptor.isEmpty || !index.isEmpty || !indexDescriptor.isEmpty }

    /// Parses `specs` for an image built for `platform`; an annotation for another platform
    /// does not apply. A bad value is an error naming it.
    public init(parsing specs: [String], platform: Platform) throws(ExportError) {
        for spec in specs {
            guard let eq = spec.firstIndex(of: "=") else { throw ExportError("invalid --annotation '\(spec)': use [TYPE:]KEY=VALUE") }
            let head = String(spec[..<eq])
            let value = String(spec[spec.index(after: eq)...])
            var types = ["manifest"]
            var key = head
            var only: Platform?
            if let colon = Self.typeSeparator(head) {
                var prefix = String(head[..<colon])
                key = String(head[head.index(after: colon)...])
                if let open = prefix.firstIndex(of: "["), prefix.hasSuffix("]") {
                    let p = String(prefix[prefix.index(after: open)..<prefix.index(before: prefix.endIndex)])
                    do { only = try Platform(parsing: p) } catch { throw ExportError("invalid --annotation '\(spec)': platform \(p): \(error)") }
                    prefix = String(prefix[..<open])
                }
                types = prefix.split(separator: ",").map(String.init)
            }
            guard !key.isEmpty else { throw ExportError("invalid --annotation '\(spec)': the key is empty") }
            if let only, !only.matches(platform) { continue }
            for t in types { try set(type: t, key: key, value: value, spec: spec) }
        }
    }

    /// The colon that ends a type prefix: before the first `=`, after any `[platform]`, and only
    /// when what precedes it names annotation types (keys may hold colons too).
    private static func typeSeparator(_ head: String) -> String.Index? {
        guard let colon = head.firstIndex(of: ":") else { return nil }
        let prefix = head[..<colon]
        let types = (prefix.firstIndex(of: "[").map { prefix[..<$0] } ?? prefix).split(separator: ",")
        return !types.isEmpty && types.allSatisfy { kinds.contains(String($0)) } ? colon : nil
    }

    static let kinds: Set<String> = ["manifest", "manifest-descriptor", "index", "index-descriptor"]

    private mutating func set(type: String, key: String, value: String, spec: String) throws(ExportError) {
        switch type {
        case "manifest": manifest[key] = value
        case "manifest-descriptor": manifestDescriptor[key] = value
        case "index": index[key] = value
        case "index-descriptor": indexDescriptor[key] = value
        default:
            throw ExportError("invalid --annotation '\(spec)': unknown type '\(type)' (use manifest, manifest-descriptor, index or index-descriptor)")
        }
    }
}

/// The documents of an image as pushed or written: its manifest, and over it an index when
/// an annotation asks for one.
public struct ImageDocuments: Sendable {
    /// The manifest's bytes and descriptor.
    public var manifest: (data: Data, descriptor: Descriptor)
    /// The config blob's descriptor, as the manifest lists it.
    public var config: Descriptor
    /// The index's bytes and descriptor, when there is one.
    public var index: (data: Data, descriptor: Descriptor)?

    /// The top document: the index when there is one, else the manifest.
    public var top: (data: Data, descriptor: Descriptor) { index ?? manifest }

    /// The manifest for `chain` and `config` with `annotations` applied, in OCI or Docker
    /// media types (an index is always OCI's; Docker's manifest list carries no annotations).
    public static func make(chain: [CachedLayer], config: Data, platform: Platform, oci: Bool = true,
                            annotations: ImageAnnotations = ImageAnnotations()) throws -> ImageDocuments {
        var m = ImageExporter.manifest(chain: chain, config: config, oci: oci)
        if !annotations.manifest.isEmpty { m.annotations = annotations.manifest }
        let data = try m.encoded()
        let descriptor = Descriptor(mediaType: m.mediaType ?? MediaType.ociManifest, digest: Digest.of(data), size: Int64(data.count))
        guard annotations.needsIndex else { return ImageDocuments(manifest: (data, descriptor), config: m.config, index: nil) }
        var entry = descriptor
        entry.platform = platform
        if !annotations.manifestDescriptor.isEmpty { entry.annotations = annotations.manifestDescriptor }
        let index = ImageIndex(mediaType: MediaType.ociIndex, manifests: [entry], annotations: annotations.index.isEmpty ? nil : annotations.index)
        let indexData = try index.encoded()
        return ImageDocuments(manifest: (data, descriptor), config: m.config,
                              index: (indexData, Descriptor(mediaType: MediaType.ociIndex, digest: Digest.of(indexData), size: Int64(indexData.count))))
    }
}
