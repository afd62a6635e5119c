import Foundation
import KilnBuild
import KilnSystem

/// Checks, before anything is built or pushed, that every path a build will write can be
/// written: a build must not run for minutes and then fail on a typo in `--metadata-file`.
enum OutputPaths {
    static func check(_ request: BuildRequest, metadataFile: String?) throws(CLIError) {
        for o in request.outputs {
            guard let dest = o.destination else { continue }
            if case .local = o {
                try directoryOrAbsent(dest, what: "-o type=local,dest=\(dest)")
            } else if dest != "-" {
                try fileInExistingDirectory(dest, what: "-o dest=\(dest)")
            }
        }
        for case .local(let dest, _) in request.cacheExports {
            try directoryOrAbsent(dest, what: "--cache-to type=local,dest=\(dest)")
        }
        if let metadataFile { try fileInExistingDirectory(metadataFile, what: "--metadata-file \(metadataFile)") }
    }

    /// A directory kiln may create or write into.
    static func directoryOrAbsent(_ path: String, what: String) throws(CLIError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CLIError(description: "\(what): \(path) exists and is not a directory") }
            return
        }
        // A parent that exists must be a directory kiln can create the rest in.
        let parent = FSPath.parent(path)
        if parent.isEmpty { return }
        if stat(parent, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR {
            throw CLIError(description: "\(what): \(parent) is not a directory")
        }
    }

    /// A file kiln may create or replace, in a directory that exists.
    static func fileInExistingDirectory(_ path: String, what: String) throws(CLIError) {
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            throw CLIError(description: "\(what): \(path) is a directory")
        }
        let parent = FSPath.parent(path)
        let dir = parent.isEmpty ? "." : parent
        guard stat(dir, &st) == 0 else { throw CLIError(description: "\(what): directory \(dir) does not exist") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CLIError(description: "\(what): \(dir) is not a directory") }
        guard access(dir, W_OK) == 0 else { throw CLIError(description: "\(what): directory \(dir) is not writable") }
    }
}
