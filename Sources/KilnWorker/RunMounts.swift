import CKilnSys
import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnStore
import KilnSystem
import Synchronization

/// The cache mount ids a `--no-cache` build has started afresh: the first RUN of the build
/// that mounts one gets it empty.
public final class FreshCacheMounts: Sendable {
    private let seen = Mutex(Set<String>())

    /// An empty record.
    public init() {}

    /// True the first time `id` is asked about.
    func firstUse(_ id: String) -> Bool { seen.withLock { $0.insert(id).inserted } }
}

/// Secrets given to a build (`kiln build --secret`), held in memory only: a RUN that mounts
/// one gets it on a tmpfs of its own, which is unmounted after the step (and by the next kiln's
/// sweep if this process is killed), so a secret never reaches a disk.
public struct BuildSecrets: Sendable {
    /// Secret bytes by id.
    public var values: [String: [UInt8]]

    /// Secrets from values.
    public init(_ values: [String: [UInt8]] = [:]) { self.values = values }

    /// Secrets read from files (`id → path`).
    public init(files: [String: String]) throws {
        var values: [String: [UInt8]] = [:]
        for (id, path) in files {
            guard let data = FileManager.default.contents(atPath: path) else { throw WorkerError("secret \(id): cannot read \(path)") }
            values[id] = Array(data)
        }
        self.values = values
    }
}

/// The host side of a RUN's `--mount`s: cache directories (with their locks), bind sources,
/// tmpfs and secrets, turned into runtime-spec mounts. ``release()`` undoes what preparing did.
final class PreparedMounts: @unchecked Sendable {
    // Owned by one RUN; created, used and released by that RUN only.
    private(set) var specMounts: [[String: JSONValue]] = []
    private(set) var targets: [String] = []
    /// Secrets asked for as environment variables (`env=`), name and value.
    private(set) var secretEnv: [(String, String)] = []
    /// The build's record of cache mounts already started afresh (`--no-cache`).
    private var fresh: FreshCacheMounts?
    /// Cache mount contents imported with the build cache.
    private var seeds: CacheMountSeeds?
    private var lockFDs: [Int32] = []
    private var temporaries: [String] = []
    private var tmpfsMounts: [String] = []
    private let store: ContentStore

    private init(store: ContentStore) { self.store = store }

    /// Prepares `mounts`; `stageSources` are the host directories of stage binds in order. What
    /// was prepared before a failure (or a cancellation) is released before the error is thrown.
    static func prepare(_ mounts: [RunMount], store: ContentStore, context: String, stageSources: [String],
                        secrets: BuildSecrets, fresh: FreshCacheMounts? = nil, seeds: CacheMountSeeds? = nil) async throws -> PreparedMounts {
        let prepared = PreparedMounts(store: store)
        prepared.fresh = fresh
        prepared.seeds = seeds
        do {
            var stageIndex = 0
            for m in mounts {
                switch m.kind {
                case .cache: try await prepared.cache(m)
                case .bind:
                    let root: String
                    if m.from != nil {
                        guard stageIndex < stageSources.count else { throw WorkerError("mount from=\(m.from ?? ""): source not available") }
                        root = stageSources[stageIndex]
                        stageIndex += 1
                    } else {
                        root = context
                    }
                    try await prepared.bind(m, root: root)
                case .tmpfs:
                    var options = ["nosuid", "nodev"]
                    if let size = m.size { options.append("size=\(size)") }
                    prepared.specMounts.append(RuntimeSpec.mount(m.target, type: "tmpfs", source: "tmpfs", options: options))
                case .secret:
                    guard try prepared.secret(m, secrets: secrets) else { continue }
                }
                prepared.targets.append(String(m.target.dropFirst()))
            }
        } catch {
            prepared.release()
            throw error
        }
        return prepared
    }

