import CZstd

/// zstd levels accepted (0 means libzstd's default, 3).
public let zstdLevels: ClosedRange<Int> = 0...22

/// zstd compression through libzstd, with a content checksum. Two worker threads and a fixed
/// job size always, so the bytes do not depend on the machine's core count.
public final class ZstdSink: ByteSink {
    private let next: any ByteSink
    private let cctx: OpaquePointer
    private var out: UnsafeMutableRawBufferPointer
    private var finished = false

    /// A compressor at `level` (0–22).
    public init(next: any ByteSink, level: Int = 3) throws {
        guard zstdLevels.contains(level) else { throw ArchiveError.invalidLevel(codec: "zstd", level: level, range: zstdLevels) }
        guard let c = ZSTD_createCCtx() else { throw ArchiveError.corruptData("ZSTD_createCCtx failed") }
        cctx = c
        self.next = next
        out = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, Int32(level))
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, 2)
        // libzstd's default job size (4 windows) buffers ~100 MB across jobs in flight; 2 MiB
        // jobs keep memory flat at a small cost in ratio.
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_jobSize, 2 << 20)
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        out.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
        try next.finish()
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ op: ZSTD_EndDirective) throws -> Int {
        var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
        let rc = ZSTD_compressStream2(cctx, &output, &input, op)
        if ZSTD_isError(rc) != 0 { throw ArchiveError.corruptData("zstd: \(String(cString: ZSTD_getErrorName(rc)))") }
        if output.pos > 0 { try next.write(UnsafeRawBufferPointer(rebasing: out[0..<output.pos])) }
        return rc
    }
}

/// Decompresses a zstd stream (any number of frames).
public final class ZstdSource: ByteSource {
    private let source: any ByteSource
    private let dctx: OpaquePointer
    private var input: UnsafeMutableRawBufferPointer
    private var inBuf: ZSTD_inBuffer
    private var inputEOF = false
    private var frameOpen = false

    /// A decompressor reading from `source`.
    public init(source: any ByteSource) throws {
        guard let d = ZSTD_createDCtx() else { throw ArchiveError.corruptData("ZSTD_createDCtx failed") }
        dctx = d
        self.source = source
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_DStreamInSize(), alignment: 16)
        inBuf = ZSTD_inBuffer(src: input.baseAddress, size: 0, pos: 0)
    }

    deinit {
        ZSTD_freeDCtx(dctx)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if inBuf.pos == inBuf.size && !inputEOF {
                let n = try source.read(into: input)
                if n == 0 { inputEOF = true } else { inBuf = ZSTD_inBuffer(src: input.baseAddress, size: n, pos: 0) }
            }
            if inBuf.pos == inBuf.size && inputEOF {
                if frameOpen { throw ArchiveError.corruptData("zstd stream truncated") }
                return 0
            }
            var output = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let rc = ZSTD_decompressStream(dctx, &output, &inBuf)
            if ZSTD_isError(rc) != 0 { throw ArchiveError.corruptData("zstd: \(String(cString: ZSTD_getErrorName(rc)))") }
            frameOpen = rc != 0
            if output.pos > 0 { return output.pos }
        }
    }
}
