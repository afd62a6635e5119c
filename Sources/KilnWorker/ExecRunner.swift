import CKilnSys
import Foundation
import KilnArchive
import KilnDockerfile
import KilnOCI
import KilnSolver
import KilnStore
import KilnSystem

/// Runs a RUN step with runc on an overlayfs snapshot (or, where overlay cannot be mounted, on
/// a copy) and returns the change as a layer tar written by `pack`.
struct ExecRunner {
    let store: ContentStore
    let lower: String
    let op: ExecOp
    let mounts: PreparedMounts
    var run: RunStep { op.run }
    let report: @Sendable ([UInt8], Int) async -> Void

    /// Paths runc may create as mount points; they are not part of the step's change.
    static let mountPoints = ["proc", "dev", "sys", "etc/resolv.conf", "etc/hosts"]

    func execute(pack: @escaping @Sendable (_ upper: String, _ overlay: Bool, _ lower: String) throws -> LayerBlob?) async throws -> LayerBlob? {
        let work = store.newScratchPath("run")
        let upper = work + "/upper", scratch = work + "/work", merged = work + "/merged", bundle = work + "/bundle"
        for d in [upper, scratch, merged, bundle] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        var mounted = false
        defer {
            if mounted { _ = umount2(merged, Int32(MNT_DETACH)) }
            try? FileManager.default.removeItem(atPath: work)
        }
        let options = "lowerdir=\(lower),upperdir=\(upper),workdir=\(scratch)"
        let overlay = mount("overlay", merged, "overlay", 0, options) == 0
        if overlay {
            mounted = true
        } else {
            // Copying fallback: a full copy to run in, diffed against the snapshot afterwards.
            try await Subprocess.check(["cp", "-a", lower + "/.", merged + "/"])
        }
        let user = try Self.resolveUser(run.user, rootfs: merged)
        let workdir = FSPath.clean(run.workdir)
        _ = try? RootedDirectory(merged).makeDirectories(workdir)

        var env = run.env.map { "\($0.0)=\($0.1)" }
        for (k, v) in run.buildArgs where !run.env.contains(where: { $0.0 == k }) { env.append("\(k)=\(v)") }
        if !env.contains(where: { $0.hasPrefix("PATH=") }) { env.append("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") }
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=\(user.home)") }
        var spec = RuntimeSpec(args: op.argv, env: env, cwd: workdir, uid: user.uid, gid: user.gid,
                               additionalGids: user.groups, rootfs: merged, network: run.network ?? "default")
        spec.extraMounts = mounts.specMounts
        try spec.json().write(to: URL(fileURLWithPath: bundle + "/config.json"))

        let runc = Runc(root: store.root + "/runc")
        let (status, tail) = try await runc.run(bundle: bundle, id: Runc.containerID(claim: store.claim.id), report: report)
        if status != 0 {
            var message = "process \"\(op.argv.joined(separator: " "))\" did not complete successfully: exit code: \(status)"
            if !tail.isEmpty { message += "\n" + tail.joined(separator: "\n") }
            throw WorkerError(message)
        }
        if mounted {
            _ = umount2(merged, 0)
            mounted = false
            Self.removeMountArtifacts(Self.mountPoints + mounts.targets, in: upper, lower: lower)
            // /etc was copied up only to hold those mount points: if nothing else changed in
            // it, it is not part of the step's change.
            if FileManager.default.fileExists(atPath: lower + "/etc"), readXattr(upper + "/etc", "trusted.overlay.opaque") == nil {
                Self.removeIfEmpty(upper + "/etc")
            }
        } else {
            Self.removeMountArtifacts(Self.mountPoints + mounts.targets, in: merged, lower: lower)
        }
        let source = overlay ? upper : merged
        return try await BlockingIO.run { try pack(source, overlay, lower) }
    }

    /// Removes mount points runc had to create (and parents created for them) when the step
    /// left them empty: they are not part of the change. The step wrote `upper`, so no link in
    /// it is followed: a target under a symlink is left alone.
    static func removeMountArtifacts(_ targets: [String], in upper: String, lower: String) {
        for t in targets {
            var parts = FSPath.components(FSPath.relative(t))
            guard !parts.isEmpty, realDirectories(parts.dropLast(), under: upper) else { continue }
            while !parts.isEmpty, RootedDirectory(lower).lstat(parts.joined(separator: "/")) == nil {
                removeIfEmpty(upper + "/" + parts.joined(separator: "/"))
                parts.removeLast()
            }
        }
    }

    /// Whether every prefix of `parts` under `root` is a real directory (not a symlink).
    static func realDirectories(_ parts: ArraySlice<String>, under root: String) -> Bool {
        var path = root
        for p in parts {
            path += "/" + p
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return false }
        }
        return true
    }

    static func removeIfEmpty(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true { rmdir(path) }
        } else if (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0 {
            unlink(path)
        }
    }

    struct User {
        var uid: UInt32
        var gid: UInt32
        var groups: [UInt32]
        var home: String
    }

    /// `USER` as uid, gid, supplementary groups and home, from the image's passwd and group
    /// files (read inside the image: links in it never lead to the host's files).
    static func resolveUser(_ spec: String, rootfs: String) throws -> User {
        guard !spec.isEmpty else { return User(uid: 0, gid: 0, groups: [], home: "/root") }
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let image = RootedDirectory(rootfs)
        func read(_ file: String) -> String {
            (try? image.readFile(file)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        let passwd = read("/etc/passwd")
        let group = read("/etc/group")
        let users = passwd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
        let groups = group.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
        var uid: UInt32, gid: UInt32 = 0, home = "/", name = parts[0]
        if let entry = users.first(where: { $0.count >= 7 && ($0[0] == parts[0] || $0[2] == parts[0]) }) {
            uid = UInt32(entry[2]) ?? 0
            gid = UInt32(entry[3]) ?? 0
            home = entry[5]
            name = entry[0]
        } else if let n = UInt32(parts[0]) {
            uid = n
        } else {
            throw WorkerError("USER \(spec): no user '\(parts[0])' in /etc/passwd")
        }
        if parts.count > 1 {
            if let g = groups.first(where: { $0.count >= 3 && $0[0] == parts[1] }), let n = UInt32(g[2]) {
                gid = n
            } else if let n = UInt32(parts[1]) {
                gid = n
            } else {
                throw WorkerError("USER \(spec): no group '\(parts[1])' in /etc/group")
            }
        }
        let extra = groups.filter { $0.count >= 4 && $0[3].split(separator: ",").contains(Substring(name)) }.compactMap { UInt32($0[2]) }
        return User(uid: uid, gid: gid, groups: extra.filter { $0 != gid }, home: home)
    }
}
