import BlockStore
import Foundation
import IPLD
import Logging
import Multiformats
import UnixFS
import Versioning

/// The node's local data plane: the block store (with pins) in the node home, and the UnixFS
/// and DAG operations over it. Works offline; the daemon wraps the same object.
public final class LocalNode: Sendable {
    public let home: NodeHome
    public let config: NodeConfig
    public let store: SQLiteBlockStore
    /// Versioning refs (`<home>/refs.sqlite`), registered as GC roots for as long as this node
    /// is open: no command that collects garbage can forget them.
    public let refs: RefStore

    /// Opens the node home's block store (`Datastore.Path`, default `store.sqlite`).
    /// - Throws: `NodeError` when the home is missing or the store cannot be opened.
    public init(home: NodeHome, logger: Logger) throws(NodeError) {
        self.home = home
        config = try home.loadConfig()
        let path = LocalNode.storePath(home: home, config: config)
        let options = try LocalNode.storeOptions(config)
        do {
            store = try SQLiteBlockStore(path: path, options: options, logger: logger)
        } catch {
            throw .io(path: path, reason: "cannot open the block store: \(error)")
        }
        let refsPath = (home.path as NSString).appendingPathComponent("refs.sqlite")
        do {
            refs = try RefStore(path: refsPath)
        } catch {
            throw .io(path: refsPath, reason: "cannot open the ref store: \(error)")
        }
        store.registerGCRootProvider(refs)
    }

    /// Where the store lives: `Datastore.Path`, relative to the home unless absolute.
    public static func storePath(home: NodeHome, config: NodeConfig) -> String {
        let configured = config.value(at: "Datastore.Path")?.stringValue ?? "store.sqlite"
        if configured.hasPrefix("/") { return configured }
        return (home.path as NSString).appendingPathComponent(configured)
    }

    /// Store options from `Datastore.JournalMode` (`wal`, `rollback`) and `Datastore.Sync`
    /// (`full`, `normal`).
    static func storeOptions(_ config: NodeConfig) throws(NodeError) -> SQLiteBlockStore.Options {
        var options = SQLiteBlockStore.Options()
        if let value = config.value(at: "Datastore.JournalMode") {
            guard let parsed = value.stringValue.flatMap(SQLiteBlockStore.Options.JournalMode.init(rawValue:)) else {
                throw .invalidConfigValue(key: "Datastore.JournalMode", reason: "must be \"wal\" or \"rollback\"")
            }
            options.journalMode = parsed
        }
        if let value = config.value(at: "Datastore.Sync") {
            guard let parsed = value.stringValue.flatMap(SQLiteBlockStore.Options.Synchronous.init(rawValue:)) else {
                throw .invalidConfigValue(key: "Datastore.Sync", reason: "must be \"full\" or \"normal\"")
            }
            options.synchronous = parsed
        }
        return options
    }

    /// Reads content through the store.
    public var exporter: Exporter { Exporter(source: store) }

    /// Resolves a content path to the CID it names (through UnixFS directories, basic and HAMT).
    public func resolve(_ path: ContentPath) throws(ExportError) -> CID {
        try exporter.resolve(path.root, components: path.components)
    }

    /// Imports files or directories (or an in-memory source) with UnixFS: `work` runs one or
    /// more `add` calls on the importer and returns their results.
    ///
    /// Blocks are written in batches while leaves are hashed on every core; each root is pinned
    /// recursively when `pin` is set, all under one GC lease so nothing is collected in between.
    /// With `onlyHash` nothing is written and nothing is pinned.
    public func add(
        _ work: (Importer) throws(ImportError) -> [ImportResult],
        options: ImportOptions, onlyHash: Bool, pin: Bool,
        onProgress: ((ImportProgress) -> Void)? = nil, onEntry: ((ImportedEntry) -> Void)? = nil
    ) throws(NodeOperationError) -> [ImportResult] {
        let lease = onlyHash ? nil : store.gcLease()
        defer { lease?.release() }
        let sink = onlyHash ? nil : BatchingBlockSink(store: store)
        let results: [ImportResult]
        do {
            let importer = try Importer(
                options: options, sink: sink, collectEntries: false, onProgress: onProgress, onEntry: onEntry)
            results = try work(importer)
            try sink?.flush()
        } catch {
            throw .importFailed(error)
        }
        if pin && !onlyHash {
            for result in results {
                do {
                    try store.pin(result.root.cid, recursive: true, name: nil)
                } catch {
                    throw .store(error)
                }
            }
        }
        return results
    }
}

/// A failed node operation, wrapping the layer that failed.
public enum NodeOperationError: Error, CustomStringConvertible {
    case importFailed(ImportError)
    case export(ExportError)
    case store(BlockStoreError)
    case path(ContentPathError)

    public var description: String {
        switch self {
        case let .importFailed(e): return "\(e)"
        case let .export(e): return "\(e)"
        case let .store(e): return "\(e)"
        case let .path(e): return "\(e)"
        }
    }
}

extension LocalNode {
    /// The versioning layer over this node's store and refs.
    public func versionStore() -> VersionStore {
        VersionStore(blocks: store, refs: refs)
    }

    /// The author recorded in commits: config `Versioning.Author` ("Name <email>"), else the
    /// login name.
    public var defaultAuthor: Person { Self.defaultAuthor(config) }

    /// The author `config` names (see `defaultAuthor`).
    public static func defaultAuthor(_ config: NodeConfig) -> Person {
        if let text = config.value(at: "Versioning.Author")?.stringValue, let person = Person(parsing: text) {
            return person
        }
        let user = ProcessInfo.processInfo.environment["USER"] ?? "jz-node"
        return Person(name: user, email: "\(user)@localhost")
    }
}
