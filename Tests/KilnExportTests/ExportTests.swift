import Foundation
import KilnArchive
import KilnDockerfile
import KilnExport
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnTestSupport
import KilnBuild
import Testing
import KilnProgress

/// Images Kiln builds are real images: they push, unpack with umoci and run with runc, every
/// tar output reads with skopeo, and a deterministic Dockerfile gives the same digest twice.
@Suite(.serialized) struct ExportTests {
    static let dockerfile = """
    ARG BASE
    FROM ${BASE} AS build
    WORKDIR /work
    COPY hello.txt .
    RUN echo "built" > /work/status && cat hello.txt > /work/copy.txt
    FROM ${BASE}
    COPY --from=build /work/ /app/
    ENV GREETING=hi
    CMD ["/bin/cat", "/app/copy.txt"]
    """

    /// Builds `dockerfile` through the session with `outputs`.
    static func build(base: String, root: String, context: String, dockerfile: String = dockerfile, epoch: Int64? = nil,
                      outputs: [BuildOutput] = []) async throws -> TestBuild.Outcome {
        try await TestBuild.run(dockerfile, context: context, root: root, buildArgs: ["BASE": base]) {
            $0.outputs = outputs
            $0.sourceDateEpoch = epoch
            $0.assembleImage = true
        }
    }

    /// A registry with busybox and a context holding hello.txt.
    static func rig(_ hello: String) async throws -> (TestRegistry, TemporaryDirectory, String) {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withTestClient { try await TestImage.busybox(host: registry.host, client: $0, scratch: dir.path) }
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try hello.write(toFile: dir.file("ctx/hello.txt"), atomically: true, encoding: .utf8)
        return (registry, dir, base)
    }

    @Test func pushedImageUnpacksWithUmociAndRunsWithRunc() async throws {
        let (registry, dir, base) = try await Self.rig("hello image\n")
        let ref = try Reference(parsing: "\(registry.host)/kiln/app:1")
        _ = try await Self.build(base: base, root: dir.file("state"), context: dir.file("ctx"),
                                 outputs: [.image(refs: [ref], push: true, options: ImageOutputOptions())])
        try await ProcessRunner.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "docker://\(ref)", "oci:\(dir.file("layout")):app"])
        try await ProcessRunner.run(["umoci", "unpack", "--image", "\(dir.file("layout")):app", dir.file("bundle")])
        // umoci writes a runtime spec with the image's CMD; run it (terminal off, host network).
        let specPath = dir.file("bundle/config.json")
        var spec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: specPath))) as? [String: Any] ?? [:]
        var process = spec["process"] as? [String: Any] ?? [:]
        process["terminal"] = false
        spec["process"] = process
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: specPath))
        let out = try await ProcessRunner.run(["runc", "--root", dir.file("runc"), "run", "--bundle", dir.file("bundle"), "kiln-export-test"])
        #expect(out.text == "hello image\n")
    }

    @Test func everyTarOutputReadsWithSkopeoAndLocalMatches() async throws {
        let (registry, dir, base) = try await Self.rig("tars\n")
        defer { _ = registry }
        let outputs: [BuildOutput] = [
            .oci(dest: dir.file("image-oci.tar"), names: ["kiln/test:1"]),
            .docker(dest: dir.file("image-docker.tar"), names: ["kiln/test:1"]),
            .tar(dest: dir.file("rootfs.tar")),
            .local(dest: dir.file("rootfs")),
        ]
        let built = try await Self.build(base: base, root: dir.file("state"), context: dir.file("ctx"), outputs: outputs)
        let configDigest = try #require(built.result.configDigest).description
        for transport in ["oci-archive:\(dir.file("image-oci.tar"))", "docker-archive:\(dir.file("image-docker.tar"))"] {
            let inspect = try await ProcessRunner.run(["skopeo", "inspect", "--config", transport])
            let cfg = try JSONSerialization.jsonObject(with: inspect.stdout) as? [String: Any]
            #expect(((cfg?["config"] as? [String: Any])?["Cmd"] as? [String]) == ["/bin/cat", "/app/copy.txt"], "\(transport)")
            let raw = try await ProcessRunner.run(["skopeo", "inspect", "--raw", transport])
            #expect(raw.text.contains(configDigest.dropFirst(7)) || transport.hasPrefix("docker"), "\(transport)")
        }
        #expect(try String(contentsOfFile: dir.file("rootfs/app/copy.txt"), encoding: .utf8) == "tars\n")
        let listing = try await ProcessRunner.run(["tar", "-tvf", dir.file("rootfs.tar")])
        #expect(listing.text.contains("app/copy.txt") && listing.text.contains("bin/busybox"))
        #expect(listing.text.contains("1000/1000") && listing.text.contains("home/app"), "owners preserved")
    }

    @Test func twoColdBuildsOfADeterministicDockerfileGiveTheSameDigest() async throws {
        let (registry, dir, base) = try await Self.rig("same\n")
        let deterministic = """
        ARG BASE
        FROM ${BASE}
        COPY hello.txt /app/hello.txt
        ENV A=1
        CMD ["/bin/cat", "/app/hello.txt"]
        """
        func once(_ root: String, tag: String) async throws -> Descriptor? {
            let ref = try Reference(parsing: "\(registry.host)/det/app:\(tag)")
            return try await Self.build(base: base, root: root, context: dir.file("ctx"), dockerfile: deterministic, epoch: 1_700_000_000,
                                        outputs: [.image(refs: [ref], push: true, options: ImageOutputOptions())]).result.imageDescriptor
        }
        let a = try await once(dir.file("state-a"), tag: "a")
        let b = try await once(dir.file("state-b"), tag: "b")
        #expect(a != nil && a == b)
    }

    @Test func imageOutputCompressionMediaTypesAndSourceDateEpoch() async throws {
        let (registry, dir, base) = try await Self.rig("epoch\n")
        let epoch: Int64 = 1_600_000_000
        let options = try ImageOutputOptions(attributes: ["compression": "zstd", "force-compression": "true", "oci-mediatypes": "false"])
        let ref = try Reference(parsing: "\(registry.host)/out/zstd:1")
        let built = try await Self.build(base: base, root: dir.file("state"), context: dir.file("ctx"), epoch: epoch,
                                         outputs: [.image(refs: [ref], push: true, options: options)])
        // Every file the build made has its mtime clamped.
        let store = try ContentStore(root: dir.file("state"))
        for layer in built.chain.dropFirst() {
            let reader = TarReader(source: try GunzipSource(source: FileSource(path: store.path(for: layer.digest))))
            while let e = try reader.next() { #expect(e.mtime <= epoch, "\(e.path) mtime \(e.mtime)") }
        }
        #expect(built.result.imageDescriptor?.mediaType == MediaType.dockerManifest)
        try await withTestClient { client in
            guard case .manifest(let m) = try await client.manifest(ref).document() else { Issue.record("not a manifest"); return }
            #expect(m.layers.count == built.chain.count)
            #expect(m.layers.allSatisfy { $0.mediaType == MediaType.dockerLayerZstd })
            #expect(m.config.mediaType == MediaType.dockerConfig)
        }
        #expect(throws: ExportError.self) { try ImageOutputOptions(attributes: ["compression": "lz4"]) }
    }
}
