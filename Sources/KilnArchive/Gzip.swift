import CZlib
import Dispatch

/// gzip levels zlib accepts.
public let gzipLevels: ClosedRange<Int> = 0...9

/// The 10-byte gzip header Kiln writes: no file name, no time, OS "unknown" (as Go writes).
let gzipHeader: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]

func zlibCRC(_ crc: UInt, _ bytes: UnsafeRawBufferPointer) -> UInt {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
    var c = crc
    var off = 0
    while off < bytes.count {
        let n = min(bytes.count - off, Int(UInt32.max / 2))
        c = CZlib.crc32(c, base.assumingMemoryBound(to: Bytef.self) + off, uInt(n))
        off += n
    }
    return c
}

/// Raw-deflates `input` (primed with `dictionary`), ending with a sync flush or, for the last
/// block, the final block marker.
func deflateBlock(_ input: UnsafeRawBufferPointer, dictionary: [UInt8], level: Int, last: Bool) throws -> [UInt8] {
    var strm = z_stream()
    let rc = deflateInit2_(&strm, Int32(level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    guard rc == Z_OK else { throw ArchiveError.corruptData("deflateInit2 failed (\(rc))") }
    defer { deflateEnd(&strm) }
    if !dictionary.isEmpty {
        _ = dictionary.withUnsafeBytes { d in
            deflateSetDictionary(&strm, d.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(d.count))
        }
    }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&strm, uLong(input.count))) + 64)
    var produced = 0
    strm.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
    strm.avail_in = uInt(input.count)
    while true {
        if produced == out.count { out.append(contentsOf: [UInt8](repeating: 0, count: max(1024, out.count / 2))) }
        let flushed: Int32 = try out.withUnsafeMutableBytes { o in
            strm.next_out = o.baseAddress!.assumingMemoryBound(to: Bytef.self) + produced
            strm.avail_out = uInt(o.count - produced)
            let r = deflate(&strm, last ? Z_FINISH : Z_SYNC_FLUSH)
            produced = o.count - Int(strm.avail_out)
            guard r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR else { throw ArchiveError.corruptData("deflate failed (\(r))") }
            return r
        }
        if last ? flushed == Z_STREAM_END : (strm.avail_in == 0 && strm.avail_out > 0) { break }
    }
    out.removeSubrange(produced...)
    return out
}

/// gzip compression that scales with cores and whose output does not depend on their number.
///
/// The input is cut into fixed 128 KiB blocks; each is raw-deflated on its own (primed with the
/// previous 32 KiB of input, as pigz does, so the ratio stays within a fraction of a percent of
/// single-stream zlib) and ended with a sync flush; the blocks are joined in order into one
/// gzip member with the CRC of the whole input. Block boundaries depend only on the data, so the
/// bytes are the same with 1 worker or 64.
public final class GzipSink: ByteSink {
    static let blockSize = 128 * 1024
    static let window = 32 * 1024

    private let next: any ByteSink
    private let level: Int
    private let maxInFlight: Int
    private let parallel: Bool
    private var block: [UInt8] = []
    private var dictionary: [UInt8] = []
    private var crc: UInt = CZlib.crc32(0, nil, 0)
    private var total: UInt64 = 0
    private var inFlight: [Job] = []
    private var headerWritten = false
    private var finished = false

    private final class Job: @unchecked Sendable {
        // Written by one worker, read by the owner only after `done` is signalled.
        let done = DispatchSemaphore(value: 0)
        var output: [UInt8] = []
        var error: (any Error)?
    }

