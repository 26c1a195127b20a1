import BlockStore
import IPNS
import P2PCrypto

/// An IPNS name this node publishes: the key that signs it, its current record and how it was
/// published, kept in `<home>/dht.sqlite` so a restarted daemon serves and republishes it.
public struct PublishedName: Sendable, Equatable {
    /// The keystore name of the signing key (`self` for the node's identity).
    public var keyName: String
    /// The name (the key's peer ID).
    public var name: IPNSName
    /// The current record.
    public var record: IPNSRecord
    /// The lifetime the record was made with, in seconds (a republished record gets the same).
    public var lifetime: Double
    /// When the current record was made (seconds since 1970).
    public var published: Double
    /// Whether the record has reached the network (false: stored with `--allow-offline` only).
    public var online: Bool
    /// When putting it on the network last failed, if it did.
    public var lastFailure: Double?

    public init(
        keyName: String, name: IPNSName, record: IPNSRecord, lifetime: Double, published: Double, online: Bool,
        lastFailure: Double? = nil
    ) {
        self.keyName = keyName
        self.name = name
        self.record = record
        self.lifetime = lifetime
        self.published = published
        self.online = online
        self.lastFailure = lastFailure
    }

    /// The entry the republish schedule decides on.
    public var scheduleEntry: IPNSRepublishSchedule.Entry {
        IPNSRepublishSchedule.Entry(
            published: published, eol: record.validity.date.timeIntervalSince1970, lifetime: lifetime, online: online,
            lastFailure: lastFailure)
    }
}

extension SQLiteProviderBackend {
    static let publishedNamesSQL = """
        CREATE TABLE IF NOT EXISTS ipns_published (
            name BLOB PRIMARY KEY,
            key_name TEXT NOT NULL,
            record BLOB NOT NULL,
            lifetime REAL NOT NULL,
            published REAL NOT NULL,
            online INTEGER NOT NULL,
            last_failure REAL
        ) WITHOUT ROWID
        """

    /// Every name this node publishes. Rows whose name or record no longer parse are skipped.
    public func publishedNames() throws(DHTStorageError) -> [PublishedName] {
        try run { c throws(BlockStoreError) in
            let s = try c.statement(
                "SELECT name, key_name, record, lifetime, published, online, last_failure FROM ipns_published")
            defer { s.reset() }
            var out: [PublishedName] = []
            while try s.step("read published names") {
                guard let name = try? IPNSName(routingKey: Array(IPNSName.namespacePrefix.utf8) + s.blob(0)),
                    let keyName = s.text(1), let record = try? IPNSRecord(bytes: s.blob(2))
                else { continue }
                out.append(
                    PublishedName(
                        keyName: keyName, name: name, record: record, lifetime: s.double(3), published: s.double(4),
                        online: s.int64(5) != 0, lastFailure: s.isNull(6) ? nil : s.double(6)))
            }
            return out
        }
    }

    /// The stored entry of `name`, if any.
    public func publishedName(_ name: IPNSName) throws(DHTStorageError) -> PublishedName? {
        try publishedNames().first { $0.name == name }
    }

    /// Stores (or replaces) the entry of `entry.name`.
    public func savePublishedName(_ entry: PublishedName) throws(DHTStorageError) {
        try run { c throws(BlockStoreError) in
            let s = try c.statement(
                """
                INSERT OR REPLACE INTO ipns_published(name, key_name, record, lifetime, published, online, last_failure)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                """)
            defer { s.reset() }
            try s.bind(1, entry.name.peer.bytes)
            try s.bind(2, entry.keyName)
            try s.bind(3, entry.record.bytes)
            try s.bind(4, entry.lifetime)
            try s.bind(5, entry.published)
            try s.bind(6, Int64(entry.online ? 1 : 0))
            if let failure = entry.lastFailure { try s.bind(7, failure) } else { try s.bind(7, nil as String?) }
            _ = try s.step("save published name")
        }
    }

    /// Forgets `name` (its key was removed).
    public func removePublishedName(_ name: IPNSName) throws(DHTStorageError) {
        try run { c throws(BlockStoreError) in
            let s = try c.statement("DELETE FROM ipns_published WHERE name = ?1")
            defer { s.reset() }
            try s.bind(1, name.peer.bytes)
            _ = try s.step("remove published name")
        }
    }
}
