import Foundation
import KilnArchive
import KilnSystem

/// A blob being downloaded, readable while it arrives: the downloader reports how many bytes
/// from the start are on disk, readers (``reader()``) block on a blocking-I/O thread until
/// there are more. Readers see the same bytes the download verifies; they are no substitute
/// for their own digest check. The download may move to another file (another source, a
/// server that ignored `Range`): the bytes are the same blob's, so readers carry on at their
/// offset once the new file has reached it.
public final class GrowingFile: @unchecked Sendable {
    // A condition variable, not a Mutex: readers wait for the writer, and only on threads of
    // their own (``BlockingIO``), never in async code. Every field below is guarded by it.
    private let condition = NSCondition()
    private var file: OpenFile?
    private var written: Int64 = 0
    private var done = false
    private var failure: (any Error)?

    /// An empty download.
    public init() {}

    /// The downloader: the first `bytes` bytes of the blob are in the file at `path`.
    public func wrote(_ bytes: Int64, to path: String) {
        condition.lock()
        defer { condition.unlock() }
        if file?.path != path { file = OpenFile(path: path) }
        written = bytes
        condition.broadcast()
    }

    /// The downloader: the blob is complete and verified at `path` (where it now lives, for a
    /// reader that has no file open yet).
    public func finish(at path: String) {
        condition.lock()
        defer { condition.unlock() }
        if file == nil { file = OpenFile(path: path) }
        done = true
        condition.broadcast()
    }

    /// The downloader: no source served the blob; readers fail with `error`.
    public func fail(_ error: any Error) {
        condition.lock()
        defer { condition.unlock() }
        failure = error
        condition.broadcast()
    }

    /// A reader of the whole blob from its first byte.
    public func reader() -> any ByteSource { Reader(self) }

    /// Waits until bytes past `position` are on disk (or the download ended); returns the file
    /// to read them from, how far it is written and whether it is complete.
    fileprivate func wait(beyond position: Int64) throws -> (file: OpenFile, written: Int64, complete: Bool) {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let failure { throw failure }
            if let file, done || written > position { return (file, written, done) }
            if done { throw StoreError.io(path: "download", reason: "the downloaded file could not be opened") }
            condition.wait()
        }
    }

    /// A file open for reading, closed with its last user.
    fileprivate final class OpenFile: Sendable {
        let path: String
        let fd: Int32

        init?(path: String) {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            self.path = path
            self.fd = fd
        }

        deinit { close(fd) }
    }

    private final class Reader: ByteSource {
        private let growing: GrowingFile
        private var position: Int64 = 0

        init(_ growing: GrowingFile) { self.growing = growing }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            guard buffer.count > 0 else { return 0 }
            let (file, written, complete) = try growing.wait(beyond: position)
            let count = complete ? buffer.count : Int(min(Int64(buffer.count), written - position))
            while true {
                let n = pread(file.fd, buffer.baseAddress, count, off_t(position))
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw StoreError.io(path: file.path, reason: "read: \(errnoText(errno))") }
                position += Int64(n)
                return n
            }
        }
    }
}
