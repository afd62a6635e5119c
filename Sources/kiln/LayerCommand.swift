import ArgumentParser
import Foundation
import KilnArchive

/// `kiln layer`: make and convert layer blobs without a build.
struct Layer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make layer blobs from directories and convert between compressions.",
        subcommands: [Pack.self, Convert.self]
    )

    struct CompressionOptions: ParsableArguments {
        @Option(help: "uncompressed, gzip, zstd or estargz.")
        var compression = "gzip"

        @Option(name: .customLong("compression-level"), help: "gzip/estargz 0-9 (default 6), zstd 0-22 (default 3).")
        var level: Int?

        @Option(help: "gzip compression threads (output is identical for any value).")
        var workers = GzipSink.defaultWorkers

        func spec() throws -> Compression {
            do { return try Compression(name: compression, level: level) } catch { throw CLIError(description: error.description) }
        }
    }

    /// `kiln layer pack DIR -o FILE`.
    struct Pack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pack a directory into a deterministic layer blob; prints its descriptor as JSON.")

        @Argument(help: "Directory whose contents become the layer.")
        var directory: String

        @Option(name: .shortAndLong, help: "Blob file to write.")
        var output: String

        @Option(name: .customLong("source-date-epoch"), help: "Clamp mtimes to this time (default: $SOURCE_DATE_EPOCH if set).")
        var sourceDateEpoch: Int64?

        @OptionGroup var compression: CompressionOptions

        func run() async throws {
            let spec = try compression.spec()
            let epoch = sourceDateEpoch ?? ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap(Int64.init)
            let (dir, out, workers) = (directory, output, compression.workers)
            let blob = try await BlockingIO.run {
                let writer = try LayerWriter(path: out, compression: spec, workers: workers)
                try LayerPacker(options: PackOptions(sourceDateEpoch: epoch)).pack(directory: dir, into: writer.tar)
                return try writer.finish()
            }
            print(try LayerJSON.describe(blob))
        }
    }

    /// `kiln layer convert IN -o OUT --compression C`.
    struct Convert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-encode a layer blob (any compression, detected from its bytes); prints its descriptor as JSON.")

        @Argument(help: "Layer blob to read.")
        var input: String

        @Option(name: .shortAndLong, help: "Blob file to write.")
        var output: String

        @OptionGroup var compression: CompressionOptions

        func run() async throws {
            let spec = try compression.spec()
            let (inp, out, workers) = (input, output, compression.workers)
            let blob = try await BlockingIO.run { try LayerConverter.convert(source: inp, to: out, compression: spec, workers: workers) }
            print(try LayerJSON.describe(blob))
        }
    }
}

enum LayerJSON {
    static func describe(_ blob: LayerBlob) throws -> String {
        let d: [String: Any] = [
            "mediaType": blob.mediaType(oci: true), "digest": blob.digest.description, "size": blob.size,
            "annotations": blob.annotations,
        ]
        let data = try JSONSerialization.data(withJSONObject: d, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
