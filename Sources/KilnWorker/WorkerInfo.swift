import Foundation
import KilnSystem

/// What the worker can use on this machine.
public enum WorkerInfo {
    /// Probe results.
    public struct Probe: Sendable {
        /// Whether an overlay mount works (else the copying snapshotter is used).
        public var overlay: Bool
        /// Why overlay failed.
        public var overlayError: String
        /// `runc --version` first line.
        public var runc: String?
    }

    /// Tries an overlay mount under `scratch` and looks for runc.
    public static func probe(scratch: String) async -> Probe {
        let base = scratch + "/probe-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        for d in ["l", "u", "w", "m"] { try? FileManager.default.createDirectory(atPath: base + "/" + d, withIntermediateDirectories: true) }
        let ok = mount("overlay", base + "/m", "overlay", 0, "lowerdir=\(base)/l,upperdir=\(base)/u,workdir=\(base)/w") == 0
        let err = ok ? "" : String(cString: strerror(errno))
        if ok { umount2(base + "/m", 0) }
        let version = try? await Subprocess.run(["runc", "--version"])
        let runc = version.flatMap { $0.status == 0 ? $0.text.split(separator: "\n").first.map(String.init) : nil }
        return Probe(overlay: ok, overlayError: err, runc: runc)
    }
}
