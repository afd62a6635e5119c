import Foundation

/// Errors as one line a user can act on. Foundation's file errors print as
/// `Error Domain=NSCocoaErrorDomain Code=516 …`; those become `PATH: reason`.
public enum ErrorText {
    /// `error` in one line.
    public static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return "\(error)" }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        var reason: String
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            reason = errnoText(Int32(underlying.code))
        } else if ns.domain == NSPOSIXErrorDomain {
            reason = errnoText(Int32(ns.code))
        } else {
            switch ns.code {
            case NSFileWriteFileExistsError: reason = "already exists"
            case NSFileNoSuchFileError, NSFileReadNoSuchFileError: reason = "no such file or directory"
            case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: reason = "permission denied"
            case NSFileWriteOutOfSpaceError: reason = "no space left on device"
            case NSFileWriteVolumeReadOnlyError: reason = "read-only file system"
            default: reason = ns.localizedDescription
            }
        }
        if reason.contains("NSCocoaErrorDomain") { reason = "file operation failed (code \(ns.code))" }
        return path.map { "\($0): \(reason)" } ?? reason
    }
}
