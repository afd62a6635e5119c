import Foundation
import KilnSystem

/// A live kiln process's claim on a state directory: an exclusive `flock` on
/// `claims/<id>.lock`, held for the life of the process and released by the kernel however the
/// process ends (even `kill -9`), and the scratch and ingest directories that belong to this
/// process alone. What a dead process left behind is found through claims whose lock nobody
/// holds (``ContentStore/sweepAbandoned(reaper:)``); leases taken under a claim last exactly as
/// long as its process.
public final class StateClaim: Sendable {
    /// Unique id of the claim (also the prefix of this process's runc containers).
    public let id: String
    /// The state directory.
    public let root: String
    private let fd: Int32
    private let released = OnceFlag()

    /// Per-process temporary files: run directories, staging trees, mount copies.
    public var scratch: String { root + "/tmp/" + id }
    /// Per-process partial downloads and layers.
    public var ingest: String { root + "/ingest/" + id }

    /// Claims `root`: the lock is taken under a temporary name and renamed into place, so a
    /// janitor never sees a claim file that is not locked yet.
    public init(root: String) throws(StoreError) {
        self.root = root
        id = String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))
        let dir = root + "/claims"
        let staging = "\(dir)/.new-\(id)"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw StoreError.io(path: dir, reason: error.localizedDescription)
        }
        let fd = open(staging, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.io(path: staging, reason: errnoText(errno)) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, rename(staging, Self.lockPath(root: root, id: id)) == 0 else {
            let e = errno
            close(fd)
            unlink(staging)
            throw StoreError.io(path: staging, reason: errnoText(e))
        }
        self.fd = fd
        // Root only: a build's scratch holds mounted root filesystems, set-uid files included.
        for d in [scratch, ingest] {
            do {
                try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                release()
                throw StoreError.io(path: d, reason: error.localizedDescription)
            }
        }
    }

    static func lockPath(root: String, id: String) -> String { "\(root)/claims/\(id).lock" }

    /// Ends the claim: its scratch and ingest directories are removed (mounts below them
    /// detached first), then the lock is dropped. Idempotent; also run on deinit.
    public func release() {
        guard released.set() else { return }
        HostFiles.removeTree(scratch)
        HostFiles.removeTree(ingest)
        unlink(Self.lockPath(root: root, id: id))
        close(fd)
    }

    deinit { release() }

    /// Ids of the claims under `root` whose process is gone, each returned with its lock now
    /// held by the caller (close the descriptor when done with the claim's leftovers).
    static func abandoned(root: String) -> [(id: String, lock: Int32)] {
        let dir = root + "/claims"
        var out: [(String, Int32)] = []
        for name in (try? HostFiles.list(dir)) ?? [] where name.hasSuffix(".lock") {
            let fd = open(dir + "/" + name, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                out.append((String(name.dropLast(5)), fd))
            } else {
                close(fd)
            }
        }
        return out
    }

    /// Whether the claim `id` under `root` belongs to a live process.
    static func isLive(root: String, id: String) -> Bool {
        let fd = open(lockPath(root: root, id: id), O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0
    }
}
