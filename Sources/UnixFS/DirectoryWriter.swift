import IPLD
import Multiformats

/// Builds one UnixFS directory node from ready-made entries, exactly as the `Importer` would for
/// a folder holding those entries: a basic directory, or a HAMT when `ImportOptions`' sharding
/// rules say so. Used to re-build only the directories on an edited path of an existing tree.
///
/// ```swift
/// let writer = try DirectoryWriter(options: .unixfsV0_2015)
/// let dir = try writer.write([.init(name: "a.txt", cid: file, tsize: 12)], to: sink)
/// ```
public struct DirectoryWriter: Sendable {
    /// One entry of the directory: a name (one path component) and the link's CID and Tsize.
    public struct Entry: Hashable, Sendable {
        public var name: String
        public var cid: CID
        /// Cumulative DAG size of the entry (the dag-pb link `Tsize`).
        public var tsize: UInt64

        public init(name: String, cid: CID, tsize: UInt64) {
            self.name = name
            self.cid = cid
            self.tsize = tsize
        }
    }

    public let options: ImportOptions
    private let factory: BlockFactory

    /// - Throws: `ImportError.invalidOptions` for a bad combination of options.
    public init(options: ImportOptions = ImportOptions()) throws(ImportError) {
        try options.validate()
        self.options = options
        self.factory = BlockFactory(
            cidVersion: options.cidVersion, hashFunction: options.hashFunction, rawLeaves: options.rawLeaves,
            leafType: options.layout == .trickle ? .raw : .file)
    }

    /// Encodes the directory, puts every block it makes into `sink` (nil: hash only), and returns
    /// the directory as an `ImportedEntry` (kind `.directory`, `size` = cumulative Tsize).
    /// Does not flush the sink.
    /// - Parameters:
    ///   - path: names the directory in errors and in the result.
    ///   - mode, mtime: the directory's UnixFS 1.5 metadata, when stored.
    /// - Throws: `ImportError.invalidName` for an empty name or one with "/" or NUL,
    ///   `.duplicateName`, `.tooManyLinks`, `.hamtTooDeep`, `.store`.
    public func write(
        _ entries: [Entry], path: String = "", mode: UInt32? = nil, mtime: UnixFSTime? = nil, to sink: (any BlockSink)?
    ) throws(ImportError) -> ImportedEntry {
        var builder = DirectoryBuilder(path: path, mode: mode, mtime: mtime)
        for entry in entries {
            let name = entry.name
            guard !name.isEmpty, name != ".", name != "..", !name.utf8.contains(0x2f), !name.utf8.contains(0) else {
                throw .invalidName(path: join(path, name))
            }
            try builder.add(name: name, cid: entry.cid, tsize: entry.tsize)
        }
        let root = try builder.finish(options, factory: factory) { (block: Block) throws(ImportError) in
            try sink?.put(block)
        }
        return ImportedEntry(path: path, cid: root.cid, size: root.tsize, kind: .directory)
    }
}
