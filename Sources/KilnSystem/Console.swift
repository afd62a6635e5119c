import Foundation
import Synchronization

/// Writes to the terminal, a file or a pipe without trapping when the reader has gone:
/// Foundation's `FileHandle.write` crashes on `EPIPE`, so every line kiln prints goes through
/// here, and a closed pipe is reported (once) to whoever asked, so the build can be cancelled.
public enum Console {
    private static let brokenPipe = Mutex<(@Sendable () -> Void)?>(nil)

    /// Writes all of `bytes` to `fd`; false when the reader has gone or the write failed.
    @discardableResult
    public static func write(_ bytes: Data, to fd: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if errno == EPIPE, let handler = brokenPipe.withLock({ h -> (@Sendable () -> Void)? in defer { h = nil }; return h }) {
                    handler()
                }
                return false
            }
            offset += n
        }
        return true
    }

    /// Writes `text` to `fd`.
    @discardableResult
    public static func write(_ text: String, to fd: Int32) -> Bool { write(Data(text.utf8), to: fd) }

    /// Calls `handler` once, the first time a write finds its reader gone.
    public static func onBrokenPipe(_ handler: @escaping @Sendable () -> Void) {
        brokenPipe.withLock { $0 = handler }
    }
}