    /// A compressor at `level` (0–9) with `workers` blocks in flight at once.
    public init(next: any ByteSink, level: Int = 6, workers: Int = defaultWorkers) throws {
        guard gzipLevels.contains(level) else { throw ArchiveError.invalidLevel(codec: "gzip", level: level, range: gzipLevels) }
        self.next = next
        self.level = level
        self.maxInFlight = max(1, workers) * 2
        self.parallel = workers > 1
        block.reserveCapacity(Self.blockSize)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        crc = zlibCRC(crc, bytes)
        total &+= UInt64(bytes.count)
        var off = 0
        while off < bytes.count {
            let n = min(Self.blockSize - block.count, bytes.count - off)
            block.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[off..<(off + n)]))
            off += n
            if block.count == Self.blockSize { try submit(last: false) }
        }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        try submit(last: true)
        while !inFlight.isEmpty { try drainOldest() }
        var trailer = [UInt8](repeating: 0, count: 8)
        for i in 0..<4 {
            trailer[i] = UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: crc) >> (8 * i))
            trailer[4 + i] = UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: total) >> (8 * i))
        }
        try next.write(trailer)
        try next.finish()
    }

    private func submit(last: Bool) throws {
        if !headerWritten {
            headerWritten = true
            try next.write(gzipHeader)
        }
        let input = block
        let dict = dictionary
        dictionary = Array(input.suffix(Self.window))
        if dictionary.count < Self.window && !dict.isEmpty {
            dictionary = Array((dict + dictionary).suffix(Self.window))
        }
        block.removeAll(keepingCapacity: true)
        if !parallel {
            try next.write(try input.withUnsafeBytes { try deflateBlock($0, dictionary: dict, level: self.level, last: last) })
            return
        }
        let job = Job()
        let level = self.level
        inFlight.append(job)
        DispatchQueue.global().async {
            do {
                job.output = try input.withUnsafeBytes { try deflateBlock($0, dictionary: dict, level: level, last: last) }
            } catch {
                job.error = error
            }
            job.done.signal()
        }
        if inFlight.count >= maxInFlight { try drainOldest() }
    }

    private func drainOldest() throws {
        let job = inFlight.removeFirst()
        job.done.wait()
        if let e = job.error { throw e }
        try next.write(job.output)
    }

    /// Workers used by default: the machine's cores.
    public static var defaultWorkers: Int { max(1, sysconfCPUs()) }
}

func sysconfCPUs() -> Int {
    #if canImport(Glibc)
    return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    #else
    return 1
    #endif
}

#if canImport(Glibc)
import Glibc
#endif

/// Decompresses a gzip stream of one or more members (eStargz blobs are many), checking each
/// member's CRC and length.
public final class GunzipSource: ByteSource {
    private let source: any ByteSource
    private var strm = z_stream()
    private var input: UnsafeMutableRawBufferPointer
    private var inputEOF = false
    private var streamEnded = false
    private var started = false

    /// A decompressor reading from `source`.
    public init(source: any ByteSource) throws {
        self.source = source
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        let rc = inflateInit2_(&strm, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw ArchiveError.corruptData("inflateInit2 failed (\(rc))") }
    }

    deinit {
        inflateEnd(&strm)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if strm.avail_in == 0 && !inputEOF {
                let n = try source.read(into: input)
                if n == 0 { inputEOF = true } else {
                    strm.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    strm.avail_in = uInt(n)
                }
            }
            if streamEnded {
                // Another member may follow; anything else after a member is an error.
                if strm.avail_in == 0 && inputEOF { return 0 }
                if strm.avail_in == 0 { continue }
                inflateReset(&strm)
                streamEnded = false
            }
            if strm.avail_in == 0 && inputEOF {
                if !started { return 0 }
                throw ArchiveError.corruptData("gzip stream truncated")
            }
            started = true
            strm.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            strm.avail_out = uInt(buffer.count)
            let rc = inflate(&strm, Z_NO_FLUSH)
            let produced = buffer.count - Int(strm.avail_out)
            switch rc {
            case Z_STREAM_END: streamEnded = true
            case Z_OK, Z_BUF_ERROR: break
            default:
                let msg = strm.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw ArchiveError.corruptData("gzip: \(msg)")
            }
            if produced > 0 { return produced }
        }
    }
}
