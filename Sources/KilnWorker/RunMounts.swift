import CKilnSys
import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnStore
import KilnSystem

/// The host side of a RUN's `--mount`s: cache directories (with their locks), bind sources,
/// tmpfs and secrets, turned into runtime-spec mounts. ``release()`` undoes what preparing did.
final class PreparedMounts: @unchecked Sendable {
    // Owned by one RUN; created, used and released by that RUN only.
    private(set) var specMounts: [[String: JSONValue]] = []
    private(set) var targets: [String] = []
    private var lockFDs: [Int32] = []
    private var temporaries: [String] = []

    /// Prepares `mounts`; `bindSources` are the host directories of stage binds in order.
    init(_ mounts: [RunMount], store: ContentStore, context: String, stageSources: [String], secrets: [String: String]) throws {
        var stageIndex = 0
        for m in mounts {
            switch m.kind {
            case .cache:
                let id = m.id ?? m.target
                let dir = store.root + "/cache-mounts/" + Digest.of(Data(id.utf8)).encoded
                if !FileManager.default.fileExists(atPath: dir) {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    _ = lchown(dir, m.uid ?? 0, m.gid ?? 0)
                    _ = chmod(dir, mode_t(m.mode ?? 0o755))
                }
                var source = dir
                let lock = open(dir + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
                if lock >= 0 {
                    switch m.sharing {
                    case "locked":
                        _ = flock(lock, LOCK_EX)  // waits for the other build using this cache
                        lockFDs.append(lock)
                    case "private":
                        if flock(lock, LOCK_EX | LOCK_NB) == 0 {
                            lockFDs.append(lock)
                        } else {
                            // In use elsewhere: this RUN gets an empty directory of its own.
                            close(lock)
                            source = store.root + "/tmp/cache-private-" + UUID().uuidString
                            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
                            temporaries.append(source)
                        }
                    default:
                        _ = flock(lock, LOCK_SH)
                        lockFDs.append(lock)
                    }
                }
                specMounts.append(RuntimeSpec.mount(m.target, type: "bind", source: source, options: ["rbind", m.readOnly ? "ro" : "rw"]))
            case .bind:
                let root: String
                if m.from != nil {
                    guard stageIndex < stageSources.count else { throw WorkerError("mount from=\(m.from ?? ""): source not available") }
                    root = stageSources[stageIndex]
                    stageIndex += 1
                } else {
                    root = context
                }
                let rel = DockerIgnore.clean(m.source ?? "")
                // Resolved inside its own root: a link in the stage or context never reaches the host.
                var source: String
                do { source = try RootedDirectory(root).resolve(rel) } catch {
                    throw WorkerError("mount source \(rel.isEmpty ? "." : rel): not found")
                }
                if !m.readOnly {
                    // Writes to a rw bind are thrown away: give the step its own copy.
                    let copy = store.root + "/tmp/bind-" + UUID().uuidString
                    try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
                    temporaries.append(copy)
                    let p = Process()
                    p.executableURL = URL(fileURLWithPath: "/bin/cp")
                    p.arguments = ["-a", source, copy + "/src"]
                    try p.run()
                    p.waitUntilExit()
                    source = copy + "/src"
                }
                specMounts.append(RuntimeSpec.mount(m.target, type: "bind", source: source, options: ["rbind", m.readOnly ? "ro" : "rw"]))
            case .tmpfs:
                var options = ["nosuid", "nodev"]
                if let size = m.size { options.append("size=\(size)") }
                specMounts.append(RuntimeSpec.mount(m.target, type: "tmpfs", source: "tmpfs", options: options))
            case .secret:
                let id = m.id ?? FSPath.base(m.target)
                guard let path = secrets[id] else {
                    if m.required { throw WorkerError("secret \(id) is required but was not given (kiln build --secret id=\(id),src=FILE)") }
                    continue
                }
                // A private copy with the asked owner and mode, on tmpfs-like scratch, removed after the step.
                let dir = store.root + "/tmp/secret-" + UUID().uuidString
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                chmod(dir, 0o700)
                temporaries.append(dir)
                let file = dir + "/" + Digest.of(Data(id.utf8)).encoded.prefix(16)
                try FileManager.default.copyItem(atPath: path, toPath: file)
                _ = lchown(file, m.uid ?? 0, m.gid ?? 0)
                _ = chmod(file, mode_t(m.mode ?? 0o400))
                specMounts.append(RuntimeSpec.mount(m.target, type: "bind", source: file, options: ["rbind", "ro"]))
            }
            targets.append(String(m.target.dropFirst()))
        }
    }

    /// Releases cache locks and removes temporary copies (secrets included).
    func release() {
        for fd in lockFDs { flock(fd, LOCK_UN); close(fd) }
        lockFDs = []
        for t in temporaries { try? FileManager.default.removeItem(atPath: t) }
        temporaries = []
    }

    deinit { release() }
}
