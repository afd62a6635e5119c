import Foundation
import KilnOCI
import KilnRegistry
import KilnSystem
import KilnTestSupport
import Testing

/// The flags CI scripts pass to `docker buildx build`, with buildx's meaning, against a real
/// registry: each one's effect on the image, the build or the files it writes, and a bad value
/// of each refused in one line naming it.
@Suite(.serialized) struct BuildxFlagsTests {
    static func build(_ rig: CLIRig, _ extra: [String], root: String = "root", context: String = "ctx",
                      environment: [String: String] = [:]) async throws -> Subprocess.Result {
        let r = try await KilnProcess.run(["build", "--root", rig.dir.file(root), "--progress", "plain"] + extra + [rig.dir.file(context)],
                                          environment: environment)
        #expect(r.status == 0, "\(r.text)\(r.errorText)")
        return r
    }

    static func fetch(_ ref: String) async throws -> RegistryClient.FetchedManifest {
        try await withTestClient { try await $0.manifest(try Reference(parsing: ref)) }
    }

    static func config(of ref: String) async throws -> ImageConfig {
        try await withTestClient { client in
            let r = try Reference(parsing: ref)
            guard case .manifest(let m) = try await client.manifest(r).document() else { throw CLIRigError("\(ref) is not a manifest") }
            return try ImageConfig.decode(try await client.blobData(m.config, from: r))
        }
    }

    static func metadata(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    @Test func labelsIidfileAndQuietNameTheImage() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nLABEL from.file=1 over=file\nRUN echo x > /x\n")
        let ref = "\(rig.registry.host)/flags/label:1"
        let r = try await Self.build(rig, ["-q", "-t", ref, "--push", "--label", "over=flag", "--label", "extra=a=b",
                                           "--iidfile", rig.dir.file("iid"), "--metadata-file", rig.dir.file("md.json")])
        let labels = try await Self.config(of: ref).runtime.labels ?? [:]
        #expect(labels == ["from.file": "1", "over": "flag", "extra": "a=b"])
        let iid = try String(contentsOfFile: rig.dir.file("iid"), encoding: .utf8)
        let md = try Self.metadata(rig.dir.file("md.json"))
        #expect(iid == md["containerimage.config.digest"] as? String && iid.hasPrefix("sha256:") && !iid.hasSuffix("\n"))
        // -q: the image ID alone on stdout, and no progress at all.
        #expect(r.text == iid + "\n", "stdout: \(r.text)")
        #expect(!r.errorText.contains("#1 "), "\(r.errorText)")
    }

    @Test func annotationsGoWhereTheirTypeSays() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo x > /x\n")
        let reg = rig.registry.host
        _ = try await Self.build(rig, ["-t", "\(reg)/flags/ann:1", "--push", "--annotation", "org.opencontainers.image.title=demo",
                                       "--annotation", "manifest[linux/arm64]:only.arm=1"])
        guard case .manifest(let m) = try await Self.fetch("\(reg)/flags/ann:1").document() else { Issue.record("not a manifest"); return }
        #expect(m.annotations == ["org.opencontainers.image.title": "demo"])

        _ = try await Self.build(rig, ["-t", "\(reg)/flags/ann:2", "--push", "--metadata-file", rig.dir.file("md.json"),
                                       "--annotation", "index:idx.key=i", "--annotation", "manifest,manifest-descriptor:both=m"])
        let top = try await Self.fetch("\(reg)/flags/ann:2")
        guard case .index(let index) = try top.document(), let entry = index.manifests.first else { Issue.record("no index pushed"); return }
        #expect(index.annotations == ["idx.key": "i"])
        #expect(entry.annotations == ["both": "m"] && entry.platform == Platform.linuxAMD64)
        guard case .manifest(let inner) = try await Self.fetch("\(reg)/flags/ann@\(entry.digest)").document() else { Issue.record("no manifest"); return }
        #expect(inner.annotations == ["both": "m"])
        #expect(try Self.metadata(rig.dir.file("md.json"))["containerimage.digest"] as? String == top.digest.description)

