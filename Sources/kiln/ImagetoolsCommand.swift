import ArgumentParser
import Foundation
import KilnOCI
import KilnSystem
import KilnRegistry

/// `kiln imagetools`: work with images in registries.
struct Imagetools: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imagetools",
        abstract: "Inspect and copy images in registries.",
        subcommands: [Inspect.self, Copy.self]
    )

    /// `kiln imagetools inspect [--raw] REF`.
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a manifest or index: a summary, or with --raw its exact bytes.")

        @Flag(help: "Write the manifest bytes exactly as the registry serves them.")
        var raw = false

        @Argument(help: "Image reference, e.g. localhost:5000/app:1 or REPO@sha256:…")
        var reference: String

        @OptionGroup var registry: RegistryOptions

        func run() async throws {
            let ref = try Reference(parsing: reference)
            let raw = self.raw
            let text: Data = try await registry.withClient { client in
                let top = try await client.manifest(ref)
                if raw { return top.data }
                return Data(try await ManifestSummary.render(top, ref: ref, client: client).utf8)
            }
            Console.write(text, to: STDOUT_FILENO)
        }
    }

    /// `kiln imagetools copy SRC DST`.
    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy an image or index with all its blobs to another reference.")

        @Argument(help: "Source reference.")
        var source: String

        @Argument(help: "Destination reference.")
        var destination: String

        @Option(help: "Blobs copied at once.")
        var parallelism = 4

        @OptionGroup var registry: RegistryOptions

        func run() async throws {
            let src = try Reference(parsing: source)
            let dst = try Reference(parsing: destination)
            let op = ImageCopy(source: src, destination: dst, parallelism: parallelism)
            let report = try await registry.withClient { client in try await op.run(with: client) }
            var line = "copied \(src) -> \(dst)@\(report.digest): "
            line += "\(report.blobsUploaded) blob(s) uploaded (\(ByteFormat.human(report.bytesUploaded))), "
            line += "\(report.blobsMounted) mounted, \(report.blobsExisting) already present"
            print(line)
        }
    }
}
