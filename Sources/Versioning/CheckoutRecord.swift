import Multiformats

/// What a checkout wrote to one path: enough to tell later, by `lstat` alone, whether the file is
/// still the one written (size, mtime, inode), and what it held (CID).
public struct CheckoutStamp: Hashable, Sendable {
    /// `.file` or `.symlink` (directories are not recorded).
    public var kind: TreeEntryKind
    /// File bytes, or the symlink target's length.
    public var size: UInt64
    /// Modification time in nanoseconds since the epoch.
    public var mtimeNanos: Int64
    public var inode: UInt64
    public var cid: CID

    public init(kind: TreeEntryKind, size: UInt64, mtimeNanos: Int64, inode: UInt64, cid: CID) {
        self.kind = kind
        self.size = size
        self.mtimeNanos = mtimeNanos
        self.inode = inode
        self.cid = cid
    }

    /// The `lstat` part of the stamp.
    public var stat: LocalStat { LocalStat(kind: kind, size: size, mtimeNanos: mtimeNanos, inode: inode) }
}

/// What `lstat` says about a path of a working folder.
public struct LocalStat: Hashable, Sendable {
    public var kind: TreeEntryKind
    public var size: UInt64
    public var mtimeNanos: Int64
    public var inode: UInt64

    public init(kind: TreeEntryKind, size: UInt64, mtimeNanos: Int64, inode: UInt64) {
        self.kind = kind
        self.size = size
        self.mtimeNanos = mtimeNanos
        self.inode = inode
    }
}

/// The last checkout into a folder: which repository and tree, and a stamp for every file and
/// symlink written (paths "/"-separated, relative to the folder). Kept outside the folder (the
/// folder must keep hashing to the tree), in a compact binary form (`encoded()` / `init(decoding:)`).
public struct CheckoutRecord: Hashable, Sendable {
    /// The folder's real absolute path.
    public var folder: String
    public var repository: String
    /// The tree (or subtree) the folder was last brought to.
    public var tree: CID
    public var files: [String: CheckoutStamp]

    public init(folder: String, repository: String, tree: CID, files: [String: CheckoutStamp]) {
        self.folder = folder
        self.repository = repository
        self.tree = tree
        self.files = files
    }

    static let magic = Array("JZCHECKOUT1\n".utf8)

    /// The binary form: magic, then length-prefixed strings and varints (mtime as 8 bytes).
    public func encoded() -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(64 + files.count * 64)
        func bytes(_ b: [UInt8]) {
            Varint.encode(UInt64(b.count), into: &out)
            out += b
        }
        bytes(Array(folder.utf8))
        bytes(Array(repository.utf8))
        bytes(tree.bytes)
        Varint.encode(UInt64(files.count), into: &out)
        for (path, stamp) in files.sorted(by: { $0.key < $1.key }) {
            bytes(Array(path.utf8))
            out.append(stamp.kind == .symlink ? 1 : 0)
            Varint.encode(stamp.size, into: &out)
            withUnsafeBytes(of: UInt64(bitPattern: stamp.mtimeNanos).littleEndian) { out += $0 }
            Varint.encode(stamp.inode, into: &out)
            bytes(stamp.cid.bytes)
        }
        return out
    }

    /// Reads `encoded()`'s form.
    /// - Throws: `CheckoutError.malformedRecord` naming the byte offset and what was expected there.
    public init(decoding data: [UInt8], source: String = "checkout record") throws(CheckoutError) {
        var at = 0
        func fail(_ what: String) -> CheckoutError { .malformedRecord(path: source, reason: "\(what) at byte \(at)") }
        guard data.count >= Self.magic.count, data[0..<Self.magic.count].elementsEqual(Self.magic) else {
            throw fail("not a checkout record (magic)")
        }
        at = Self.magic.count
        func varint(_ what: String) throws(CheckoutError) -> UInt64 {
            guard let (value, length) = try? Varint.decode(data[at...]) else { throw fail("bad \(what)") }
            at += length
            return value
        }
        func bytes(_ what: String) throws(CheckoutError) -> ArraySlice<UInt8> {
            let count = try varint(what + " length")
            guard count <= UInt64(data.count - at) else { throw fail("truncated \(what)") }
            defer { at += Int(count) }
            return data[at..<at + Int(count)]
        }
        func cid(_ what: String) throws(CheckoutError) -> CID {
            let raw = try bytes(what)
            guard let value = try? CID(bytes: Array(raw)) else { throw fail("bad \(what)") }
            return value
        }
        folder = String(decoding: try bytes("folder"), as: UTF8.self)
        repository = String(decoding: try bytes("repository"), as: UTF8.self)
        tree = try cid("tree CID")
        let count = try varint("file count")
        guard count <= UInt64(data.count) else { throw fail("file count \(count) too large") }
        var files: [String: CheckoutStamp] = [:]
        files.reserveCapacity(Int(count))
        for _ in 0..<count {
            let path = String(decoding: try bytes("path"), as: UTF8.self)
            guard at < data.count else { throw fail("truncated kind") }
            let kind: TreeEntryKind = data[at] == 1 ? .symlink : .file
            at += 1
            let size = try varint("size")
            guard data.count - at >= 8 else { throw fail("truncated mtime") }
            var raw: UInt64 = 0
            for i in 0..<8 { raw |= UInt64(data[at + i]) << (8 * UInt64(i)) }
            at += 8
            let inode = try varint("inode")
            files[path] = CheckoutStamp(
                kind: kind, size: size, mtimeNanos: Int64(bitPattern: raw), inode: inode, cid: try cid("CID of \(path)"))
        }
        self.files = files
    }
}
