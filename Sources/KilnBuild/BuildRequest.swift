import Foundation
import KilnCache
import KilnDockerfile
import KilnExport
import KilnOCI
import KilnSolver
import KilnWorker

/// How a build's result leaves it besides the local cache.
public enum BuildOutput: Sendable, Equatable {
    /// The image, pushed to `refs` when `push` (else only assembled, for `--metadata-file`).
    case image(refs: [Reference], push: Bool, options: ImageOutputOptions)
    /// The final filesystem, written into a directory.
    case local(dest: String)
    /// The final filesystem as a tar file (`-` for stdout).
    case tar(dest: String)
    /// An OCI image layout tar, its image named `names`.
    case oci(dest: String, names: [String])
    /// A docker-archive tar (`docker load`), its image named `names`.
    case docker(dest: String, names: [String])

    /// The output of `-o SPEC` (buildx's CSV syntax); `tags` are the build's `-t` names, used
    /// where the spec names no image.
    public init(parsing spec: String, tags: [Reference]) throws(ExportError) {
        let o = try OutputSpec(parsing: spec)
        let dest = o.attributes["dest"] ?? ""
        let names = (o.attributes["name"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        switch o.type {
        case "image", "registry":
            let refs: [Reference]
            do { refs = try names.isEmpty ? tags : names.map { try Reference(parsing: $0) } } catch {
                throw ExportError("output \(spec): \(error)")
            }
            guard !refs.isEmpty else { throw ExportError("output type=\(o.type) needs name= or -t") }
            self = .image(refs: refs, push: o.type == "registry" || o.attributes["push"] == "true",
                          options: try ImageOutputOptions(attributes: o.attributes))
        case "local": self = .local(dest: dest)
        case "tar": self = .tar(dest: dest)
        case "oci": self = .oci(dest: dest, names: names.isEmpty ? tags.map(\.description) : names)
        default: self = .docker(dest: dest, names: names.isEmpty ? tags.map(\.description) : names)
        }
    }

    /// The file or directory it writes, if any.
    public var destination: String? {
        switch self {
        case .image: nil
        case .local(let d), .tar(let d), .oci(let d, _), .docker(let d, _): d
        }
    }
}

/// A `--cache-to` target (see ``BuildRequest/cacheExport(parsing:)``).
public typealias CacheExportTarget = KilnCache.CacheExportTarget
/// A `--cache-from` source (see ``BuildRequest/cacheImport(parsing:)``).
public typealias CacheImportSource = KilnCache.CacheImportSource
/// Secrets for `RUN --mount=type=secret` (held in memory).
public typealias BuildSecrets = KilnWorker.BuildSecrets
/// How an image output encodes the image.
public typealias ImageOutputOptions = KilnExport.ImageOutputOptions
/// `--annotation`s.
public typealias ImageAnnotations = KilnExport.ImageAnnotations
/// A `--build-context` source.
public typealias NamedContext = KilnDockerfile.NamedContext

/// Everything one build is asked to do: the Dockerfile and its context, the arguments, where
/// the result goes and which caches it reads and writes. A value: the CLI fills it from flags,
/// tests and other clients build it directly, and ``BuildSession/build(_:progress:)`` runs it.
public struct BuildRequest: Sendable {
    /// The build context directory (absolute).
    public var context: String
    /// The Dockerfile's text.
    public var dockerfile: String
    /// Its file name (errors name it; `NAME.dockerignore` is looked for beside it).
    public var dockerfileName: String = "Dockerfile"
    /// `--build-arg`s.
    public var buildArgs: [String: String] = [:]
    /// `--target`: the stage to build (default: the last).
    public var target: String?
    /// `--network` for RUN steps that give none.
    public var network: String?
    /// `--no-cache`: run every step.
    public var noCache = false
    /// Say why each step that runs missed the cache (`--explain`).
    public var explain = false
    /// `SOURCE_DATE_EPOCH`: clamps file and history times; part of every key.
    public var sourceDateEpoch: Int64?
    /// `--secret`s.
    public var secrets = BuildSecrets()
    /// `-t` names (used by outputs that name no image of their own).
    public var tags: [Reference] = []
    /// Where the result goes.
    public var outputs: [BuildOutput] = []
    /// `--cache-from` sources, read before the build.
    public var cacheImports: [CacheImportSource] = []
    /// `--cache-to` targets, written after it.
    public var cacheExports: [CacheExportTarget] = []
    /// How long one cache source may take before the build goes on without it.
    public var cacheImportBudget: Duration = .seconds(15)
    /// Whether the image config is wanted even without an image output (`--metadata-file`).
    public var assembleImage = false
    /// `--label`s for the image, over the Dockerfile's.
    public var labels: [(String, String)] = []
    /// `--annotation`s for the image's manifest (and an index over it when they ask for one).
    public var annotations = ImageAnnotations()
    /// `--build-context` sources by name.
    public var namedContexts: [String: NamedContext] = [:]
    /// `--add-host` entries (name, address) for every RUN's `/etc/hosts`.
    public var extraHosts: [(String, String)] = []
    /// `--no-cache-filter`: stages whose steps always run.
    public var noCacheStages: [String] = []

    /// A request to build `dockerfile` in `context`.
    public init(context: String, dockerfile: String) {
        self.context = context
        self.dockerfile = dockerfile
    }

    /// Parses a `--cache-to` value (buildx's CSV syntax); unknown keys are refused.
    public static func cacheExport(parsing spec: String) throws(CacheSpecError) -> CacheExportTarget { try CacheSpec.export(spec) }

    /// Parses a `--cache-from` value (a bare reference means `type=registry,ref=REF`).
    public static func cacheImport(parsing spec: String) throws(CacheSpecError) -> CacheImportSource { try CacheSpec.import(spec) }
}

extension BuildRequest {
    /// The `--build-context` directories, as contexts (each with its own `.dockerignore`).
    var localContexts: [String: BuildContext] {
        var out: [String: BuildContext] = [:]
        for (name, c) in namedContexts { if case .directory(let d) = c { out[name] = BuildContext(directory: d, dockerfileName: "Dockerfile") } }
        return out
    }
}
