import IPLD
import Multiformats
import UnixFS

/// One edit of a tree.
public enum TreeEdit: Hashable, Sendable {
    /// Link `cid` (a file, directory or symlink of cumulative size `tsize`) at `path`, replacing
    /// whatever is there; missing parent directories are created.
    case set(path: String, cid: CID, tsize: UInt64)
    /// Remove the entry at `path` (it must exist). Directories left empty by removals are removed too.
    case remove(path: String)

    var path: String {
        switch self {
        case let .set(path, _, _), let .remove(path): return path
        }
    }
}

/// The root of a tree: its CID and cumulative size (dag-pb Tsize).
public struct TreeRoot: Hashable, Sendable {
    public let cid: CID
    public let size: UInt64

    public init(cid: CID, size: UInt64) {
        self.cid = cid
        self.size = size
    }
}

/// Applies edits to a UnixFS tree, re-building only the directories on the edited paths (with
/// `DirectoryWriter`, so each is what the importer would have made); everything else is linked
/// by CID, unread.
public final class TreeEditor {
    private let reader: TreeReader
    private let writer: DirectoryWriter
    private let sink: (any BlockSink)?

    /// - Parameters:
    ///   - source: where the base tree's blocks are read.
    ///   - options: the import options the tree was made with (CID version, hash, HAMT rules).
    ///   - sink: receives the new directory blocks (nil: hash only); flushed at the end of `apply`.
    public init(source: any BlockSource, options: ImportOptions, sink: (any BlockSink)?) throws(TreeError) {
        self.reader = TreeReader(source: source)
        do {
            self.writer = try DirectoryWriter(options: options)
        } catch {
            throw .importFailed(error)
        }
        self.sink = sink
    }

    /// Blocks read from the source so far.
    public var blocksRead: Int { reader.source.reads }

    private enum Action {
        case set(CID, UInt64)
        case remove
    }

    private struct Node {
        var action: Action?
        var children: [String: Node] = [:]
    }

    /// Applies `edits` in order (a later edit of the same path wins) to the tree `root`.
    /// - Returns: the new root (its CID and cumulative size).
    /// - Throws: `TreeError.notFound` (removing a missing path), `.notADirectory` (a path through a
    ///   file), `.invalidPath`, `.missingBlock`, `.importFailed`.
    public func apply(_ edits: [TreeEdit], to root: CID) throws(TreeError) -> TreeRoot {
        var trie = Node()
        for edit in edits {
            let components = try Self.components(edit.path)
            let action: Action
            switch edit {
            case let .set(_, cid, tsize): action = .set(cid, tsize)
            case .remove: action = .remove
            }
            Self.insert(action, at: components[...], into: &trie)
        }
        let result: ImportedEntry
        if case let .set(cid, tsize)? = trie.action, trie.children.isEmpty {
            return TreeRoot(cid: cid, size: tsize)
        }
        if case .remove? = trie.action { throw .invalidPath("") }
        var base = root
        if case let .set(cid, _)? = trie.action { base = cid }
        guard let built = try rebuild(base, edits: trie.children, path: "") else {
            // Every entry was removed: the root stays, empty.
            do {
                result = try writer.write([], to: sink)
            } catch {
                throw .importFailed(error)
            }
            try flush()
            return TreeRoot(cid: result.cid, size: result.size)
        }
        try flush()
        return TreeRoot(cid: built.cid, size: built.size)
    }

    private func flush() throws(TreeError) {
        do {
            try sink?.flush()
        } catch {
            throw .importFailed(error)
        }
    }

    static func components(_ path: String) throws(TreeError) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        for part in parts where part == "." || part == ".." || part.utf8.contains(0) {
            throw .invalidPath(path)
        }
        return parts
    }

    private static func insert(_ action: Action, at components: ArraySlice<String>, into node: inout Node) {
        guard let first = components.first else {
            node.action = action
            node.children = [:]
            return
        }
        insert(action, at: components.dropFirst(), into: &node.children[first, default: Node()])
    }

    /// Re-builds directory `cid` (nil: a new, empty one) with `edits` applied; nil when the
    /// directory was non-empty and the edits left it empty.
    private func rebuild(_ cid: CID?, edits: [String: Node], path: String) throws(TreeError) -> ImportedEntry? {
        var entries: [String: TreeLink] = [:]
        var mode: UInt32?
        var mtime: UnixFSTime?
        if let cid {
            let directory = try reader.node(cid, path: path)
            guard directory.kind == .directory else { throw .notADirectory(path: path) }
            entries = try reader.entries(directory, path: path)
            mode = directory.mode
            mtime = directory.mtime
        }
        let wasEmpty = entries.isEmpty
        for (name, edit) in edits {
            let childPath = treeJoin(path, name)
            var base: CID? = entries[name]?.cid
            switch edit.action {
            case .remove?:
                if entries.removeValue(forKey: name) == nil { throw .notFound(path: childPath) }
                if edit.children.isEmpty { continue }
                base = nil
            case let .set(cid, tsize)?:
                if edit.children.isEmpty {
                    entries[name] = TreeLink(cid: cid, tsize: tsize)
                    continue
                }
                base = cid
            case nil:
                break
            }
            if let child = try rebuild(base, edits: edit.children, path: childPath) {
                entries[name] = TreeLink(cid: child.cid, tsize: child.size)
            } else {
                entries[name] = nil
            }
        }
        if entries.isEmpty && !wasEmpty && !path.isEmpty { return nil }
        let list = entries.map { DirectoryWriter.Entry(name: $0.key, cid: $0.value.cid, tsize: $0.value.tsize ?? 0) }
        do {
            return try writer.write(list, path: path, mode: mode, mtime: mtime, to: sink)
        } catch {
            throw .importFailed(error)
        }
    }
}
