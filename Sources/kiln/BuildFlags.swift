import Foundation
import KilnBuild
import KilnOCI

/// The values of `kiln build` flags, read and checked one at a time: each bad value is an
/// error naming the flag and the value.
enum BuildFlags {
    /// `KEY=VALUE`, or `KEY` alone to take it from the environment.
    static func buildArgs(_ specs: [String]) -> [String: String] {
        var args: [String: String] = [:]
        for a in specs {
            if let eq = a.firstIndex(of: "=") {
                args[String(a[..<eq])] = String(a[a.index(after: eq)...])
            } else if let v = ProcessInfo.processInfo.environment[a] {
                args[a] = v
            }
        }
        return args
    }

    /// `KEY=VALUE` with a non-empty key.
    static func keyValue(_ spec: String, flag: String) throws(CLIError) -> (String, String) {
        guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw CLIError(description: "invalid \(flag) '\(spec)': use KEY=VALUE") }
        return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
    }

    /// `--add-host HOST:IP` (or `HOST=IP`): the name and an IPv4 or IPv6 address.
    static func host(_ spec: String) throws(CLIError) -> (String, String) {
        guard let sep = spec.firstIndex(where: { $0 == "=" || $0 == ":" }), sep != spec.startIndex else {
            throw CLIError(description: "invalid --add-host '\(spec)': use HOST:IP")
        }
        let name = String(spec[..<sep])
        var address = String(spec[spec.index(after: sep)...])
        if address.hasPrefix("["), address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
        var v4 = in_addr(), v6 = in6_addr()
        guard inet_pton(AF_INET, address, &v4) == 1 || inet_pton(AF_INET6, address, &v6) == 1 else {
            throw CLIError(description: "invalid --add-host '\(spec)': '\(address)' is not an IP address")
        }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-._".contains($0) }) else {
            throw CLIError(description: "invalid --add-host '\(spec)': '\(name)' is not a host name")
        }
        return (name, address)
    }

    /// `--platform`: every platform listed must be this machine's (multi-platform builds are
    /// not supported yet).
    static func checkPlatform(_ spec: String) throws(CLIError) {
        let host = Platform.current
        for part in spec.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let p: Platform
            do { p = try Platform(parsing: part) } catch { throw CLIError(description: "invalid --platform '\(part)': \(error)") }
            guard host.matches(p) || p.matches(host) else {
                throw CLIError(description: "--platform \(part): only this machine's platform (\(host)) can be built; multi-platform builds are not supported yet")
            }
        }
    }

    /// `--build-context NAME=VALUE`: `docker-image://REF`, `oci-layout://PATH[:TAG|@DIGEST]`, or
    /// a local directory.
    static func namedContext(_ spec: String) throws(CLIError) -> (String, NamedContext) {
        guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
            throw CLIError(description: "invalid --build-context '\(spec)': use NAME=DIR, NAME=docker-image://REF or NAME=oci-layout://PATH")
        }
        let name = String(spec[..<eq]).lowercased()
        let value = String(spec[spec.index(after: eq)...])
        if value.hasPrefix(NamedContext.imageScheme) {
            let ref = String(value.dropFirst(NamedContext.imageScheme.count))
            do { _ = try Reference(parsing: ref) } catch { throw CLIError(description: "--build-context \(name): invalid image reference '\(ref)': \(error)") }
            return (name, .image(ref))
        }
        if value.hasPrefix(NamedContext.ociLayoutScheme) {
            let rest = String(value.dropFirst(NamedContext.ociLayoutScheme.count))
            let (path, selector) = NamedContext.layoutParts(rest)
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: absolute + "/index.json") else {
                throw CLIError(description: "--build-context \(name): \(path) is not an OCI layout (no index.json)")
            }
            return (name, .ociLayout(absolute + (selector.map { ($0.hasPrefix("sha256:") ? "@" : ":") + $0 } ?? "")))
        }
        if value.contains("://") || value.hasPrefix("git@") || value.hasPrefix("target:") {
            throw CLIError(description: "--build-context \(name): '\(value)' is not supported (use a directory, docker-image://REF or oci-layout://PATH)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: value, isDirectory: &isDir), isDir.boolValue else {
            throw CLIError(description: "--build-context \(name): \(value) is not a directory")
        }
        return (name, .directory(URL(fileURLWithPath: value).standardizedFileURL.path))
    }

    /// `--secret` values, read into memory (never written anywhere): `src=FILE` or `env=VAR`;
    /// at most 500 KiB each, as BuildKit allows.
    static func secrets(_ specs: [String]) throws -> BuildSecrets {
        var out = BuildSecrets()
        for spec in specs {
            let fields = try secretFields(spec)
            guard let id = fields["id"] else { throw CLIError(description: "invalid --secret '\(spec)': id= is required") }
            let value: [UInt8]
            if let src = fields["src"] ?? fields["source"] {
                guard let data = FileManager.default.contents(atPath: src) else { throw CLIError(description: "--secret id=\(id): cannot read \(src)") }
                value = Array(data)
            } else if let env = fields["env"] {
                guard let v = ProcessInfo.processInfo.environment[env] else {
                    throw CLIError(description: "--secret id=\(id): environment variable \(env) is not set")
                }
                value = Array(v.utf8)
            } else {
                throw CLIError(description: "invalid --secret '\(spec)': give src=FILE or env=VAR")
            }
            guard value.count <= 500 * 1024 else { throw CLIError(description: "--secret id=\(id): larger than 500 KiB") }
            out.values[id] = value
        }
        return out
    }

    private static func secretFields(_ spec: String) throws(CLIError) -> [String: String] {
        var fields: [String: String] = [:]
        for part in spec.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw CLIError(description: "invalid --secret '\(spec)': use id=NAME,src=FILE or id=NAME,env=VAR") }
            guard ["id", "src", "source", "env", "type"].contains(kv[0]) else {
                throw CLIError(description: "unknown key '\(kv[0])' in --secret '\(spec)' (use id, src or env)")
            }
            fields[kv[0]] = kv[1]
        }
        return fields
    }
}
