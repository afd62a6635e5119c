/// One member of a tar archive, as Kiln reads and writes it.
public struct TarEntry: Sendable, Hashable {
    /// The kind of file.
    public enum Kind: Sendable, Hashable {
        /// A regular file with `size` bytes of content.
        case regular
        /// A directory.
        case directory
        /// A symbolic link to `linkName`.
        case symlink
        /// A hard link to the earlier entry `linkName`.
        case hardlink
        /// A character device.
        case characterDevice
        /// A block device.
        case blockDevice
        /// A named pipe.
        case fifo

        var typeflag: UInt8 {
            switch self {
            case .regular: 0x30
            case .hardlink: 0x31
            case .symlink: 0x32
            case .characterDevice: 0x33
            case .blockDevice: 0x34
            case .directory: 0x35
            case .fifo: 0x36
            }
        }
    }

    /// The path inside the archive, relative, `/`-separated, without a trailing slash.
    public var path: String
    /// The kind of file.
    public var kind: Kind
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    public var mode: UInt32
    /// Owner user id.
    public var uid: Int
    /// Owner group id.
    public var gid: Int
    /// Content size for regular files; 0 otherwise.
    public var size: Int64
    /// Modification time, whole seconds since the epoch.
    public var mtime: Int64
    /// Target of a symlink or hard link.
    public var linkName: String
    /// Device major number.
    public var devMajor: UInt32
    /// Device minor number.
    public var devMinor: UInt32
    /// Extended attributes (`security.capability`, `user.*`, …), values as raw bytes.
    public var xattrs: [String: [UInt8]]
    /// Owner user name, if the archive records one.
    public var userName: String
    /// Owner group name, if the archive records one.
    public var groupName: String

    /// An entry with the given fields.
    public init(
        path: String, kind: Kind, mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0, size: Int64 = 0,
        mtime: Int64 = 0, linkName: String = "", devMajor: UInt32 = 0, devMinor: UInt32 = 0,
        xattrs: [String: [UInt8]] = [:], userName: String = "", groupName: String = ""
    ) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime = mtime
        self.linkName = linkName
        self.devMajor = devMajor
        self.devMinor = devMinor
        self.xattrs = xattrs
        self.userName = userName
        self.groupName = groupName
    }

    /// The OCI whiteout prefix: `.wh.NAME` deletes `NAME` from lower layers.
    public static let whiteoutPrefix = ".wh."
    /// The opaque-directory marker: the directory hides everything below it in lower layers.
    public static let opaqueWhiteout = ".wh..wh..opq"

    /// The last path component.
    public var baseName: String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
