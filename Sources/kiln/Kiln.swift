import ArgumentParser
import Foundation
import KilnArchive
import KilnDockerfile
import KilnExport
import KilnWorker
import KilnSolver
import KilnStore
import KilnOCI
import KilnRegistry

/// The `kiln` command.
@main
struct Kiln: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "A daemonless container image builder whose cache lives in OCI registries.",
        version: "0.1.0",
        subcommands: [Build.self, Imagetools.self, Layer.self, DiskUsage.self, Prune.self, Info.self]
    )

    /// Runs the command line, turning every failure into one line on stderr and a non-zero exit.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as RegistryError {
            fail(error.description)
        } catch let error as OCIError {
            fail(error.description)
        } catch let error as DockerfileError {
            fail(error.description)
        } catch let error as GraphError {
            fail(error.description)
        } catch let error as SolveError {
            fail(error.description)
        } catch let error as StoreError {
            fail(error.description)
        } catch let error as BlobUnavailable {
            fail(error.description)
        } catch let error as ExportError {
            fail(error.description)
        } catch let error as WorkerError {
            fail(error.description)
        } catch let error as ArchiveError {
            fail(error.description)
        } catch let error as CLIError {
            fail(error.description)
        } catch {
            exit(withError: error)
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        Foundation.exit(1)
    }
}

/// A failure of the command line itself (bad input, unwritable output).
struct CLIError: Error, CustomStringConvertible {
    var description: String
}
