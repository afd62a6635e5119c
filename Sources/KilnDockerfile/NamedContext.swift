/// A `--build-context NAME=VALUE` source. It replaces the stage called NAME, and is what
/// `FROM NAME` and `COPY --from=NAME` read when no stage has that name.
public enum NamedContext: Sendable, Equatable {
    /// `docker-image://REF`: an image from a registry.
    case image(String)
    /// `oci-layout://PATH[:TAG|@DIGEST]`: an image in an OCI layout directory.
    case ociLayout(String)
    /// A local directory (absolute path), read like the build context.
    case directory(String)

    /// The reference a base image resolver is given for an image context (`oci-layout://…`
    /// kept whole); nil for a directory.
    public var imageReference: String? {
        switch self {
        case .image(let ref): ref
        case .ociLayout(let path): Self.ociLayoutScheme + path
        case .directory: nil
        }
    }

    /// An `oci-layout://` spec (the part after the scheme) as its directory and what names the
    /// image in it: `PATH@sha256:…`, `PATH:TAG` (a colon after the last slash), or `PATH` alone.
    public static func layoutParts(_ spec: String) -> (path: String, selector: String?) {
        if let at = spec.range(of: "@sha256:") { return (String(spec[..<at.lowerBound]), String(spec[spec.index(after: at.lowerBound)...])) }
        let lastSlash = spec.lastIndex(of: "/") ?? spec.startIndex
        if let colon = spec[lastSlash...].lastIndex(of: ":") { return (String(spec[..<colon]), String(spec[spec.index(after: colon)...])) }
        return (spec, nil)
    }

    /// `docker-image://`.
    public static let imageScheme = "docker-image://"
    /// `oci-layout://`.
    public static let ociLayoutScheme = "oci-layout://"
}

extension BuildPlanner {
    /// The named context `value` (a FROM image or a `--from`) stands for, if any.
    func namedContext(_ value: String) -> (name: String, context: NamedContext)? {
        if let c = options.namedContexts[value] { return (value, c) }
        let lower = value.lowercased()
        return options.namedContexts[lower].map { (lower, $0) }
    }

    /// Applies the named contexts to the raw stages: a stage with a context's name is replaced
    /// by it (its instructions dropped), and a FROM naming a context (not a stage) starts from it.
    func applyNamedContexts(_ raw: inout [RawStage]) {
        guard !options.namedContexts.isEmpty else { return }
        for i in raw.indices {
            let target: (name: String, context: NamedContext)
            if let n = raw[i].name, let c = options.namedContexts[n] {
                target = (n, c)
                raw[i].body = []
            } else if stageIndex(raw[i].image, before: i, in: raw) == nil, let found = namedContext(raw[i].image) {
                target = found
            } else {
                continue
            }
            if let ref = target.context.imageReference { raw[i].image = ref } else { raw[i].localContext = target.name }
        }
    }
}

extension CopyStep {
    /// The whole of the `--build-context` directory `name` copied to `/`: the filesystem of a
    /// stage that starts from it (`FROM name`).
    public static func wholeContext(_ name: String) -> CopyStep {
        CopyStep(isAdd: false, sources: ["."], heredocs: [], destination: "/", from: .named(name),
                 chown: nil, chmod: nil, link: false, exclude: [], workdir: "/")
    }
}
