import Foundation
import KilnSystem
import NIOCore
import NIOPosix

/// A file the registry client streams from or into, through a descriptor it owns: positioned
/// reads and writes run on NIO's blocking thread pool (never on the async pool or an event
/// loop), and the descriptor is closed when the value is released — on every path,
/// cancellation and failed uploads included, with no close call that can be forgotten or fail.
final class BlobFile: Sendable {
    private let fd: Int32
    /// The path it was opened at (for messages).
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Opens `path` for reading.
    static func reading(_ path: String) throws(RegistryError) -> BlobFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RegistryError.localIO(path: path, reason: "cannot open: \(errnoText(errno))") }
        return BlobFile(fd: fd, path: path)
    }

    /// Creates (or truncates) `path` for writing.
    static func creating(_ path: String) throws(RegistryError) -> BlobFile {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RegistryError.localIO(path: path, reason: "cannot create: \(errnoText(errno))") }
        return BlobFile(fd: fd, path: path)
    }

    /// The file's size.
    func size() throws(RegistryError) -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw RegistryError.localIO(path: path, reason: "stat: \(errnoText(errno))") }
        return Int64(st.st_size)
    }

    /// Up to `count` bytes at `offset` (fewer only at the end of the file).
    func read(at offset: Int64, count: Int) async throws -> ByteBuffer {
        let (fd, path) = (self.fd, self.path)
        let bytes: [UInt8] = try await NIOThreadPool.singleton.runIfActive {
            var buf = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, count - got, off_t(offset) + off_t(got)) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw RegistryError.localIO(path: path, reason: "read: \(errnoText(errno))") }
                if n == 0 { break }
                got += n
            }
            return got == count ? buf : Array(buf[0..<got])
        }
        return ByteBuffer(bytes: bytes)
    }

    /// Writes all of `buffer` at `offset`.
    func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        let (fd, path) = (self.fd, self.path)
        let bytes = Array(buffer.readableBytesView)
        try await NIOThreadPool.singleton.runIfActive {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw RegistryError.localIO(path: path, reason: "write: \(errnoText(errno))") }
                done += n
            }
        }
    }

    /// Cuts the file to `size` bytes and flushes it to disk.
    func finish(size: Int64) async throws {
        let (fd, path) = (self.fd, self.path)
        try await NIOThreadPool.singleton.runIfActive {
            guard ftruncate(fd, off_t(size)) == 0, fsync(fd) == 0 else {
                throw RegistryError.localIO(path: path, reason: "sync: \(errnoText(errno))")
            }
        }
    }

    /// The bytes of `range` as a request body, in chunks of `chunk` bytes.
    func chunks(in range: Range<Int64>, chunk: Int = 256 * 1024) -> Chunks { Chunks(file: self, range: range, chunk: chunk) }

    /// A range of the file read lazily, chunk by chunk (a streamed upload body).
    struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let file: BlobFile
        let range: Range<Int64>
        let chunk: Int

        func makeAsyncIterator() -> Iterator { Iterator(file: file, offset: range.lowerBound, end: range.upperBound, chunk: chunk) }

        struct Iterator: AsyncIteratorProtocol {
            let file: BlobFile
            var offset: Int64
            let end: Int64
            let chunk: Int

            mutating func next() async throws -> ByteBuffer? {
                guard offset < end else { return nil }
                let buf = try await file.read(at: offset, count: Int(Swift.min(Int64(chunk), end - offset)))
                guard buf.readableBytes > 0 else {
                    throw RegistryError.localIO(path: file.path, reason: "the file ended at \(offset) bytes, before \(end)")
                }
                offset += Int64(buf.readableBytes)
                return buf
            }
        }
    }
}
