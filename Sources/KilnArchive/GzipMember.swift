import CZlib

/// One gzip member written incrementally with single-stream zlib (eStargz writes many).
final class GzipMember {
    private var strm = z_stream()
    private var out = [UInt8](repeating: 0, count: 256 << 10)
    private var crc: UInt = CZlib.crc32(0, nil, 0)
    private var total: UInt64 = 0
    private let next: any ByteSink
    /// Compressed bytes emitted by this member so far (header included).
    private(set) var written: Int64 = 0
    /// Uncompressed bytes fed.
    var uncompressed: UInt64 { total }

    init(next: any ByteSink, level: Int) throws {
        self.next = next
        let rc = deflateInit2_(&strm, Int32(level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw ArchiveError.corruptData("deflateInit2 failed (\(rc))") }
        try emit(gzipHeader[...])
    }

    deinit { deflateEnd(&strm) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        crc = zlibCRC(crc, bytes)
        total &+= UInt64(bytes.count)
        strm.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: Bytef.self))
        strm.avail_in = uInt(bytes.count)
        while strm.avail_in > 0 { try run(Z_NO_FLUSH) }
    }

    func close() throws {
        strm.next_in = nil
        strm.avail_in = 0
        while try run(Z_FINISH) != Z_STREAM_END {}
        var trailer = [UInt8](repeating: 0, count: 8)
        for i in 0..<4 {
            trailer[i] = UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: crc) >> (8 * i))
            trailer[4 + i] = UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: total) >> (8 * i))
        }
        try emit(trailer[...])
    }

    @discardableResult
    private func run(_ flush: Int32) throws -> Int32 {
        let count = out.count
        let (rc, produced): (Int32, Int) = out.withUnsafeMutableBytes { o in
            strm.next_out = o.baseAddress!.assumingMemoryBound(to: Bytef.self)
            strm.avail_out = uInt(count)
            let r = deflate(&strm, flush)
            return (r, count - Int(strm.avail_out))
        }
        guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else { throw ArchiveError.corruptData("deflate failed (\(rc))") }
        if produced > 0 { try emit(out[0..<produced]) }
        return rc
    }

    private func emit(_ bytes: ArraySlice<UInt8>) throws {
        try bytes.withUnsafeBytes { try next.write($0) }
        written += Int64(bytes.count)
    }
}
