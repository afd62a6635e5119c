import Foundation

/// What a helper process printed and how it ended.
struct HelperOutput: Sendable {
    var status: Int32
    var stdout: Data
    var stderr: Data
}

/// Runs a short-lived helper program without blocking the caller's thread: the process's
/// termination and its pipes are awaited through continuations.
enum HelperProcess {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(executable: String, arguments: [String], input: Data, searchPath: String) async throws(Failure) -> HelperOutput {
        guard let path = searchPath.split(separator: ":").lazy
            .map({ "\($0)/\(executable)" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            throw Failure(description: "\(executable) not found in PATH")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let outTask = Task { await readAll(stdout.fileHandleForReading) }
        let errTask = Task { await readAll(stderr.fileHandleForReading) }
        let status: Int32
        do {
            status = try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Int32, any Error>) in
                process.terminationHandler = { p in cont.resume(returning: p.terminationStatus) }
                do {
                    try process.run()
                } catch {
                    process.terminationHandler = nil
                    cont.resume(throwing: error)
                    return
                }
                stdin.fileHandleForWriting.write(input)
                try? stdin.fileHandleForWriting.close()
            }
        } catch {
            outTask.cancel()
            errTask.cancel()
            throw Failure(description: "cannot start \(path): \(error.localizedDescription)")
        }
        return HelperOutput(status: status, stdout: await outTask.value, stderr: await errTask.value)
    }

    /// Reads a pipe to its end on a thread of its own, so no task of the cooperative pool ever
    /// blocks on it.
    static func readAll(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { (cont: CheckedContinuation<Data, Never>) in
            Thread.detachNewThread {
                cont.resume(returning: handle.readDataToEndOfFile())
            }
        }
    }
}

