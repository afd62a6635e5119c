/// A streaming tar reader: ustar, PAX (`x`, `g`), GNU long names (`L`, `K`) and GNU base-256
/// numbers. Call ``next()`` for each entry; read its content with ``readContent(into:)`` (or
/// leave it — the next call skips what is left).
public final class TarReader {
    private let source: any ByteSource
    private var remaining: Int64 = 0
    private var padding: Int64 = 0
    private var globalPAX: [String: [UInt8]] = [:]
    private var finished = false

    /// A reader over `source`.
    public init(source: any ByteSource) { self.source = source }

    /// The next entry, or `nil` at the end of the archive.
    public func next() throws -> TarEntry? {
        if finished { return nil }
        try skip(remaining + padding)
        remaining = 0
        padding = 0
        var pax: [String: [UInt8]] = [:]
        var longName: [UInt8]?
        var longLink: [UInt8]?
        while true {
            guard let block = try readBlock() else {
                finished = true
                return nil
            }
            if block.allSatisfy({ $0 == 0 }) {
                // End of archive (one zero block is enough; a second may follow).
                finished = true
                return nil
            }
            try TarHeader.verifyChecksum(block)
            let typeflag = block[156]
            var size = try TarHeader.parseNumber(block[124..<136])
            if let s = pax["size"].flatMap({ Int64(String(decoding: $0, as: UTF8.self)) }) { size = s }
            guard size >= 0 else { throw ArchiveError.malformedTar("negative size") }
            switch typeflag {
            case 0x78, 0x67:  // x: PAX for the next entry, g: global PAX
                guard size <= 16 << 20 else { throw ArchiveError.malformedTar("PAX header too large") }
                let data = try readPadded(Int(size))
                for (k, v) in try TarHeader.parsePAX(data) {
                    if typeflag == 0x78 { pax[k] = v } else { globalPAX[k] = v }
                }
                continue
            case 0x4c, 0x4b:  // GNU long name / long link
                guard size <= 1 << 20 else { throw ArchiveError.malformedTar("GNU long name too large") }
                let data = TarHeader.parseString(try readPadded(Int(size))[...])
                if typeflag == 0x4c { longName = data } else { longLink = data }
                continue
            default:
                break
            }
            let merged = globalPAX.merging(pax) { _, b in b }
            let entry = try makeEntry(block, size: size, pax: merged, longName: longName, longLink: longLink)
            // Links, directories, devices and fifos carry no data whatever their size field says.
            let dataSize = entry.kind == .regular ? size : 0
            remaining = dataSize
            padding = (TarHeader.blockSizeI64 - dataSize % TarHeader.blockSizeI64) % TarHeader.blockSizeI64
            return entry
        }
    }

    /// Reads content of the current entry; 0 at its end.
    public func readContent(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0 else { return 0 }
        let want = Int(min(Int64(buffer.count), remaining))
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
        guard n > 0 else { throw ArchiveError.malformedTar("archive ends inside an entry's content") }
        remaining -= Int64(n)
        return n
    }

    /// The current entry's content as a byte source.
    public var content: any ByteSource { ContentSource(reader: self) }

