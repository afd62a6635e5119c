import Foundation
import GRDB
import KilnOCI

/// What the store remembers about a URL it downloaded (`ADD https://…`), so the next build can
/// ask the server whether it changed instead of downloading it again.
public struct DownloadRecord: Sendable, Hashable {
    /// The URL.
    public var url: String
    /// The server's `ETag`, if it sent one.
    public var etag: String?
    /// The server's `Last-Modified` header as sent, if any.
    public var lastModified: String?
    /// The downloaded bytes (a blob in the store).
    public var digest: Digest
    /// The file name it took.
    public var fileName: String
    /// Its mtime in layers.
    public var modified: Int64

    /// A record.
    public init(url: String, etag: String?, lastModified: String?, digest: Digest, fileName: String, modified: Int64) {
        self.url = url
        self.etag = etag
        self.lastModified = lastModified
        self.digest = digest
        self.fileName = fileName
        self.modified = modified
    }
}

extension ContentStore {
    static func registerDownloadMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3-downloads") { db in
            try db.execute(sql: """
                CREATE TABLE download (
                    url TEXT PRIMARY KEY NOT NULL,
                    etag TEXT,
                    last_modified TEXT,
                    digest TEXT NOT NULL,
                    file_name TEXT NOT NULL,
                    modified INTEGER NOT NULL
                );
                """)
        }
    }

    /// The last download of `url`, when its bytes are still stored.
    public func download(_ url: String) async throws(StoreError) -> DownloadRecord? {
        let record = try await reading { db -> DownloadRecord? in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM download WHERE url = ?", arguments: [url]),
                  let digest = try? Digest(parsing: row["digest"] as String)
            else { return nil }
            return DownloadRecord(url: url, etag: row["etag"], lastModified: row["last_modified"], digest: digest,
                                  fileName: row["file_name"], modified: row["modified"])
        }
        guard let record, contains(record.digest) else { return nil }
        return record
    }

    /// Remembers a download of `record.url`.
    public func storeDownload(_ record: DownloadRecord) async throws(StoreError) {
        try await writing { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO download (url, etag, last_modified, digest, file_name, modified)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [record.url, record.etag, record.lastModified, record.digest.description, record.fileName, record.modified])
        }
    }
}
