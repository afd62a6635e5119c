import Foundation
import KilnOCI

/// The OCI runtime spec (`config.json`) for one RUN step, as runc reads it.
struct RuntimeSpec {
    var args: [String]
    var env: [String]
    var cwd: String
    var uid: UInt32
    var gid: UInt32
    var additionalGids: [UInt32]
    var rootfs: String
    var network: String
    var hostname = "kiln"
    /// The `/etc/hosts` the step sees (made for it: localhost and its hostname).
    var hostsFile: String?
    var extraMounts: [[String: JSONValue]] = []

    /// Docker's default capability set: what RUN steps expect to have (chown, setuid, mknod…).
    static let capabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

    static func mount(_ destination: String, type: String, source: String, options: [String]) -> [String: JSONValue] {
        ["destination": .string(destination), "type": .string(type), "source": .string(source), "options": JSONValue(strings: options)]
    }

    func json() throws -> Data {
        let caps = JSONValue(strings: Self.capabilities)
        var namespaces: [JSONValue] = ["pid", "ipc", "uts", "mount"].map { .object(["type": .string($0)]) }
        if network == "none" { namespaces.append(.object(["type": .string("network")])) }
        var mounts: [[String: JSONValue]] = [
            Self.mount("/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Self.mount("/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Self.mount("/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Self.mount("/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Self.mount("/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Self.mount("/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        ]
        if FileManager.default.fileExists(atPath: "/etc/resolv.conf") {
            mounts.append(Self.mount("/etc/resolv.conf", type: "bind", source: "/etc/resolv.conf", options: ["rbind", "ro"]))
        }
        if let hostsFile { mounts.append(Self.mount("/etc/hosts", type: "bind", source: hostsFile, options: ["rbind", "ro"])) }
        mounts += extraMounts
        let spec: [String: JSONValue] = [
            "ociVersion": .string("1.0.2"),
            "process": .object([
                "terminal": .bool(false),
                "user": .object(["uid": .int(Int64(uid)), "gid": .int(Int64(gid)),
                                 "additionalGids": .array(additionalGids.map { .int(Int64($0)) })]),
                "args": JSONValue(strings: args),
                "env": JSONValue(strings: env),
                "cwd": .string(cwd),
                "capabilities": .object(["bounding": caps, "effective": caps, "permitted": caps]),
                "noNewPrivileges": .bool(false),
            ]),
            "root": .object(["path": .string(rootfs), "readonly": .bool(false)]),
            "hostname": .string(hostname),
            "mounts": .array(mounts.map { .object($0) }),
            "linux": .object([
                "namespaces": .array(namespaces),
                "maskedPaths": JSONValue(strings: ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                                                   "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]),
                "readonlyPaths": JSONValue(strings: ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]),
            ]),
        ]
        return try CanonicalJSON.encode(spec)
    }
}
