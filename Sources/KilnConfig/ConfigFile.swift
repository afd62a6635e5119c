import Foundation
import KilnOCI
import KilnRegistry
import TOMLKit

/// A configuration file that cannot be used: the path, the line when known, what is wrong.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// The file.
    public var path: String
    /// The 1-based line, when the problem has one.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// `PATH:LINE: message`.
    public var description: String { path + (line.map { ":\($0)" } ?? "") + ": " + message }
}

/// Kiln's configuration file (`$KILN_CONFIG`, default `/etc/kiln/kiln.toml`), in buildkitd.toml's
/// syntax for the part it shares: `[registry."HOST"]` sections with `mirrors`, `http`,
/// `insecure` and `ca`. Anything else is an error naming its line: a typo must not be ignored.
public struct ConfigFile: Sendable, Equatable {
    /// The registries' settings, by host as written.
    public var registries: [String: HostSettings] = [:]

    /// Where the file is looked for when `KILN_CONFIG` is not set.
    public static let defaultPath = "/etc/kiln/kiln.toml"

    /// An empty configuration.
    public init() {}

    /// The file `KILN_CONFIG` names (it must exist), else the default one if it exists.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> ConfigFile {
        if let explicit = environment["KILN_CONFIG"], !explicit.isEmpty {
            return try read(explicit)
        }
        guard FileManager.default.fileExists(atPath: defaultPath) else { return ConfigFile() }
        return try read(defaultPath)
    }

    /// Reads and checks the file at `path`.
    public static func read(_ path: String) throws(ConfigError) -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(path: path, line: nil, message: "cannot read the configuration file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(path: path, line: nil, message: "not UTF-8 text")
        }
        return try ConfigFile(parsing: text, path: path)
    }

    /// Parses `text` (the contents of `path`, for messages).
    public init(parsing text: String, path: String) throws(ConfigError) {
        let lines = SourceLines(text)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(path: path, line: e.source.begin.line, message: "malformed TOML: \(e.description)")
        } catch {
            throw ConfigError(path: path, line: nil, message: "malformed TOML: \(error)")
        }
        func fail(_ line: Int?, _ message: String) -> ConfigError { ConfigError(path: path, line: line, message: message) }
        for key in table.keys.sorted() where key != "registry" {
            throw fail(lines.topLevel(key), "unknown key '\(key)' (kiln.toml takes [registry.\"HOST\"] sections)")
        }
        guard let registry = table["registry"] else { return }
        guard let hosts = registry.table else { throw fail(lines.topLevel("registry"), "'registry' must be a table of [registry.\"HOST\"] sections") }
        for host in hosts.keys.sorted() {
            guard let section = hosts[host]?.table else { throw fail(lines.topLevel("registry"), "registry.\"\(host)\" must be a table") }
            registries[host] = try Self.hostSettings(section, host: host, lines: lines, fail: fail)
        }
    }

    private static func hostSettings(_ section: TOMLTable, host: String, lines: SourceLines,
                                     fail: (Int?, String) -> ConfigError) throws(ConfigError) -> HostSettings {
        var settings = HostSettings()
        for key in section.keys.sorted() {
            let line = lines.key(key, inRegistry: host)
            guard let value = section[key] else { continue }
            switch key {
            case "mirrors":
                settings.mirrors = try strings(value, key: key, line: line, fail: fail)
                for m in settings.mirrors where m.isEmpty || m.contains("://") || m.contains(" ") {
                    throw fail(line, "mirrors: '\(m)' is not a registry host (HOST[:PORT][/PREFIX], no scheme)")
                }
            case "http":
                guard let b = value.bool else { throw fail(line, "http must be true or false") }
                settings.plainHTTP = b
            case "insecure":
                guard let b = value.bool else { throw fail(line, "insecure must be true or false") }
                settings.skipVerify = b
            case "ca":
                settings.caFiles = try strings(value, key: key, line: line, fail: fail)
                for f in settings.caFiles where !FileManager.default.isReadableFile(atPath: f) {
                    throw fail(line, "ca: cannot read \(f)")
                }
            case "keypair":
                throw fail(line, "registry.\"\(host)\": keypair (client certificates) is not supported")
            default:
                throw fail(line, "unknown key '\(key)' in [registry.\"\(host)\"] (use mirrors, http, insecure or ca)")
            }
        }
        return settings
    }

    /// A string or an array of strings.
    private static func strings(_ value: any TOMLValueConvertible, key: String, line: Int?,
                                fail: (Int?, String) -> ConfigError) throws(ConfigError) -> [String] {
        if let s = value.string { return [s] }
        guard let array = value.array else { throw fail(line, "\(key) must be an array of strings") }
        var out: [String] = []
        for element in array {
            guard let s = element.string else { throw fail(line, "\(key) must be an array of strings") }
            out.append(s)
        }
        return out
    }

    /// The registry settings these sections describe, over `base` (flags and defaults).
    public func apply(to base: RegistryConfiguration) -> RegistryConfiguration {
        var c = base
        for (host, s) in registries { c.hosts[host] = s }
        return c
    }
}
