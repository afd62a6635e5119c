import Foundation
import Synchronization

/// Child processes run to completion without blocking the async pool: their output is read on
/// threads of their own and handed over as it comes, their exit is awaited through the
/// termination handler, and cancelling the task stops them (SIGKILL, or the caller's own way).
public enum Subprocess {
    /// What a finished process printed and how it ended.
    public struct Result: Sendable {
        /// Exit status (128 + N for signal N).
        public var status: Int32
        /// Standard output (empty when it was streamed).
        public var output: [UInt8]
        /// Standard error (empty when it was streamed).
        public var errorOutput: [UInt8]
        /// Standard output as text.
        public var text: String { String(decoding: output, as: UTF8.self) }
        /// Standard error as text, trimmed.
        public var errorText: String { String(decoding: errorOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// A process that could not be started.
    public struct LaunchError: Error, Sendable, CustomStringConvertible {
        /// The command and why it did not start.
        public var description: String
    }

    /// Output chunks as they come: bytes and the stream (1 stdout, 2 stderr).
    public typealias Stream = @Sendable ([UInt8], Int32) async -> Void

    /// Runs `args` (`args[0]` looked up in `PATH`). With `stream`, output goes there as it is
    /// produced; without, it is collected (up to `limit` bytes a stream). `started` gets the
    /// child's pid once it runs. On cancellation
    /// `onCancel` gets the child's pid (default: SIGKILL to it); the call returns once the child
    /// has exited, then throws `CancellationError`.
    public static func run(_ args: [String], stdin: Data? = nil, environment: [String: String]? = nil,
                           stream: Stream? = nil, limit: Int = 16 << 20, started: (@Sendable (Int32) -> Void)? = nil,
                           onCancel: (@Sendable (Int32) -> Void)? = nil) async throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle(forReadingAtPath: "/dev/null") : inp
        let (chunks, continuation) = AsyncStream<([UInt8], Int32)>.makeStream()
        let readers = DispatchGroup()
        for (pipe, fd) in [(out, Int32(1)), (err, Int32(2))] {
            readers.enter()
            Thread.detachNewThread {
                let h = pipe.fileHandleForReading
                while true {
                    let d = h.availableData
                    if d.isEmpty { break }
                    continuation.yield((Array(d), fd))
                }
                try? h.close()
                readers.leave()
            }
        }
        readers.notify(queue: .global()) { continuation.finish() }
        // Output is handed on while the process runs, not after it ends.
        async let collected = consume(chunks, stream: stream, limit: limit)
        let state = Mutex<(pid: Int32, cancelled: Bool)>((0, false))
        let stop: @Sendable (Int32) -> Void = onCancel ?? { kill($0, SIGKILL) }
        let status: Int32 = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Int32, any Error>) in
                p.terminationHandler = { cont.resume(returning: $0.terminationReason == .uncaughtSignal ? 128 + $0.terminationStatus : $0.terminationStatus) }
                do { try p.run() } catch {
                    p.terminationHandler = nil
                    for pipe in [out, err] { try? pipe.fileHandleForWriting.close() }
                    cont.resume(throwing: LaunchError(description: "cannot start \(args.first ?? "?"): \(error.localizedDescription)"))
                    return
                }
                let pid = p.processIdentifier
                started?(pid)
                if state.withLock({ $0.pid = pid; return $0.cancelled }) { stop(pid) }
                if let stdin { inp.fileHandleForWriting.write(stdin) }
                try? inp.fileHandleForWriting.close()
            }
        } onCancel: {
            if let pid = state.withLock({ s -> Int32? in s.cancelled = true; return s.pid > 0 ? s.pid : nil }) { stop(pid) }
        }
        let output = await collected
        if Task.isCancelled { throw CancellationError() }
        return Result(status: status, output: output[1] ?? [], errorOutput: output[2] ?? [])
    }

    /// Hands chunks to `stream` as they come, or collects them (up to `limit` a stream).
    private static func consume(_ chunks: AsyncStream<([UInt8], Int32)>, stream: Stream?, limit: Int) async -> [Int32: [UInt8]] {
        var collected: [Int32: [UInt8]] = [1: [], 2: []]
        for await (chunk, fd) in chunks {
            if let stream {
                await stream(chunk, fd)
            } else if collected[fd, default: []].count < limit {
                collected[fd, default: []] += chunk.prefix(limit - collected[fd, default: []].count)
            }
        }
        return collected
    }

    /// Runs `args` and fails unless it exits 0; the error carries its standard error.
    @discardableResult
    public static func check(_ args: [String], stdin: Data? = nil) async throws -> Result {
        let r = try await run(args, stdin: stdin)
        guard r.status == 0 else {
            throw LaunchError(description: "\(args.joined(separator: " ")) exited \(r.status)" + (r.errorText.isEmpty ? "" : ": \(r.errorText)"))
        }
        return r
    }
}
