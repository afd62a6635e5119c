import Foundation

/// An image configuration (OCI image spec "config", Docker image JSON).
///
/// The document is held as JSON so that every field — modelled or not (`Healthcheck`, `Shell`,
/// `OnBuild`, BuildKit's `moby.buildkit.cache.v0`, keys from future tools) — survives a
/// decode/encode round trip. Typed accessors read and write the fields Kiln works with.
public struct ImageConfig: Hashable, Sendable, Codable {
    /// The whole document.
    public var fields: [String: JSONValue]

    /// An empty config for `platform`.
    public init(platform: Platform = .linuxAMD64) {
        fields = [
            "architecture": .string(platform.architecture),
            "os": .string(platform.os),
            "rootfs": .object(["type": .string("layers"), "diff_ids": .array([])]),
            "config": .object([:]),
        ]
        if let v = platform.variant { fields["variant"] = .string(v) }
    }

    /// Wraps an already decoded document.
    public init(fields: [String: JSONValue]) { self.fields = fields }

    /// Decodes a config blob.
    public static func decode(_ data: Data) throws(OCIError) -> ImageConfig {
        let c = try CanonicalJSON.decode(ImageConfig.self, from: data, kind: "image config")
        if let ids = c.fields["rootfs"]?["diff_ids"], ids.stringArray == nil {
            throw OCIError.invalidDocument(kind: "image config", reason: "rootfs.diff_ids is not a list of strings")
        }
        return c
    }

    /// Decodes the top-level object.
    public init(from decoder: any Decoder) throws {
        fields = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    /// Encodes the top-level object.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(fields)
    }

    /// The canonical bytes of this config.
    public func encoded() throws -> Data { try CanonicalJSON.encode(self) }

    /// `architecture`.
    public var architecture: String? {
        get { fields["architecture"]?.stringValue }
        set { fields["architecture"] = newValue.map(JSONValue.string) }
    }

    /// `os`.
    public var os: String? {
        get { fields["os"]?.stringValue }
        set { fields["os"] = newValue.map(JSONValue.string) }
    }

    /// `variant`.
    public var variant: String? {
        get { fields["variant"]?.stringValue }
        set { fields["variant"] = newValue.map(JSONValue.string) }
    }

    /// The platform this config declares.
    public var platform: Platform {
        Platform(os: os ?? "linux", architecture: architecture ?? "amd64", variant: variant)
    }

    /// `created`, an RFC 3339 timestamp string as written.
    public var created: String? {
        get { fields["created"]?.stringValue }
        set { fields["created"] = newValue.map(JSONValue.string) }
    }

    /// `rootfs.diff_ids`.
    public var diffIDs: [Digest] {
        get {
            (fields["rootfs"]?["diff_ids"]?.stringArray ?? []).compactMap { try? Digest(parsing: $0) }
        }
        set {
            var rootfs = fields["rootfs"]?.objectValue ?? [:]
            rootfs["type"] = .string("layers")
            rootfs["diff_ids"] = .array(newValue.map { .string($0.description) })
            fields["rootfs"] = .object(rootfs)
        }
    }

    /// `history`, each entry kept whole.
    public var history: [HistoryEntry] {
        get { (fields["history"]?.arrayValue ?? []).compactMap { $0.objectValue.map(HistoryEntry.init(fields:)) } }
        set { fields["history"] = .array(newValue.map { .object($0.fields) }) }
    }

    /// The runtime part (`config`): Env, Cmd, Entrypoint and the rest.
    public var runtime: RuntimeConfig {
        get { RuntimeConfig(fields: fields["config"]?.objectValue ?? [:]) }
        set { fields["config"] = .object(newValue.fields) }
    }
}

/// The `config` object of an image config: what a container runtime uses to start the image.
/// Unknown keys are kept, like in ``ImageConfig``.
public struct RuntimeConfig: Hashable, Sendable {
    /// The whole object.
    public var fields: [String: JSONValue]

