import Foundation
import KilnOCI

/// eStargz, as BuildKit writes it (stargz-snapshotter's lossless writer): the tar bytes are kept
/// exactly, but every regular file's content starts a new gzip member and is cut into 4 MiB
/// chunks, each its own member. A TOC (`stargz.index.json`, one tar entry in its own member)
/// lists every entry with the compressed offset of its content, and a 51-byte footer (an
/// empty gzip member whose extra field holds the TOC offset) ends the blob.
public final class EstargzSink: ByteSink, TarWriteObserver {
    /// The TOC entry name.
    public static let tocName = "stargz.index.json"
    /// Content chunk size.
    public static let chunkSize: Int64 = 4 << 20

    private let next: any ByteSink
    private let level: Int
    private var member: GzipMember?
    /// Compressed offset of the current member's start.
    private var memberStart: Int64 = 0
    private var uncompressedHasher = DigestHasher()
    private var uncompressedCount: Int64 = 0
    private var entries: [TOCEntry] = []

    // The regular file whose content is being written.
    private var current: (entry: TarEntry, index: Int, written: Int64, chunkWritten: Int64)?
    private var fileHasher = DigestHasher()
    private var chunkHasher = DigestHasher()

    /// What the writer computed, valid after ``finish()``.
    public private(set) var tocDigest: Digest?
    /// Digest of the whole decompressed stream (TOC entry included): the blob's diffID.
    public private(set) var uncompressedDigest: Digest?
    /// Size of the whole decompressed stream.
    public var uncompressedSize: Int64 { uncompressedCount }

    struct TOCEntry: Encodable {
        var name: String
        var type: String
        var size: Int64?
        var modtime: String?
        var linkName: String?
        var mode: Int64?
        var uid: Int?
        var gid: Int?
        var userName: String?
        var groupName: String?
        var devMajor: Int?
        var devMinor: Int?
        var xattrs: [String: String]?
        var digest: String?
        var offset: Int64?
        var chunkOffset: Int64?
        var chunkSize: Int64?
        var chunkDigest: String?

        enum CodingKeys: String, CodingKey {
            case name, type, size, modtime, linkName, mode, uid, gid, userName, groupName, devMajor, devMinor, xattrs,
                 digest, offset, chunkOffset, chunkSize, chunkDigest
        }
    }

    /// An eStargz writer at gzip `level` emitting into `next`; attach it as the tar writer's
    /// observer and sink.
    public init(next: any ByteSink, level: Int = 6) throws {
        guard gzipLevels.contains(level) else { throw ArchiveError.invalidLevel(codec: "estargz", level: level, range: gzipLevels) }
        self.next = next
        self.level = level
    }

    private var compressedOffset: Int64 { memberStart + (member?.written ?? 0) }

    private func openMember() throws {
        if member == nil {
            member = try GzipMember(next: next, level: level)
        }
    }

    private func closeMember() throws {
        guard let m = member else { return }
        try m.close()
        memberStart += m.written
        member = nil
    }

    /// Starts a new member unless the current one is still empty.
    private func cutMember() throws {
        if let m = member, m.uncompressed == 0 { return }
        try closeMember()
        try openMember()
    }

