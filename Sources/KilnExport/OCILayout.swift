import Foundation
import KilnArchive
import KilnOCI
import KilnSystem

/// Where an OCI image layout is written: a directory (a local cache) or a tar stream (an `oci`
/// image output).
public protocol LayoutSink {
    /// Adds the file `path` holding `data`.
    func add(_ path: String, data: Data) throws
    /// Adds the file `path` with the bytes of the file at `source` (`size` of them).
    func add(_ path: String, copying source: String, size: Int64) throws
    /// Adds the directory `path` (tar streams list directories; directories make them).
    func addDirectory(_ path: String) throws
    /// Whether `path` is already there (a directory layout written again keeps its blobs).
    func contains(_ path: String) -> Bool
}

/// An OCI image layout: `oci-layout`, `index.json` naming one manifest (or index), and every
/// blob under `blobs/<algorithm>/<hex>`.
public enum OCILayout {
    /// A blob to write: its digest and where its bytes are (a file, or in memory).
    public enum Blob: Sendable {
        /// Bytes in a file of `size` bytes.
        case file(Digest, path: String, size: Int64)
        /// Bytes in memory.
        case data(Data)
    }

    /// Writes the layout: `top` is listed in `index.json` (with `annotations`), `blobs` — the
    /// top document among them — under `blobs/`.
    public static func write(to sink: any LayoutSink, top: Descriptor, annotations: [String: String]?, blobs: [Blob]) throws {
        var listed = top
        listed.annotations = annotations
        try sink.add("oci-layout", data: Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try sink.add("index.json", data: try ImageIndex(manifests: [listed]).encoded())
        try sink.addDirectory("blobs")
        var made: Set<String> = []
        for blob in blobs {
            let digest: Digest
            switch blob {
            case .file(let d, _, _): digest = d
            case .data(let d): digest = Digest.of(d)
            }
            let dir = "blobs/" + digest.algorithm.rawValue
            if made.insert(dir).inserted { try sink.addDirectory(dir) }
            let path = dir + "/" + digest.encoded
            if sink.contains(path) { continue }
            switch blob {
            case .file(_, let source, let size): try sink.add(path, copying: source, size: size)
            case .data(let data): try sink.add(path, data: data)
            }
        }
    }
}

/// A layout written into a directory; files appear by rename, so a reader never sees half a blob.
public struct DirectoryLayoutSink: LayoutSink {
    /// The layout's directory.
    public let root: String

    /// A sink writing under `root` (created when missing).
    public init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    public func add(_ path: String, data: Data) throws {
        try data.write(to: URL(fileURLWithPath: FSPath.under(root, path)), options: .atomic)
    }

    public func add(_ path: String, copying source: String, size: Int64) throws {
        let target = FSPath.under(root, path)
        let partial = target + ".part"
        try? FileManager.default.removeItem(atPath: partial)
        try FileManager.default.copyItem(atPath: source, toPath: partial)
        guard rename(partial, target) == 0 else { throw ExportError("\(target): \(errnoText(errno))") }
    }

    public func addDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: FSPath.under(root, path), withIntermediateDirectories: true)
    }

    public func contains(_ path: String) -> Bool { FileManager.default.fileExists(atPath: FSPath.under(root, path)) }
}

/// A layout written as entries of a tar stream.
public struct TarLayoutSink: LayoutSink {
    let writer: TarWriter

    /// A sink adding entries to `writer`.
    public init(writer: TarWriter) { self.writer = writer }

    public func add(_ path: String, data: Data) throws {
        try writer.writeHeader(TarEntry(path: path, kind: .regular, mode: 0o644, size: Int64(data.count)))
        try Array(data).withUnsafeBytes { try writer.writeContent($0) }
    }

    public func add(_ path: String, copying source: String, size: Int64) throws {
        try writer.writeHeader(TarEntry(path: path, kind: .regular, mode: 0o644, size: size))
        try writer.writeContent(from: FileSource(path: source))
    }

    public func addDirectory(_ path: String) throws {
        try writer.writeHeader(TarEntry(path: path, kind: .directory, mode: 0o755))
    }

    public func contains(_ path: String) -> Bool { false }
}