    /// Wraps an object.
    public init(fields: [String: JSONValue] = [:]) { self.fields = fields }

    private func strings(_ key: String) -> [String]? { fields[key]?.stringArray }
    private mutating func setStrings(_ key: String, _ value: [String]?) {
        fields[key] = value.map(JSONValue.init(strings:))
    }
    private mutating func setString(_ key: String, _ value: String?) {
        fields[key] = value.map(JSONValue.string)
    }

    /// `Env`, as `KEY=value` strings.
    public var env: [String]? {
        get { strings("Env") }
        set { setStrings("Env", newValue) }
    }

    /// `Cmd`.
    public var cmd: [String]? {
        get { strings("Cmd") }
        set { setStrings("Cmd", newValue) }
    }

    /// `Entrypoint`.
    public var entrypoint: [String]? {
        get { strings("Entrypoint") }
        set { setStrings("Entrypoint", newValue) }
    }

    /// `Shell`.
    public var shell: [String]? {
        get { strings("Shell") }
        set { setStrings("Shell", newValue) }
    }

    /// `OnBuild`.
    public var onBuild: [String]? {
        get { strings("OnBuild") }
        set { setStrings("OnBuild", newValue) }
    }

    /// `WorkingDir`.
    public var workingDir: String? {
        get { fields["WorkingDir"]?.stringValue }
        set { setString("WorkingDir", newValue) }
    }

    /// `User`.
    public var user: String? {
        get { fields["User"]?.stringValue }
        set { setString("User", newValue) }
    }

    /// `StopSignal`.
    public var stopSignal: String? {
        get { fields["StopSignal"]?.stringValue }
        set { setString("StopSignal", newValue) }
    }

    /// `Labels`.
    public var labels: [String: String]? {
        get { fields["Labels"]?.objectValue?.compactMapValues(\.stringValue) }
        set { fields["Labels"] = newValue.map { .object($0.mapValues(JSONValue.string)) } }
    }

    /// `ExposedPorts` keys, such as `80/tcp`.
    public var exposedPorts: [String]? {
        get { fields["ExposedPorts"]?.objectValue.map { $0.keys.sorted() } }
        set { fields["ExposedPorts"] = newValue.map { .object(Dictionary(uniqueKeysWithValues: $0.map { ($0, JSONValue.object([:])) })) } }
    }

    /// `Volumes` keys.
    public var volumes: [String]? {
        get { fields["Volumes"]?.objectValue.map { $0.keys.sorted() } }
        set { fields["Volumes"] = newValue.map { .object(Dictionary(uniqueKeysWithValues: $0.map { ($0, JSONValue.object([:])) })) } }
    }

    /// `Healthcheck`, kept as JSON.
    public var healthcheck: JSONValue? {
        get { fields["Healthcheck"] }
        set { fields["Healthcheck"] = newValue }
    }
}

/// One entry of an image config's `history`.
public struct HistoryEntry: Hashable, Sendable {
    /// The whole entry.
    public var fields: [String: JSONValue]

    /// Wraps an entry object.
    public init(fields: [String: JSONValue]) { self.fields = fields }

    /// An entry with the common fields.
    public init(created: String?, createdBy: String?, comment: String? = nil, emptyLayer: Bool = false) {
        var f: [String: JSONValue] = [:]
        if let created { f["created"] = .string(created) }
        if let createdBy { f["created_by"] = .string(createdBy) }
        if let comment { f["comment"] = .string(comment) }
        if emptyLayer { f["empty_layer"] = .bool(true) }
        fields = f
    }

    /// `created`.
    public var created: String? { fields["created"]?.stringValue }
    /// `created_by`.
    public var createdBy: String? { fields["created_by"]?.stringValue }
    /// `empty_layer`: the step changed only metadata.
    public var emptyLayer: Bool { fields["empty_layer"]?.boolValue ?? false }
}