    // MARK: ByteSink

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        uncompressedHasher.update(bufferPointer: bytes)
        uncompressedCount += Int64(bytes.count)
        try openMember()
        guard var cur = current else {
            try member?.write(bytes)
            return
        }
        var off = 0
        while off < bytes.count {
            if cur.chunkWritten == Self.chunkSize {
                finishChunk(&cur)
                try cutMember()
                startChunk(&cur)
            }
            let n = Int(min(Int64(bytes.count - off), Self.chunkSize - cur.chunkWritten))
            let slice = UnsafeRawBufferPointer(rebasing: bytes[off..<(off + n)])
            try member?.write(slice)
            fileHasher.update(bufferPointer: slice)
            chunkHasher.update(bufferPointer: slice)
            cur.written += Int64(n)
            cur.chunkWritten += Int64(n)
            off += n
        }
        current = cur
    }

    public func finish() throws {
        try closeMember()
        // The TOC: one tar entry in its own member, flushed without end-of-archive blocks.
        let tocOffset = compressedOffset
        let toc = try tocJSON()
        tocDigest = Digest.of(toc)
        let tocMember = try GzipMember(next: next, level: level)
        let header = TarHeader.block(
            name: Array(Self.tocName.utf8), prefix: [], mode: 0o644, uid: 0, gid: 0, size: Int64(toc.count), mtime: 0,
            typeflag: 0x30, linkName: [], userName: [], groupName: [], devMajor: 0, devMinor: 0)
        var tocTar = header + toc
        tocTar += [UInt8](repeating: 0, count: (512 - toc.count % 512) % 512)
        try tocTar.withUnsafeBytes { b in
            uncompressedHasher.update(bufferPointer: b)
            uncompressedCount += Int64(b.count)
            try tocMember.write(b)
        }
        try tocMember.close()
        try next.write(Self.footer(tocOffset: tocOffset))
        uncompressedDigest = uncompressedHasher.finalize()
        try next.finish()
    }

    /// The 51-byte footer: an empty gzip member with extra field `SG` = `%016x` offset + `STARGZ`.
    static func footer(tocOffset: Int64) -> [UInt8] {
        var f: [UInt8] = [0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0x00, 0xff, 26, 0, 0x53, 0x47, 22, 0]
        f += Array(String(format: "%016x", tocOffset).utf8) + Array("STARGZ".utf8)
        f += [0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]
        return f
    }

    /// Parses a footer: the TOC offset, or `nil` when these 51 bytes are not one.
    public static func parseFooter(_ f: [UInt8]) -> Int64? {
        guard f.count == 51, f[0] == 0x1f, f[1] == 0x8b, f[3] & 0x04 != 0, f[12] == 0x53, f[13] == 0x47,
              Array(f[32..<38]) == Array("STARGZ".utf8)
        else { return nil }
        return Int64(String(decoding: f[16..<32], as: UTF8.self), radix: 16)
    }

    // MARK: TarWriteObserver

    public func willWriteHeader(_ entry: TarEntry) throws {
        var e = TOCEntry(name: entry.path, type: Self.tocType(entry.kind))
        e.modtime = Timestamp.rfc3339(entry.mtime)
        e.mode = Int64(entry.mode)
        e.uid = entry.uid == 0 ? nil : entry.uid
        e.gid = entry.gid == 0 ? nil : entry.gid
        e.userName = entry.userName.isEmpty ? nil : entry.userName
        e.groupName = entry.groupName.isEmpty ? nil : entry.groupName
        if entry.kind == .symlink || entry.kind == .hardlink { e.linkName = entry.linkName }
        if entry.kind == .characterDevice || entry.kind == .blockDevice {
            e.devMajor = Int(entry.devMajor)
            e.devMinor = Int(entry.devMinor)
        }
        if !entry.xattrs.isEmpty { e.xattrs = entry.xattrs.mapValues { Data($0).base64EncodedString() } }
        if entry.kind == .regular { e.size = entry.size }
        entries.append(e)
    }

    public func willWriteContent(_ entry: TarEntry) throws {
        try openMember()
        try cutMember()
        var cur = (entry: entry, index: entries.count - 1, written: Int64(0), chunkWritten: Int64(0))
        fileHasher = DigestHasher()
        startChunk(&cur)
        current = cur
    }

    public func didWriteContent(_ entry: TarEntry) throws {
        guard var cur = current else { return }
        finishChunk(&cur)
        entries[cur.index].digest = fileHasher.finalize().description
        current = nil
        try cutMember()
    }

    public func willFinish() throws {}

    private func startChunk(_ cur: inout (entry: TarEntry, index: Int, written: Int64, chunkWritten: Int64)) {
        chunkHasher = DigestHasher()
        cur.chunkWritten = 0
        if cur.written > 0 {
            entries.append(TOCEntry(name: cur.entry.path, type: "chunk"))
        }
        let i = cur.written == 0 ? cur.index : entries.count - 1
        // The chunk starts a fresh member: its offset is where that member begins.
        entries[i].offset = memberStart
        entries[i].chunkOffset = cur.written
    }

    private func finishChunk(_ cur: inout (entry: TarEntry, index: Int, written: Int64, chunkWritten: Int64)) {
        let i = cur.written == cur.chunkWritten ? cur.index : entries.count - 1
        if cur.entry.size > Self.chunkSize { entries[i].chunkSize = cur.chunkWritten }
        entries[i].chunkDigest = chunkHasher.finalize().description
    }

    private func tocJSON() throws -> [UInt8] {
        struct TOC: Encodable {
            var version = 1
            var entries: [TOCEntry]
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Go's MarshalIndent uses tabs; Foundation indents with two spaces. Either parses.
        return Array(try enc.encode(TOC(entries: entries)))
    }

    private static func tocType(_ k: TarEntry.Kind) -> String {
        switch k {
        case .regular: "reg"
        case .directory: "dir"
        case .symlink: "symlink"
        case .hardlink: "hardlink"
        case .characterDevice: "char"
        case .blockDevice: "block"
        case .fifo: "fifo"
        }
    }

}
