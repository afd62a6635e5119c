/// The platform an image runs on: `os/architecture[/variant]`.
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Operating system, e.g. `linux`.
    public var os: String
    /// CPU architecture in GOARCH terms, e.g. `amd64`, `arm64`.
    public var architecture: String
    /// Architecture variant, e.g. `v7` for arm.
    public var variant: String?
    /// OS version (Windows images).
    public var osVersion: String?
    /// Required OS features.
    public var osFeatures: [String]?

    enum CodingKeys: String, CodingKey {
        case os, architecture, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    /// A platform from its parts, normalised (`x86_64` → `amd64`, `aarch64` → `arm64`, …).
    public init(os: String, architecture: String, variant: String? = nil) {
        let (arch, v) = Platform.normalize(architecture: architecture.lowercased(), variant: variant?.lowercased())
        self.os = os.lowercased()
        self.architecture = arch
        self.variant = v
    }

    /// Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`, `linux/amd64`).
    public init(parsing string: String) throws(OCIError) {
        let parts = string.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw OCIError.invalidPlatform(string, reason: "expected os/arch[/variant]")
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_.-".utf8)
        guard parts.allSatisfy({ $0.lowercased().utf8.allSatisfy(allowed.contains) }) else {
            throw OCIError.invalidPlatform(string, reason: "only letters, digits, '.', '_' and '-' are allowed")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// The platform Kiln builds for by default.
    public static let linuxAMD64 = Platform(os: "linux", architecture: "amd64")

    /// The platform of this machine (what its RUN steps execute natively).
    public static var current: Platform {
        #if arch(x86_64)
        Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        Platform(os: "linux", architecture: "arm64", variant: "v8")
        #else
        Platform(os: "linux", architecture: "unknown")
        #endif
    }

    /// `os/arch[/variant]`.
    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }

    /// Whether an image for `candidate` can serve a request for `self`: same OS and architecture
    /// after normalisation, and the same variant unless this request names none.
    public func matches(_ candidate: Platform) -> Bool {
        let a = Platform(os: os, architecture: architecture, variant: variant)
        let b = Platform(os: candidate.os, architecture: candidate.architecture, variant: candidate.variant)
        return a.os == b.os && a.architecture == b.architecture && (a.variant == nil || a.variant == b.variant)
    }

    private static func normalize(architecture: String, variant: String?) -> (String, String?) {
        switch architecture {
        case "i386", "386": return ("386", nil)
        case "x86_64", "x86-64", "amd64": return ("amd64", variant == "v1" ? nil : variant)
        case "aarch64", "arm64": return ("arm64", (variant == "8" || variant == "v8") ? nil : variant)
        case "armhf": return ("arm", "v7")
        case "armel": return ("arm", "v6")
        case "arm":
            switch variant {
            case nil, "7", "v7": return ("arm", "v7")
            case "5", "6", "8": return ("arm", "v" + (variant ?? ""))
            default: return ("arm", variant)
            }
        default: return (architecture, variant)
        }
    }
}
