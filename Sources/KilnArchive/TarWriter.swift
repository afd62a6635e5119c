/// Hooks for writers that need entry boundaries in the tar byte stream (eStargz).
public protocol TarWriteObserver: AnyObject {
    /// The header blocks of `entry` are about to be written.
    func willWriteHeader(_ entry: TarEntry) throws
    /// The content of `entry` (a regular file with content) is about to be written.
    func willWriteContent(_ entry: TarEntry) throws
    /// The content of `entry` has been written (padding not yet).
    func didWriteContent(_ entry: TarEntry) throws
    /// The end-of-archive blocks are about to be written.
    func willFinish() throws
}

/// A streaming POSIX tar writer (ustar headers, PAX extended headers where ustar cannot hold a
/// field). It writes exactly what it is given in the order given; ``LayerPacker`` sorts.
///
/// Deterministic by construction: no atime/ctime, whole-second mtimes, fixed PAX header names,
/// PAX records in sorted key order.
public final class TarWriter {
    private let sink: any ByteSink
    /// Told about entry boundaries, if set.
    public weak var observer: (any TarWriteObserver)?
    private var pendingContent: (entry: TarEntry, remaining: Int64)?
    /// Bytes written so far.
    public private(set) var offset: Int64 = 0

    /// A writer emitting into `sink`.
    public init(sink: any ByteSink) { self.sink = sink }

    /// Writes the header of `entry`; a regular file's `size` bytes must follow through
    /// ``writeContent(_:)`` or ``writeContent(from:)``.
    public func writeHeader(_ entry: TarEntry) throws {
        guard pendingContent == nil else { throw ArchiveError.malformedTar("previous entry's content is incomplete") }
        guard !entry.path.isEmpty else { throw ArchiveError.malformedTar("empty entry name") }
        try observer?.willWriteHeader(entry)
        var name = Array(entry.path.utf8)
        if entry.kind == .directory && name.last != 0x2f { name.append(0x2f) }
        let link = Array(entry.linkName.utf8)
        let size = entry.kind == .regular ? entry.size : 0

        var pax: [(String, [UInt8])] = []
        var prefix: [UInt8] = []
        var shortName = name
        if let split = TarHeader.splitUSTAR(name), entry.path.utf8.allSatisfy({ $0 < 0x80 }) {
            prefix = split.prefix
            shortName = split.name
        } else {
            pax.append(("path", name))
            shortName = Array(name.suffix(100))
        }
        if link.count > 100 || !link.allSatisfy({ $0 < 0x80 }) { pax.append(("linkpath", link)) }
        if size > TarHeader.octalLimit(12) { pax.append(("size", Array(String(size).utf8))) }
        if Int64(entry.uid) > TarHeader.octalLimit(8) { pax.append(("uid", Array(String(entry.uid).utf8))) }
        if Int64(entry.gid) > TarHeader.octalLimit(8) { pax.append(("gid", Array(String(entry.gid).utf8))) }
        if entry.mtime < 0 || entry.mtime > TarHeader.octalLimit(12) { pax.append(("mtime", Array(String(entry.mtime).utf8))) }
        if entry.userName.utf8.count > 32 { pax.append(("uname", Array(entry.userName.utf8))) }
        if entry.groupName.utf8.count > 32 { pax.append(("gname", Array(entry.groupName.utf8))) }
        for (k, v) in entry.xattrs { pax.append(("SCHILY.xattr." + k, v)) }

        if !pax.isEmpty {
            pax.sort { $0.0 < $1.0 }
            let records = pax.flatMap { TarHeader.paxRecord($0.0, $0.1) }
            // Go's archive/tar naming, so a pax header looks the same whoever wrote it.
            let base = entry.path.split(separator: "/").last.map(String.init) ?? "entry"
            let dir = entry.path.split(separator: "/").dropLast().joined(separator: "/")
            let paxName = Array(((dir.isEmpty ? "" : dir + "/") + "PaxHeaders.0/" + base).utf8.prefix(100))
            let header = TarHeader.block(
                name: paxName, prefix: [], mode: 0o644, uid: 0, gid: 0, size: Int64(records.count), mtime: 0,
                typeflag: 0x78, linkName: [], userName: [], groupName: [], devMajor: 0, devMinor: 0)
            try emit(header)
            try emit(records)
            try pad(Int64(records.count))
        }
        let header = TarHeader.block(
            name: shortName, prefix: prefix, mode: entry.mode, uid: entry.uid, gid: entry.gid, size: size,
            mtime: entry.mtime, typeflag: entry.kind.typeflag, linkName: Array(link.prefix(100)),
            userName: Array(entry.userName.utf8.prefix(32)), groupName: Array(entry.groupName.utf8.prefix(32)),
            devMajor: entry.devMajor, devMinor: entry.devMinor)
        try emit(header)
        if size > 0 {
            pendingContent = (entry, size)
            try observer?.willWriteContent(entry)
        }
    }

    /// Writes part of the current entry's content.
    public func writeContent(_ bytes: UnsafeRawBufferPointer) throws {
        guard var pending = pendingContent else { throw ArchiveError.malformedTar("content written without a regular-file header") }
        guard Int64(bytes.count) <= pending.remaining else {
            throw ArchiveError.malformedTar("\(pending.entry.path): more content than its declared size")
        }
        try sink.write(bytes)
        offset += Int64(bytes.count)
        pending.remaining -= Int64(bytes.count)
        if pending.remaining == 0 {
            pendingContent = nil
            try observer?.didWriteContent(pending.entry)
            try pad(pending.entry.size)
        } else {
            pendingContent = pending
        }
    }

    /// Streams the current entry's whole content from `source`, which must hold exactly `size` bytes.
    public func writeContent(from source: any ByteSource) throws {
        guard let pending = pendingContent else { return }
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buf.deallocate() }
        var remaining = pending.remaining
        while remaining > 0 {
            let want = Int(min(Int64(buf.count), remaining))
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<want]))
            guard n > 0 else {
                throw ArchiveError.malformedTar("\(pending.entry.path): file shrank while being archived")
            }
            try writeContent(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            remaining -= Int64(n)
        }
    }

    /// Writes the two zero blocks that end an archive and finishes the sink.
    public func finish() throws {
        guard pendingContent == nil else { throw ArchiveError.malformedTar("last entry's content is incomplete") }
        try observer?.willFinish()
        try emit([UInt8](repeating: 0, count: 2 * TarHeader.blockSize))
        try sink.finish()
    }

    private func emit(_ bytes: [UInt8]) throws {
        try sink.write(bytes)
        offset += Int64(bytes.count)
    }

    private func pad(_ size: Int64) throws {
        let rem = Int(size % Int64(TarHeader.blockSize))
        if rem != 0 { try emit([UInt8](repeating: 0, count: TarHeader.blockSize - rem)) }
    }
}