    private final class ContentSource: ByteSource {
        let reader: TarReader
        init(reader: TarReader) { self.reader = reader }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try reader.readContent(into: buffer) }
    }

    private func makeEntry(_ b: [UInt8], size: Int64, pax: [String: [UInt8]], longName: [UInt8]?, longLink: [UInt8]?) throws -> TarEntry {
        func str(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        let magic = b[257..<263]
        var name = TarHeader.parseString(b[0..<100])
        if Array(magic) == Array("ustar\0".utf8) || Array(magic.prefix(5)) == Array("ustar".utf8) {
            let prefix = TarHeader.parseString(b[345..<500])
            if !prefix.isEmpty && Array(b[257..<263]) == Array("ustar\0".utf8) { name = prefix + [0x2f] + name }
        }
        if let longName { name = longName }
        if let p = pax["path"] { name = p }
        var link = TarHeader.parseString(b[157..<257])
        if let longLink { link = longLink }
        if let p = pax["linkpath"] { link = p }

        let typeflag = b[156]
        let kind: TarEntry.Kind
        switch typeflag {
        case 0x30, 0, 0x37: kind = .regular
        case 0x31: kind = .hardlink
        case 0x32: kind = .symlink
        case 0x33: kind = .characterDevice
        case 0x34: kind = .blockDevice
        case 0x35: kind = .directory
        case 0x36: kind = .fifo
        default: throw ArchiveError.unsupported("tar entry type '\(Character(UnicodeScalar(typeflag)))' for \(str(name))")
        }
        var path = str(name)
        while path.hasSuffix("/") && path.count > 1 { path.removeLast() }
        if kind == .regular && name.last == 0x2f && typeflag == 0 { return try makeDir(b, path: path, pax: pax) }
        var uid = Int(try TarHeader.parseNumber(b[108..<116]))
        var gid = Int(try TarHeader.parseNumber(b[116..<124]))
        var mtime = try TarHeader.parseNumber(b[136..<148])
        if let v = pax["uid"].flatMap({ Int(str($0)) }) { uid = v }
        if let v = pax["gid"].flatMap({ Int(str($0)) }) { gid = v }
        if let v = pax["mtime"].flatMap({ Double(str($0)) }) { mtime = Int64(v.rounded(.down)) }
        var xattrs: [String: [UInt8]] = [:]
        for (k, v) in pax where k.hasPrefix("SCHILY.xattr.") { xattrs[String(k.dropFirst("SCHILY.xattr.".count))] = v }
        return TarEntry(
            path: path, kind: kind, mode: UInt32(try TarHeader.parseNumber(b[100..<108]) & 0o7777), uid: uid, gid: gid,
            size: kind == .regular ? size : 0, mtime: mtime, linkName: str(link),
            devMajor: UInt32(truncatingIfNeeded: try TarHeader.parseNumber(b[329..<337])),
            devMinor: UInt32(truncatingIfNeeded: try TarHeader.parseNumber(b[337..<345])),
            xattrs: xattrs,
            userName: pax["uname"].map(str) ?? str(TarHeader.parseString(b[265..<297])),
            groupName: pax["gname"].map(str) ?? str(TarHeader.parseString(b[297..<329])))
    }

    private func makeDir(_ b: [UInt8], path: String, pax: [String: [UInt8]]) throws -> TarEntry {
        TarEntry(path: path, kind: .directory, mode: UInt32(try TarHeader.parseNumber(b[100..<108]) & 0o7777),
                 uid: Int(try TarHeader.parseNumber(b[108..<116])), gid: Int(try TarHeader.parseNumber(b[116..<124])),
                 mtime: try TarHeader.parseNumber(b[136..<148]))
    }

    private func readBlock() throws -> [UInt8]? {
        var block = [UInt8](repeating: 0, count: TarHeader.blockSize)
        var filled = 0
        while filled < block.count {
            let n = try block.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            if n == 0 {
                if filled == 0 { return nil }
                throw ArchiveError.malformedTar("archive ends inside a header")
            }
            filled += n
        }
        return block
    }

    private func readPadded(_ size: Int) throws -> [UInt8] {
        let data = try source.readExactly(size)
        let pad = (TarHeader.blockSize - size % TarHeader.blockSize) % TarHeader.blockSize
        if pad > 0 { _ = try source.readExactly(pad) }
        return data
    }

    private func skip(_ count: Int64) throws {
        guard count > 0 else { return }
        var left = count
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buf.deallocate() }
        while left > 0 {
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<Int(min(left, Int64(buf.count)))]))
            guard n > 0 else { throw ArchiveError.malformedTar("archive ends inside an entry's content") }
            left -= Int64(n)
        }
    }
}

extension TarHeader {
    static let blockSizeI64 = Int64(blockSize)
}
