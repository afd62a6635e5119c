import CKilnSys
import Foundation
import KilnDockerfile
import KilnSolver
import KilnSystem

/// One COPY/ADD resolved against its filesystems — sources found, destination decided, owner
/// known — and what it writes into a staging tree: the sources (archives extracted for ADD),
/// downloaded files, heredocs.
struct CopyJob: Sendable {
    let copy: CopyStep
    let sources: [CopySource]
    let sourceRoot: String
    /// The filesystem being changed (existing parents keep their metadata; symlinks lead).
    let reference: RootedDirectory?
    let owner: (uid: uid_t, gid: gid_t)?
    let filter: CopyFilter
    /// Downloaded URL sources: the blob path and the file.
    let downloads: [(String, RemoteFile)]
    let dest: Worker.Destination

    /// Writes everything the step copies under `staging`.
    func fill(_ staging: String) throws {
        try copySources(into: staging)
        try writeDownloads(into: staging)
        try writeHeredocs(into: staging)
    }

    /// Where an entry named `name` lands: inside the destination directory, or the destination.
    private func target(_ name: String) -> String { dest.isDirectory ? FSPath.join(dest.path, name) : dest.path }

    /// The owner archive entries take: only an explicit `--chown` replaces theirs.
    private var archiveOwner: (uid: uid_t, gid: gid_t)? { copy.chown == nil ? nil : owner }

    private func copier(_ staging: String, chmod: ChmodSpec?, excluded: @escaping (String) -> Bool = { _ in false }) -> FileCopier {
        FileCopier(sourceRoot: sourceRoot, stagingRoot: staging, owner: owner, chmod: chmod, reference: reference, excluded: excluded)
    }

    private func copySources(into staging: String) throws {
        for source in sources {
            let c = copier(staging, chmod: copy.chmod) { filter.excludes($0, under: source.path) }
            defer { c.settleParents() }
            let full = FSPath.under(sourceRoot, source.path)
            var st = stat()
            guard lstat(full, &st) == 0 else { throw WorkerError("\(source.name): not found") }
            let isDir = (st.st_mode & S_IFMT) == S_IFDIR
            if copy.isAdd, copy.unpack ?? true, !isDir, try Worker.isArchive(full) {
                try Worker.extract(full, into: dest.path, staging: staging, copier: c, reference: reference, owner: archiveOwner)
                continue
            }
            try c.copy(source.path, to: copy.parents ? FSPath.join(dest.path, source.name) : isDir ? dest.path : target(source.name))
        }
        if copy.parents, sources.isEmpty {
            // Nothing matched: the destination is still made, as BuildKit makes it.
            let c = copier(staging, chmod: nil)
            try c.makeParents(of: FSPath.under(staging, dest.path) + "/.")
            c.settleParents()
        }
    }

    /// A download is one file (mode 0600 unless --chmod, its Last-Modified as mtime),
    /// extracted only with --unpack.
    private func writeDownloads(into staging: String) throws {
        for (blob, file) in downloads {
            let c = copier(staging, chmod: nil)
            defer { c.settleParents() }
            if copy.unpack == true, try Worker.isArchive(blob) {
                try Worker.extract(blob, into: dest.path, staging: staging, copier: c, reference: reference, owner: archiveOwner)
                continue
            }
            let path = FSPath.under(staging, target(file.fileName))
            try Worker.placeFile(path, copier: c, mode: copy.chmod?.mode(from: 0o600, isDirectory: false) ?? 0o600, owner: owner) { p in
                try? FileManager.default.removeItem(atPath: p)
                try FileManager.default.copyItem(atPath: blob, toPath: p)
            }
            _ = kiln_set_mtime(path, file.modified, 0)
        }
    }

    private func writeHeredocs(into staging: String) throws {
        for h in copy.heredocs {
            let c = copier(staging, chmod: nil)
            defer { c.settleParents() }
            let mode = copy.chmod?.mode(from: 0o644, isDirectory: false) ?? 0o644
            try Worker.placeFile(FSPath.under(staging, target(h.name)), copier: c, mode: mode, owner: owner) { p in
                try Data(h.content.utf8).write(to: URL(fileURLWithPath: p))
            }
        }
    }
}
