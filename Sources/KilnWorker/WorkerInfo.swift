import Foundation

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
    public static func probe(scratch: String) -> Probe {
        let base = scratch + "/probe-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        for d in ["l", "u", "w", "m"] { try? FileManager.default.createDirectory(atPath: base + "/" + d, withIntermediateDirectories: true) }
        let ok = mount("overlay", base + "/m", "overlay", 0, "lowerdir=\(base)/l,upperdir=\(base)/u,workdir=\(base)/w") == 0
        let err = ok ? "" : String(cString: strerror(errno))
        if ok { umount2(base + "/m", 0) }
        var runc: String?
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["runc", "--version"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        if (try? p.run()) != nil {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            if p.terminationStatus == 0 { runc = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) }
        }
        return Probe(overlay: ok, overlayError: err, runc: runc)
    }
}