        try await BadInputTests.refused(["-t", "\(reg)/flags/ann:3", "--push", "--annotation", "index-descriptor:k=v"], rig: rig, names: "index-descriptor")
        try await BadInputTests.refused(["--annotation", "nokey"], rig: rig, names: "--annotation 'nokey'")
    }

    @Test func ociAndDockerOutputsCarryTheirName() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN echo x > /x\n")
        _ = try await Self.build(rig, ["-o", "type=docker,dest=\(rig.dir.file("d.tar")),name=app:ci",
                                       "-o", "type=oci,dest=\(rig.dir.file("o.tar")),name=reg.example/app:ci"])
        let docker = try await ProcessRunner.run(["tar", "-xOf", rig.dir.file("d.tar"), "manifest.json"]).text
        #expect(docker.contains("\"RepoTags\":[\"app:ci\"]"), "\(docker)")
        let index = try await ProcessRunner.run(["tar", "-xOf", rig.dir.file("o.tar"), "index.json"]).text
        #expect(index.contains("\"io.containerd.image.name\":\"reg.example/app:ci\"") && index.contains("\"org.opencontainers.image.ref.name\":\"ci\""),
                "\(index)")
    }

    @Test func namedContextsReplaceImagesStagesAndFromSources() async throws {
        let rig = try await CLIRig.make()
        let extra = rig.dir.file("extra")
        try FileManager.default.createDirectory(atPath: extra + "/sub", withIntermediateDirectories: true)
        try "from the named context\n".write(toFile: extra + "/sub/note.txt", atomically: false, encoding: .utf8)
        try rig.dockerfile("""
            FROM BASE AS tools
            RUN echo original > /which

            FROM localimage AS aliased
            FROM files AS fromdir
            FROM tools
            COPY --from=files sub/note.txt /note.txt
            COPY --from=fromdir /sub/note.txt /again.txt
            COPY --from=aliased /bin/busybox /busybox-copy
            RUN cat /note.txt /again.txt /which
            """)
        // An OCI layout holding an image whose /which says so, to replace the `tools` stage.
        try "FROM BASE\nRUN echo replaced > /which\n".replacingOccurrences(of: "BASE", with: rig.base)
            .write(toFile: rig.dir.file("layoutctx/Dockerfile").creatingParent(), atomically: false, encoding: .utf8)
        _ = try await Self.build(rig, ["-o", "type=oci,dest=\(rig.dir.file("layout.tar")),name=tools:v1"], context: "layoutctx")
        try FileManager.default.createDirectory(atPath: rig.dir.file("layout"), withIntermediateDirectories: true)
        _ = try await ProcessRunner.run(["tar", "-xf", rig.dir.file("layout.tar"), "-C", rig.dir.file("layout")])
        let contexts = ["--build-context", "files=\(extra)", "--build-context", "localimage=docker-image://\(rig.base)"]
        let first = try await Self.build(rig, contexts)
        #expect(first.errorText.contains("from the named context") && first.errorText.contains("original"), "\(first.errorText)")
        let replaced = try await Self.build(rig, contexts + ["--build-context", "tools=oci-layout://\(rig.dir.file("layout")):v1"], root: "root2")
        #expect(replaced.errorText.contains("replaced") && !replaced.errorText.contains("original"), "\(replaced.errorText)")
        // The named directory keys the steps that read it by content.
        try "changed\n".write(toFile: extra + "/sub/note.txt", atomically: false, encoding: .utf8)
        let changed = try await Self.build(rig, contexts)
        #expect(changed.errorText.contains("changed") && !changed.errorText.contains("from the named context"), "\(changed.errorText)")
        try await BadInputTests.refused(["--build-context", "x=\(rig.dir.file("missing"))"], rig: rig, names: "--build-context x")
        try await BadInputTests.refused(["--build-context", "x=https://example.com/repo.git"], rig: rig, names: "not supported")
    }

    @Test func addHostPlatformAndPull() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN cat /etc/hosts; cat /version 2>/dev/null || echo no-version\n")
        let r = try await Self.build(rig, ["--add-host", "db.internal:10.9.8.7", "--add-host", "v6host=fd00::1", "--platform", "linux/amd64"])
        #expect(r.errorText.contains("10.9.8.7\tdb.internal") && r.errorText.contains("fd00::1\tv6host"), "\(r.errorText)")
        try await BadInputTests.refused(["--add-host", "db.internal:not-an-ip"], rig: rig, names: "--add-host")
        try await BadInputTests.refused(["--platform", "linux/arm64"], rig: rig, names: "--platform linux/arm64")
        try await BadInputTests.refused(["--platform", "linux//"], rig: rig, names: "--platform")
        // A base re-pushed under the same tag is what --pull builds on.
        let rootfs = rig.dir.file("rootfs")
        try "v2\n".write(toFile: rootfs + "/version", atomically: false, encoding: .utf8)
        var config = RegistryConfiguration()
        config.certsDirectory = nil
        _ = try await RegistryClient.withClient(configuration: config, credentials: AnonymousCredentials()) { client in
            try await TestImage.push(rootfs: rootfs, to: rig.base, client: client, scratch: rig.dir.path, env: ["PATH=/bin"])
        }
        let pulled = try await Self.build(rig, ["--pull"])
        #expect(pulled.errorText.contains(" v2"), "\(pulled.errorText)")
    }

    @Test func noCacheFilterRunsTheStageAndWhatDependsOnIt() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("""
            FROM BASE AS deps
            RUN echo deps-ran; echo d > /deps

            FROM BASE AS other
            RUN echo other-ran; echo o > /other

            FROM BASE
            COPY --from=deps /deps /deps
            COPY --from=other /other /other
            RUN echo final-ran
            """)
        _ = try await Self.build(rig, [])
        let again = try await Self.build(rig, ["--no-cache-filter", "deps"])
        // What ran printed its word on a log line (`#N 0.012 word`); cached steps only show their names.
        let ran = Set(again.errorText.split(separator: "\n").filter { !$0.contains(" RUN ") }.compactMap { $0.split(separator: " ").last })
        #expect(ran.contains("deps-ran") && ran.contains("final-ran"), "\(again.errorText)")
        #expect(!ran.contains("other-ran"), "a stage outside the filter ran: \(again.errorText)")
        try await BadInputTests.refused(["--no-cache-filter", "dpes"], rig: rig, names: "did you mean deps")
    }

    @Test func fromBusyboxBuildsThroughTheMirrorOfTheConfigurationFile() async throws {
        let rig = try await CLIRig.make()
        // The mirror holds Docker Hub's `library/busybox` under a path prefix; this machine has
        // no route to Docker Hub, so the build succeeds only through the mirror.
        _ = try await ProcessRunner.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                                         "docker://\(rig.base)", "docker://\(rig.registry.host)/hub/library/busybox:latest"])
        try "FROM busybox\nRUN echo via-mirror\n".write(toFile: rig.dir.file("ctx/Dockerfile"), atomically: false, encoding: .utf8)
        let config = rig.dir.file("kiln.toml")
        try "[registry.\"docker.io\"]\n  mirrors = [\"\(rig.registry.host)/hub\"]\n".write(toFile: config, atomically: false, encoding: .utf8)
        let r = try await Self.build(rig, [], environment: ["KILN_CONFIG": config])
        #expect(r.errorText.contains("via-mirror"), "\(r.errorText)")
        #expect(r.errorText.contains("from docker.io/library/busybox via mirror \(rig.registry.host)/hub/library/busybox"), "\(r.errorText)")
        try "[registry.\"docker.io\"]\n  mirrors = [\"\(rig.registry.host)/hub\"]\n  mirror = true\n".write(toFile: config, atomically: false, encoding: .utf8)
        let bad = try await KilnProcess.run(["build", "--root", rig.dir.file("root"), rig.dir.file("ctx")], environment: ["KILN_CONFIG": config])
        #expect(bad.status == 1 && bad.errorText == "error: \(config):3: unknown key 'mirror' in [registry.\"docker.io\"] (use mirrors, http, insecure or ca)",
                "\(bad.errorText)")
    }

    @Test func badFlagValuesAreRefusedNamingTheFlag() async throws {
        let rig = try await CLIRig.make()
        try rig.dockerfile("FROM BASE\nRUN true\n")
        try await BadInputTests.refused(["--label", "=v"], rig: rig, names: "--label '=v'")
        try await BadInputTests.refused(["--iidfile", rig.dir.file("no/such/dir/iid")], rig: rig, names: "--iidfile")
        try await BadInputTests.refused(["--no-cache-filter", ","], rig: rig, names: "--no-cache-filter")
        try await BadInputTests.refused(["--build-context", "noequals"], rig: rig, names: "--build-context 'noequals'")
    }
}

/// A failure of a test's own setup.
struct CLIRigError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension String {
    /// This path, after creating its parent directory.
    func creatingParent() throws -> String {
        try FileManager.default.createDirectory(atPath: FSPath.parent(self), withIntermediateDirectories: true)
        return self
    }
}
