#if canImport(Glibc)
import Glibc
#endif
import KilnOCI

/// Where a streaming stage writes bytes. Stages chain: tar → diffID hasher → compressor →
/// blob hasher → file. Stages are synchronous; callers run pipelines on a blocking-I/O thread.
public protocol ByteSink: AnyObject {
    /// Consumes bytes.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes everything and finishes the stream (and the stages below it).
    func finish() throws
}

extension ByteSink {
    /// Writes a byte array.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Where a streaming stage reads bytes from.
public protocol ByteSource: AnyObject {
    /// Fills up to `buffer.count` bytes; 0 means the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Reads exactly `count` bytes, failing at a premature end.
    public func readExactly(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = try out.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            guard n > 0 else { throw ArchiveError.malformedTar("unexpected end of stream") }
            filled += n
        }
        return out
    }

    /// Copies everything to `sink` (without finishing it); returns the byte count.
    @discardableResult
    public func copy(to sink: any ByteSink, bufferSize: Int = 1 << 20) throws -> Int64 {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buf.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try read(into: buf)
            if n == 0 { return total }
            try sink.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            total += Int64(n)
        }
    }
}

/// Passes bytes through while hashing and counting them.
public final class DigestingSink: ByteSink {
    private var hasher = DigestHasher()
    private let next: (any ByteSink)?
    /// Bytes seen.
    public private(set) var count: Int64 = 0
    private var final: Digest?

    /// A hasher in front of `next` (or a terminal hasher when `nil`).
    public init(_ next: (any ByteSink)? = nil) { self.next = next }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
        try next?.write(bytes)
    }

    public func finish() throws {
        if final == nil { final = hasher.finalize() }
        try next?.finish()
    }

    /// The digest of everything written; valid after ``finish()``.
    public var digest: Digest { final ?? hasher.finalize() }
}

/// Hashes what is read through it, so a blob is verified in the same pass that uses it.
public final class DigestingSource: ByteSource {
    private let source: any ByteSource
    private var hasher: DigestHasher

    /// A hashing reader over `source`, with `algorithm`.
    public init(_ source: any ByteSource, algorithm: Digest.Algorithm = .sha256) {
        self.source = source
        hasher = DigestHasher(algorithm: algorithm)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try source.read(into: buffer)
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        return n
    }

    /// Reads what the consumer left unread, then returns the digest of everything.
    public func finish() throws -> Digest {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buf.deallocate() }
        while try read(into: buf) > 0 {}
        return hasher.finalize()
    }
}

/// Bytes already read from a stream (to inspect them), then the rest of it.
public final class PrefixedSource: ByteSource {
    private var prefix: [UInt8]
    private let rest: any ByteSource

    /// `prefix`, then what `rest` still yields.
    public init(prefix: [UInt8], rest: any ByteSource) {
        self.prefix = prefix
        self.rest = rest
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !prefix.isEmpty else { return try rest.read(into: buffer) }
        let n = min(prefix.count, buffer.count)
        UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]).copyBytes(from: prefix[0..<n])
        prefix.removeFirst(n)
        return n
    }
}

/// Counts bytes and discards them.
public final class CountingSink: ByteSink {
    /// Bytes seen.
    public private(set) var count: Int64 = 0
    /// A counter.
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws { count += Int64(bytes.count) }
    public func finish() throws {}
}

/// Collects bytes in memory (small documents and tests only).
public final class MemorySink: ByteSink {
    /// Everything written.
    public private(set) var bytes: [UInt8] = []
    /// An empty collector.
    public init() {}
    public func write(_ b: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: b) }
    public func finish() throws {}
}

/// Reads from bytes in memory.
public final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0
    /// A source over `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        if n <= 0 { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + n)]))
        }
        offset += n
        return n
    }
}

/// Buffered writes to a file descriptor it owns.
public final class FileSink: ByteSink {
    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private let capacity = 1 << 20
    private var closed = false

    /// Creates (truncating) the file at `path`.
    public init(path: String, mode: mode_t = 0o644) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ArchiveError.io(path: path, operation: "open", errno: errno) }
        self.path = path
        buffer.reserveCapacity(capacity)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > capacity { try flush() }
        if bytes.count >= capacity {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.io(path: path, operation: "write", errno: errno)
            }
            off += n
        }
    }

    /// Flushes and closes without fsync (files unpacked from a layer can be rebuilt from it).
    public func finishWithoutSync() throws {
        guard !closed else { return }
        closed = true
        try flush()
        guard close(fd) == 0 else { throw ArchiveError.io(path: path, operation: "close", errno: errno) }
    }

    /// Flushes, fsyncs and closes.
    public func finish() throws {
        guard !closed else { return }
        closed = true
        try flush()
        guard fsync(fd) == 0 else { let e = errno; close(fd); throw ArchiveError.io(path: path, operation: "fsync", errno: e) }
        guard close(fd) == 0 else { throw ArchiveError.io(path: path, operation: "close", errno: errno) }
    }

    deinit { if !closed { close(fd) } }
}

/// Reads a file through a descriptor it owns.
public final class FileSource: ByteSource {
    private let fd: Int32
    private let path: String

    /// Opens `path` for reading (not following a final symlink when `noFollow`).
    public init(path: String, noFollow: Bool = false) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0))
        guard fd >= 0 else { throw ArchiveError.io(path: path, operation: "open", errno: errno) }
        self.path = path
    }

    /// Reads through `fd` (opened by the caller, for instance inside a rooted directory), which
    /// it now owns and closes; `path` names it in errors.
    public init(adopting fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw ArchiveError.io(path: path, operation: "read", errno: errno) }
        }
    }

    deinit { close(fd) }
}
