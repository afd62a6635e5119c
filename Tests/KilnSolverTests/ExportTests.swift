import Foundation
import KilnArchive
import KilnDockerfile
import KilnExport
import KilnOCI
import KilnRegistry
import KilnSolver
import KilnStore
import KilnTestSupport
import KilnWorker
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

    struct Built {
        var chain: [CachedLayer]
        var config: Data
        var plan: BuildPlan
    }

    static func build(base: String, root: String, context: String, push: [Reference] = [], outputs: [OutputSpec] = []) async throws -> (Built, Descriptor?) {
        var rc = RegistryConfiguration()
        rc.certsDirectory = nil
        return try await RegistryClient.withClient(configuration: rc, credentials: AnonymousCredentials()) { client in
            let store = try ContentStore(root: root)
            let resolver = ImageResolver(client: client, store: store)
            let plan = try await BuildPlanner(options: PlanOptions(buildArgs: ["BASE": base])).plan(try DockerfileParser().parse(dockerfile)) { ref, p in
                try await resolver.resolve(ref, platform: p).config
            }
            let graph = try GraphBuilder(contextDirectory: context).build(plan, images: await resolver.resolved)
            let materializer = Materializer(store: store, client: client)
            let worker = Worker(store: store, materializer: materializer, contextDirectory: context, ignore: DockerIgnore())
            let chain = try await Solver(graph: graph, store: store, executor: worker, printer: QuietPrinter()).solve()
            var assembler = ImageAssembler(plan: plan, images: await resolver.resolved)
            try await assembler.learnChains(from: graph, store: store)
            let config = try assembler.config(chain: chain, graph: graph).encoded()
            var pushed: Descriptor?
            if !push.isEmpty {
                pushed = try await ImageExporter(client: client, store: store, materializer: materializer).push(chain: chain, config: config, to: push)
            }
            let files = FileExporters(store: store, materializer: materializer)
            for o in outputs {
                let dest = o.attributes["dest"] ?? ""
                switch o.type {
                case "local": try await files.local(chain: chain, dest: dest)
                case "tar": try await files.tar(chain: chain, dest: dest)
                case "oci": try await files.oci(chain: chain, config: config, names: ["kiln/test:1"], dest: dest)
                case "docker": try await files.docker(chain: chain, config: config, names: ["kiln/test:1"], dest: dest)
                default: break
                }
            }
            return (Built(chain: chain, config: config, plan: plan), pushed)
        }
    }

    @Test func pushedImageUnpacksWithUmociAndRunsWithRunc() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withClient { try await RunStepTests.pushBusybox($0, host: registry.host, dir: dir) }
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try "hello image\n".write(toFile: dir.file("ctx/hello.txt"), atomically: true, encoding: .utf8)
        let ref = try Reference(parsing: "\(registry.host)/kiln/app:1")
        _ = try await Self.build(base: base, root: dir.file("state"), context: dir.file("ctx"), push: [ref])
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
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withClient { try await RunStepTests.pushBusybox($0, host: registry.host, dir: dir) }
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try "tars\n".write(toFile: dir.file("ctx/hello.txt"), atomically: true, encoding: .utf8)
        let outputs = [
            OutputSpec(type: "oci", attributes: ["dest": dir.file("image-oci.tar")]),
            OutputSpec(type: "docker", attributes: ["dest": dir.file("image-docker.tar")]),
            OutputSpec(type: "tar", attributes: ["dest": dir.file("rootfs.tar")]),
            OutputSpec(type: "local", attributes: ["dest": dir.file("rootfs")]),
        ]
        let (built, _) = try await Self.build(base: base, root: dir.file("state"), context: dir.file("ctx"), outputs: outputs)
        let configDigest = Digest.of(built.config).description
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
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withClient { try await RunStepTests.pushBusybox($0, host: registry.host, dir: dir) }
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try "same\n".write(toFile: dir.file("ctx/hello.txt"), atomically: true, encoding: .utf8)
        let deterministic = """
        ARG BASE
        FROM ${BASE}
        COPY hello.txt /app/hello.txt
        ENV A=1
        CMD ["/bin/cat", "/app/hello.txt"]
        """
        func once(_ root: String, tag: String) async throws -> Descriptor? {
            var rc = RegistryConfiguration()
            rc.certsDirectory = nil
            return try await RegistryClient.withClient(configuration: rc, credentials: AnonymousCredentials()) { client in
                let store = try ContentStore(root: root)
                let resolver = ImageResolver(client: client, store: store)
                let plan = try await BuildPlanner(options: PlanOptions(buildArgs: ["BASE": base])).plan(try DockerfileParser().parse(deterministic)) { ref, p in
                    try await resolver.resolve(ref, platform: p).config
                }
                let graph = try GraphBuilder(contextDirectory: dir.file("ctx")).build(plan, images: await resolver.resolved)
                let materializer = Materializer(store: store, client: client)
                let worker = Worker(store: store, materializer: materializer, contextDirectory: dir.file("ctx"), ignore: DockerIgnore())
                let chain = try await Solver(graph: graph, store: store, executor: worker, printer: QuietPrinter()).solve()
                var assembler = ImageAssembler(plan: plan, images: await resolver.resolved, sourceDateEpoch: 1_700_000_000)
                try await assembler.learnChains(from: graph, store: store)
                let config = try assembler.config(chain: chain, graph: graph).encoded()
                return try await ImageExporter(client: client, store: store, materializer: materializer)
                    .push(chain: chain, config: config, to: [try Reference(parsing: "\(registry.host)/det/app:\(tag)")])
            }
        }
        let a = try await once(dir.file("state-a"), tag: "a")
        let b = try await once(dir.file("state-b"), tag: "b")
        #expect(a != nil && a == b)
    }

    @Test func imageOutputCompressionMediaTypesAndSourceDateEpoch() async throws {
        let registry = try await TestRegistry()
        let dir = try TemporaryDirectory()
        let base = try await withClient { try await RunStepTests.pushBusybox($0, host: registry.host, dir: dir) }
        try FileManager.default.createDirectory(atPath: dir.file("ctx"), withIntermediateDirectories: true)
        try "epoch\n".write(toFile: dir.file("ctx/hello.txt"), atomically: true, encoding: .utf8)
        var rc = RegistryConfiguration()
        rc.certsDirectory = nil
        try await RegistryClient.withClient(configuration: rc, credentials: AnonymousCredentials()) { client in
            let store = try ContentStore(root: dir.file("state"))
            let resolver = ImageResolver(client: client, store: store)
            let plan = try await BuildPlanner(options: PlanOptions(buildArgs: ["BASE": base])).plan(try DockerfileParser().parse(Self.dockerfile)) { ref, p in
                try await resolver.resolve(ref, platform: p).config
            }
            let epoch: Int64 = 1_600_000_000
            let graph = try GraphBuilder(contextDirectory: dir.file("ctx"), sourceDateEpoch: epoch).build(plan, images: await resolver.resolved)
            let materializer = Materializer(store: store, client: client)
            let worker = Worker(store: store, materializer: materializer, contextDirectory: dir.file("ctx"), ignore: DockerIgnore(), sourceDateEpoch: epoch)
            let chain = try await Solver(graph: graph, store: store, executor: worker, printer: QuietPrinter()).solve()
            // Every file the build made has its mtime clamped.
            for layer in chain.dropFirst() {
                let reader = TarReader(source: try GunzipSource(source: FileSource(path: store.path(for: layer.digest))))
                while let e = try reader.next() { #expect(e.mtime <= epoch, "\(e.path) mtime \(e.mtime)") }
            }
            var assembler = ImageAssembler(plan: plan, images: await resolver.resolved, sourceDateEpoch: epoch)
            try await assembler.learnChains(from: graph, store: store)
            let config = try assembler.config(chain: chain, graph: graph)
            let options = try ImageOutputOptions(attributes: ["compression": "zstd", "force-compression": "true", "oci-mediatypes": "false"])
            let ref = try Reference(parsing: "\(registry.host)/out/zstd:1")
            let (desc, _) = try await ImageExporter(client: client, store: store, materializer: materializer)
                .push(chain: chain, config: config, to: [ref], options: options)
            #expect(desc.mediaType == MediaType.dockerManifest)
            guard case .manifest(let m) = try await client.manifest(ref).document() else { Issue.record("not a manifest"); return }
            #expect(m.layers.count == chain.count)
            #expect(m.layers.allSatisfy { $0.mediaType == MediaType.dockerLayerZstd })
            #expect(m.config.mediaType == MediaType.dockerConfig)
            #expect(throws: ExportError.self) { try ImageOutputOptions(attributes: ["compression": "lz4"]) }
        }
    }
}
