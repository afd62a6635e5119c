import ArgumentParser
import Foundation
import KilnSystem

/// The `kiln` command.
@main
struct Kiln: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "A daemonless container image builder whose cache lives in OCI registries.",
        version: "0.1.0",
        subcommands: [Build.self, RemoteCache.self, Imagetools.self, Layer.self, DiskUsage.self, Prune.self, Info.self]
    )

    /// Runs the command line, turning every failure into one line on stderr and a non-zero
    /// exit; an interrupting signal cancels the command and exits 128 + the signal once it has
    /// cleaned up.
    static func main() async {
        // Parsed here and run by one task only.
        nonisolated(unsafe) var command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        let work = Task.detached {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        }
        let interrupts = Interrupts.install { work.cancel() }
        let outcome = await work.result
        if let sig = interrupts.received {
            Console.write("error: interrupted (\(Interrupts.name(sig)))\n", to: STDERR_FILENO)
            Foundation.exit(128 + sig)
        }
        if case .failure(let error) = outcome { fail(error) }
    }

    /// One line for `error` and exit 1; argument errors keep ArgumentParser's usage output.
    static func fail(_ error: any Error) -> Never {
        switch error {
        case is ValidationError, is CleanExit, is ExitCode:
            exit(withError: error)
        case _ where String(reflecting: type(of: error)).hasPrefix("ArgumentParser."):
            // ArgumentParser's own (`help` and `--help` requests among them): it prints them.
            exit(withError: error)
        case is CancellationError:
            fail("cancelled")
        default:
            // Every kiln error describes itself in one line naming what is wrong.
            fail(ErrorText.describe(error))
        }
    }

    static func fail(_ message: String) -> Never {
        Console.write("error: \(message)\n", to: STDERR_FILENO)
        Foundation.exit(1)
    }
}

/// A failure of the command line itself (bad input, unwritable output).
struct CLIError: Error, CustomStringConvertible {
    var description: String
}