    /// A cache directory shared between builds on this root, locked for this step as its
    /// `sharing` asks; the lock is waited for without holding a thread, and is taken before the
    /// directory is (re)made, so a concurrent prune never removes it under the step.
    private func cache(_ m: RunMount) async throws {
        let id = m.id ?? m.target
        let dir = store.cacheMountDirectory(id: id)
        try FileManager.default.createDirectory(atPath: FSPath.parent(dir), withIntermediateDirectories: true)
        let lock = open(dir + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw WorkerError("cache mount \(id): \(dir).lock: \(errnoText(errno))") }
        var source = dir
        switch m.sharing {
        case "locked":
            do { try await Self.waitForLock(lock, LOCK_EX) } catch { close(lock); throw error }  // waits for the other build
            lockFDs.append(lock)
        case "private" where flock(lock, LOCK_EX | LOCK_NB) != 0:
            // In use elsewhere: this RUN gets an empty directory of its own.
            close(lock)
            source = store.newScratchPath("cache-private")
            temporaries.append(source)
        case "private":
            lockFDs.append(lock)
        default:
            do { try await Self.waitForLock(lock, LOCK_SH) } catch { close(lock); throw error }
            lockFDs.append(lock)
        }
        if source == dir { futimens(lock, nil) }  // last use, for `kiln prune --filter until=`
        if source == dir, let fresh, fresh.firstUse(id), flock(lock, LOCK_EX | LOCK_NB) == 0 {
            // --no-cache: this build starts the cache afresh (unless another build is using it);
            // what it leaves is the cache after.
            let old = store.newScratchPath("cache-old")
            if rename(dir, old) == 0 { temporaries.append(old) }
            if m.sharing == "shared" { flock(lock, LOCK_SH) }
        }
        // A cache this root has never had starts from the one imported with the build cache.
        if source == dir, fresh == nil, !FileManager.default.fileExists(atPath: source), let seeds {
            _ = try await seeds.populate(dir, id: id, store: store)
        }
        if !FileManager.default.fileExists(atPath: source) {
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            _ = lchown(source, m.uid ?? 0, m.gid ?? 0)
            _ = chmod(source, mode_t(m.mode ?? 0o755))
        }
        specMounts.append(RuntimeSpec.mount(m.target, type: "bind", source: source, options: ["rbind", m.readOnly ? "ro" : "rw"]))
    }

    /// Takes `flock(operation)` on `fd`, polling without blocking a thread; cancellable.
    static func waitForLock(_ fd: Int32, _ operation: Int32) async throws {
        while flock(fd, operation | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw WorkerError("flock: \(errnoText(errno))") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Files from the context or a stage, resolved inside that root; a writable bind gets a
    /// copy of its own (writes to it are thrown away).
    private func bind(_ m: RunMount, root: String) async throws {
        let rel = DockerIgnore.clean(m.source ?? "")
        var source: String
        do { source = try RootedDirectory(root).resolve(rel) } catch {
            throw WorkerError("mount source \(rel.isEmpty ? "." : rel): not found")
        }
        if !m.readOnly {
            let copy = store.newScratchPath("bind")
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            temporaries.append(copy)
            try await Subprocess.check(["cp", "-a", source, copy + "/src"])
            source = copy + "/src"
        }
        specMounts.append(RuntimeSpec.mount(m.target, type: "bind", source: source, options: ["rbind", m.readOnly ? "ro" : "rw"]))
    }

    /// The secret on a tmpfs of this step's own, with the asked owner and mode, and in the
    /// environment variable `env=` names; false when no file is mounted (not given and not
    /// required, or only `env=` without a target).
    private func secret(_ m: RunMount, secrets: BuildSecrets) throws -> Bool {
        let id = m.id ?? FSPath.base(m.target)
        guard let value = secrets.values[id] else {
            if m.required { throw WorkerError("secret \(id) is required but was not given (kiln build --secret id=\(id),src=FILE)") }
            return false
        }
        if let name = m.env { secretEnv.append((name, String(decoding: value, as: UTF8.self))) }
        guard m.env == nil || m.targetGiven else { return false }
        let dir = try privateDirectory(bytes: value.count, purpose: "secret \(id)")
        let file = dir + "/" + Digest.of(Data(id.utf8)).encoded.prefix(16)
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o400)
        guard fd >= 0 else { throw WorkerError("secret \(id): \(errnoText(errno))") }
        let written = value.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == value.count else { throw WorkerError("secret \(id): cannot write it to its tmpfs") }
        _ = lchown(file, m.uid ?? 0, m.gid ?? 0)
        _ = chmod(file, mode_t(m.mode ?? 0o400))
        specMounts.append(RuntimeSpec.mount(m.target, type: "bind", source: file, options: ["rbind", "ro"]))
        return true
    }

    /// A fresh directory on a tmpfs of its own (mode 0700, room for `bytes`), unmounted and
    /// removed by ``release()``: what is written there never reaches a disk.
    func privateDirectory(bytes: Int, purpose: String) throws -> String {
        let dir = store.newScratchPath("secret")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        temporaries.append(dir)
        let size = max(4096, (bytes + 4095) / 4096 * 4096)
        guard mount("tmpfs", dir, "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), "mode=0700,size=\(size)") == 0 else {
            throw WorkerError("\(purpose): cannot mount a tmpfs for it: \(errnoText(errno))")
        }
        tmpfsMounts.append(dir)
        return dir
    }

    /// Releases cache locks, unmounts secret tmpfs mounts and removes temporary copies.
    func release() {
        for fd in lockFDs { flock(fd, LOCK_UN); close(fd) }
        lockFDs = []
        for dir in tmpfsMounts { umount2(dir, Int32(MNT_DETACH)) }
        tmpfsMounts = []
        for t in temporaries { HostFiles.removeTree(t) }
        temporaries = []
    }

    deinit { release() }
}
