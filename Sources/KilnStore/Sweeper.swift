import Foundation
import GRDB
import KilnSystem

/// Stops what dead kiln processes left running: the worker's containers.
public protocol AbandonedProcessReaper: Sendable {
    /// Removes every container under the state directory `root` whose claim id `isLive` says
    /// is not live; returns how many it removed.
    func reap(root: String, isLive: @escaping @Sendable (String) -> Bool) async -> Int
}

/// What a sweep removed.
public struct SweepReport: Sendable, Equatable, CustomStringConvertible {
    /// Claims of dead processes cleared.
    public var claims = 0
    /// Their containers killed and deleted.
    public var containers = 0
    /// Their mounts detached.
    public var mounts = 0
    /// Bytes of their temporary and partial files removed.
    public var bytes: Int64 = 0

    /// Whether nothing was left behind.
    public var isEmpty: Bool { claims == 0 && containers == 0 && mounts == 0 && bytes == 0 }

    /// One line for users.
    public var description: String {
        "cleaned up after \(claims) interrupted kiln process(es): \(containers) container(s), \(mounts) mount(s), \(bytes) bytes of temporary files"
    }
}

extension ContentStore {
    /// Finds and removes what dead kiln processes left under the root — their containers
    /// (through `reaper`), mounts, scratch and partial ingest files, leases — never touching
    /// what a live process holds. Every command on a root runs this first.
    public func sweepAbandoned(reaper: (any AbandonedProcessReaper)?) async -> SweepReport {
        let root = self.root
        var report = SweepReport()
        if let reaper, !((try? HostFiles.list(root + "/runc")) ?? []).isEmpty {
            report.containers = await reaper.reap(root: root) { StateClaim.isLive(root: root, id: $0) }
        }
        let dead = (try? await Self.fileWork { Self.clearAbandonedFiles(root: root) }) ?? (claims: [], mounts: 0, bytes: 0)
        report.claims = dead.claims.count
        report.mounts = dead.mounts
        report.bytes = dead.bytes
        if !dead.claims.isEmpty {
            _ = try? await writing { db in
                for id in dead.claims { try db.execute(sql: "DELETE FROM lease WHERE id = ?", arguments: [id]) }
            }
        }
        return report
    }

    /// The file part of a sweep: dead claims' directories, then directories of no live claim
    /// (earlier kiln versions, or a process killed between claiming and cleaning up).
    static func clearAbandonedFiles(root: String) -> (claims: [String], mounts: Int, bytes: Int64) {
        var ids: [String] = []
        var mounts = 0
        var bytes: Int64 = 0
        for (id, lock) in StateClaim.abandoned(root: root) {
            for dir in ["tmp", "ingest"] {
                mounts += MountTable.mounts(under: "\(root)/\(dir)/\(id)").count
                bytes += HostFiles.removeTree("\(root)/\(dir)/\(id)")
            }
            unlink(StateClaim.lockPath(root: root, id: id))
            close(lock)
            ids.append(id)
        }
        for dir in ["tmp", "ingest"] {
            for name in (try? HostFiles.list("\(root)/\(dir)")) ?? [] where !StateClaim.isLive(root: root, id: name) {
                let path = "\(root)/\(dir)/\(name)"
                var st = stat()
                // Loose ingest files of older versions are left to garbage collection's grace period.
                guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
                mounts += MountTable.mounts(under: path).count
                bytes += HostFiles.removeTree(path)
            }
        }
        for name in (try? HostFiles.list(root + "/snapshots")) ?? [] where name.hasPrefix(".tmp-") {
            bytes += HostFiles.removeTree(root + "/snapshots/" + name)
        }
        // A lock file of a process that died before renaming it into place (old enough that it
        // is not one being created right now, between its open and its flock).
        let now = time(nil)
        for name in (try? HostFiles.list(root + "/claims")) ?? [] where name.hasPrefix(".new-") {
            let fd = open("\(root)/claims/\(name)", O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var st = stat()
            if fstat(fd, &st) == 0, now - st.st_mtim.tv_sec > 60, flock(fd, LOCK_EX | LOCK_NB) == 0 { unlink("\(root)/claims/\(name)") }
            close(fd)
        }
        return (ids, mounts, bytes)
    }
}
