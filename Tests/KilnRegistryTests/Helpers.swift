import Foundation
import KilnOCI
import KilnRegistry
import KilnTestSupport
import Logging

/// A client configuration for tests: fast retries so fault tests stay quick.
func testConfiguration(chunkSize: Int64 = 16 << 20) -> RegistryConfiguration {
    var c = RegistryConfiguration()
    c.retry = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(20), maxDelay: .seconds(2))
    c.chunkSize = chunkSize
    c.certsDirectory = nil
    return c
}

func withClient<T: Sendable>(
    _ configuration: RegistryConfiguration = testConfiguration(),
    credentials: any CredentialProvider = AnonymousCredentials(),
    _ body: (RegistryClient) async throws -> T
) async throws -> T {
    var logger = Logger(label: "kiln.test")
    logger.logLevel = ProcessInfo.processInfo.environment["KILN_TEST_DEBUG"] != nil ? .debug : .warning
    return try await RegistryClient.withClient(configuration: configuration, credentials: credentials, logger: logger, body)
}

/// A random blob of `size` bytes on disk with its descriptor.
func makeBlob(in dir: TemporaryDirectory, size: Int, name: String = UUID().uuidString) throws -> (path: String, descriptor: Descriptor) {
    let path = dir.file(name)
    try writeRandomFile(path, size: size)
    var hasher = DigestHasher()
    let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? h.close() }
    while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
    return (path, Descriptor(mediaType: MediaType.ociLayerGzip, digest: hasher.finalize(), size: Int64(size)))
}

/// Pushes a one-layer image (random layer of `layerSize` bytes) to `ref`; returns the manifest digest.
@discardableResult
func pushImage(_ client: RegistryClient, to ref: Reference, dir: TemporaryDirectory, layerSize: Int = 4096) async throws -> (Digest, [Descriptor]) {
    let layer = try makeBlob(in: dir, size: layerSize)
    try await client.pushBlob(layer.descriptor, fromFile: layer.path, to: ref)
    var config = ImageConfig()
    config.diffIDs = [layer.descriptor.digest]
    let configDesc = try await client.pushBlob(try config.encoded(), mediaType: MediaType.ociConfig, to: ref)
    let manifest = ImageManifest(config: configDesc, layers: [layer.descriptor])
    let digest = try await client.putManifest(try manifest.encoded(), mediaType: MediaType.ociManifest, to: ref)
    return (digest, [configDesc, layer.descriptor])
}

/// SHA-256 of a file's contents.
func fileDigest(_ path: String) throws -> Digest {
    var hasher = DigestHasher()
    let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? h.close() }
    while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
    return hasher.finalize()
}
