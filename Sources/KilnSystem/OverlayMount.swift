import CKilnSys
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An overlay mount that cannot be made.
public struct MountError: Error, Sendable, CustomStringConvertible {
    /// The mount point.
    public var target: String
    /// Why (the errno text, and the kernel's own message when it gave one).
    public var reason: String
    /// The lower directories would not fit `mount(2)`'s one-page option string: the caller
    /// must flatten some of them.
    public var tooManyLowers: Bool

    public var description: String { "overlay mount at \(target): \(reason)" }
}

/// Overlay mounts: lower directories (top first), and an upper and work directory for a
/// writable one. Redirects and metacopy are off, so an upper directory always holds whole files
/// and directories — a layer can be read from it alone.
public enum OverlayMount {
    /// Whether the kernel takes lower directories one by one (`fsconfig` `lowerdir+`, Linux
    /// 6.8+), so a chain of any depth mounts without an option-string limit.
    public static let takesLowersOneByOne: Bool = {
        let base = "/tmp/kiln-overlay-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for d in ["", "/a", "/b", "/m"] { mkdir(base + d, 0o700) }
        defer {
            umount2(base + "/m", Int32(MNT_DETACH))
            HostFiles.removeTree(base)
        }
        return (try? mountNew(at: base + "/m", lowers: [base + "/a", base + "/b"], upper: nil, work: nil)) != nil
    }()

    /// `mount(2)` option strings longer than this (a page, less room) do not mount.
    public static let legacyOptionLimit = 4000

    /// Mounts an overlay at `target`. Throws a ``MountError`` (with `tooManyLowers` when only the
    /// legacy interface is there and the lowers do not fit it).
    public static func mount(at target: String, lowers: [String], upper: String? = nil, work: String? = nil,
                             legacy: Bool = !takesLowersOneByOne) throws(MountError) {
        if !legacy { return try mountNew(at: target, lowers: lowers, upper: upper, work: work) }
        let options = legacyOptions(lowers: lowers, upper: upper, work: work)
        guard options.utf8.count <= legacyOptionLimit else {
            throw MountError(target: target, reason: "\(lowers.count) lower directories do not fit one mount option string", tooManyLowers: true)
        }
        guard kiln_overlay_mount_legacy(target, options, upper == nil ? 1 : 0) == 0 else {
            throw MountError(target: target, reason: errnoText(errno), tooManyLowers: false)
        }
    }

    /// The legacy option string (`:` and `,` in paths escaped).
    public static func legacyOptions(lowers: [String], upper: String?, work: String?) -> String {
        func escaped(_ p: String) -> String { p.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:").replacingOccurrences(of: ",", with: "\\,") }
        var options = "lowerdir=" + lowers.map(escaped).joined(separator: ":")
        if let upper, let work { options += ",upperdir=\(escaped(upper)),workdir=\(escaped(work)),metacopy=off" }
        return options + ",redirect_dir=off"
    }

    private static func mountNew(at target: String, lowers: [String], upper: String?, work: String?) throws(MountError) {
        var cstrings = lowers.map { strdup($0) }
        defer { for c in cstrings { free(c) } }
        var message = [CChar](repeating: 0, count: 512)
        let rc = cstrings.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) { lowersPtr in
                kiln_overlay_mount(target, lowersPtr, Int32(lowers.count), upper, work, &message, Int32(message.count))
            }
        }
        guard rc == 0 else {
            let e = errno
            let kernel = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
            throw MountError(target: target, reason: errnoText(e) + (kernel.isEmpty ? "" : " (\(kernel))"), tooManyLowers: false)
        }
        _ = cstrings.count
    }
}
