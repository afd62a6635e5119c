import Foundation
import KilnSystem

/// What a helper process printed and how it ended.
struct HelperOutput: Sendable {
    var status: Int32
    var stdout: Data
    var stderr: Data
}

/// Runs a short-lived helper program (a credential helper) found in a search path.
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
        let r: Subprocess.Result
        do {
            r = try await Subprocess.run([path] + arguments, stdin: input)
        } catch {
            throw Failure(description: "cannot run \(path): \(ErrorText.describe(error))")
        }
        return HelperOutput(status: r.status, stdout: Data(r.output), stderr: Data(r.errorOutput))
    }
}
