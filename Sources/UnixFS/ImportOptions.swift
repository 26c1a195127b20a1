import Multiformats

/// How a file's chunks are arranged into a DAG.
public enum DAGLayout: String, Hashable, Sendable {
    /// Kubo's default balanced tree (`balanced.Layout`).
    case balanced
    /// Kubo's trickle DAG (`--trickle`, `trickle.Layout`), good for streaming appends.
    case trickle
}

/// How a directory's size is estimated against `ImportOptions.hamtShardingThreshold`.
public enum HAMTSizeEstimation: String, Hashable, Sendable {
    /// Sum over entries of `len(name) + len(CID bytes)` (Kubo's legacy rule, profile unixfs-v0-2015).
    case links
    /// The exact serialized size of the basic directory block (profile unixfs-v1-2025).
    case block
    /// Size is ignored; only `maxDirectoryLinks` switches to a HAMT.
    case disabled
}

/// Import settings, named after Kubo's `ipfs add` options. The defaults are Kubo's
/// (profile `unixfs-v0-2015`): CIDv0, sha2-256, dag-pb leaves, `size-262144`, balanced,
/// 174 links per node, HAMT above 256 KiB by links-size estimate, fanout 256.
public struct ImportOptions: Hashable, Sendable {
    /// CID version of dag-pb nodes (raw leaves are always CIDv1).
    public var cidVersion: CID.Version = .v0
    /// Multihash function of every block (`--hash`); CIDv0 requires sha2-256.
    public var hashFunction: HashFunction = .sha2_256
    /// Leaves as raw blocks (codec 0x55) instead of dag-pb UnixFS nodes (`--raw-leaves`).
    public var rawLeaves = false
    /// `--chunker`.
    public var chunker: Chunker = .default
    /// `--trickle` selects `.trickle`.
    public var layout: DAGLayout = .balanced
    /// Maximum links per file DAG node (Kubo `Import.UnixFSFileMaxLinks`).
    public var maxLinks = 174
    /// Directory size above which it becomes a HAMT; 0 disables sharding
    /// (Kubo `Import.UnixFSHAMTDirectorySizeThreshold`).
    public var hamtShardingThreshold = 262_144
    /// How the directory size is estimated (Kubo `Import.UnixFSHAMTDirectorySizeEstimation`).
    public var hamtSizeEstimation: HAMTSizeEstimation = .links
    /// HAMT fanout: a power of two, multiple of 8, at most 1024 (Kubo `Import.UnixFSHAMTDirectoryMaxFanout`).
    public var hamtFanout = 256
    /// A directory with more entries becomes a HAMT; 0 = no limit (Kubo `Import.UnixFSDirectoryMaxLinks`).
    public var maxDirectoryLinks = 0
    /// Include entries whose name starts with "." inside directories (`--hidden`).
    public var includeHidden = false
    /// Include empty subdirectories (`--empty-dirs`, default true).
    public var includeEmptyDirectories = true
    /// Follow symlinks instead of storing them as UnixFS symlinks (`--dereference-symlinks`).
    public var dereferenceSymlinks = false
    /// Store each entry's POSIX permissions (`--preserve-mode`).
    public var preserveMode = false
    /// Store each entry's modification time (`--preserve-mtime`).
    public var preserveMtime = false
    /// Mode stored on every entry (`--mode`); wins over `preserveMode`.
    public var mode: UInt32?
    /// Modification time stored on every entry (`--mtime`); wins over `preserveMtime`.
    public var mtime: UnixFSTime?
    /// Put everything under one extra directory (`--wrap-with-directory`).
    public var wrapWithDirectory = false

    public init() {}

    /// IPIP-499 profile `unixfs-v0-2015` (Kubo's defaults).
    public static let unixfsV0_2015 = ImportOptions()

    /// IPIP-499 profile `unixfs-v1-2025`: CIDv1, raw leaves, 1 MiB chunks, 1024 links per node,
    /// HAMT above 256 KiB by serialized block size.
    public static let unixfsV1_2025: ImportOptions = {
        var options = ImportOptions()
        options.cidVersion = .v1
        options.rawLeaves = true
        options.chunker = .fixed(size: 1_048_576)
        options.maxLinks = 1024
        options.hamtSizeEstimation = .block
        return options
    }()

    /// The IPIP-499 profile named `unixfs-v0-2015` or `unixfs-v1-2025`, nil for any other name.
    public static func profile(named name: String) -> ImportOptions? {
        switch name {
        case "unixfs-v0-2015": return .unixfsV0_2015
        case "unixfs-v1-2025": return .unixfsV1_2025
        default: return nil
        }
    }

    /// Options resolved the way `ipfs add` resolves its flags: a hash other than sha2-256 implies
    /// CIDv1 (explicit CIDv0 is an error); CIDv1 turns raw leaves on unless `rawLeaves` is given;
    /// storing a mode or mtime turns raw leaves off (an explicit `rawLeaves: true` is an error).
    /// Set the remaining options on the result.
    /// The options of an `add` as Kubo composes them: a named profile (when given) with the
    /// explicit CID version, raw-leaves and hash function laid over it, else `kubo(...)`.
    public static func adding(
        profile: ImportOptions?, cidVersion: Int?, hashFunction: HashFunction, rawLeaves: Bool?
    ) throws(ImportError) -> ImportOptions {
        guard var options = profile else {
            return try kubo(cidVersion: cidVersion, hashFunction: hashFunction, rawLeaves: rawLeaves)
        }
        if let cidVersion { options.cidVersion = cidVersion == 0 ? .v0 : .v1 }
        if let rawLeaves { options.rawLeaves = rawLeaves }
        if hashFunction != .sha2_256 { options.hashFunction = hashFunction }
        return options
    }

    public static func kubo(
        cidVersion: Int? = nil, hashFunction: HashFunction = .sha2_256, rawLeaves: Bool? = nil,
        storesMetadata: Bool = false
    ) throws(ImportError) -> ImportOptions {
        var options = ImportOptions()
        options.hashFunction = hashFunction
        var version = cidVersion
        if hashFunction != .sha2_256 {
            if version == 0 { throw .invalidOptions("CIDv0 only supports sha2-256") }
            version = 1
        }
        switch version ?? 0 {
        case 0: options.cidVersion = .v0
        case 1: options.cidVersion = .v1
        case let other: throw .invalidOptions("unknown CID version: \(other)")
        }
        var raw = rawLeaves ?? (options.cidVersion == .v1)
        if storesMetadata {
            if rawLeaves == true {
                throw .invalidOptions("raw-leaves can't be used with UnixFS metadata like mode or modification time")
            }
            raw = false
        }
        options.rawLeaves = raw
        return options
    }

    /// Checks the combination; the importer calls this before doing anything.
    public func validate() throws(ImportError) {
        if cidVersion == .v0 && hashFunction != .sha2_256 {
            throw .invalidOptions("CIDv0 only supports sha2-256 (use CIDv1 for \(hashFunction))")
        }
        guard hashFunction.isSupported, hashFunction != .identity else {
            throw .invalidOptions("hash function \(hashFunction) cannot be used for import")
        }
        switch chunker {
        case let .fixed(size):
            guard size > 0, size <= Chunker.maxChunkSize else {
                throw .invalidChunker(chunker.description, reason: "size must be 1…\(Chunker.maxChunkSize)")
            }
        case .buzhash: break
        }
        guard maxLinks >= 2 else { throw .invalidOptions("max links per node must be at least 2 (got \(maxLinks))") }
        guard hamtShardingThreshold >= 0 else { throw .invalidOptions("HAMT threshold must not be negative") }
        guard hamtFanout >= 8, hamtFanout <= 1024, hamtFanout & (hamtFanout - 1) == 0 else {
            throw .invalidOptions("HAMT fanout must be a power of two, multiple of 8, at most 1024 (got \(hamtFanout))")
        }
        guard maxDirectoryLinks >= 0 else { throw .invalidOptions("max directory links must not be negative") }
    }
}

/// Why an import failed. Each case names the file or option at fault.
public enum ImportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (`operation` is the call, e.g. "open", "read").
    case io(operation: String, path: String, errno: Int32)
    /// Not a regular file, directory or symlink (a socket, FIFO or device).
    case unsupportedFileType(path: String)
    /// A file name that is not valid UTF-8 (UnixFS names are UTF-8 strings), or empty, or with "/".
    case invalidName(path: String)
    /// Two entries with the same name in one directory.
    case duplicateName(path: String)
    /// A bad chunker string or size.
    case invalidChunker(String, reason: String)
    /// A bad combination of options.
    case invalidOptions(String)
    /// The block sink (store) failed; `reason` is its error.
    case store(reason: String)
    /// A CID or multihash could not be made (e.g. an unsupported hash function).
    case hashing(reason: String)
    /// A directory has more entries than `maxDirectoryLinks` and sharding is disabled.
    case tooManyLinks(path: String, count: Int, max: Int)
    /// The HAMT ran out of hash bits (names colliding on all 64 bits).
    case hamtTooDeep(path: String)
    /// A symlink cycle while dereferencing symlinks.
    case symlinkCycle(path: String)

    public var description: String {
        switch self {
        case let .io(operation, path, code):
            return "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
        case let .unsupportedFileType(path):
            return "\(path): unsupported file type (only regular files, directories and symlinks can be added)"
        case let .invalidName(path):
            return "\(path): file name is not valid UTF-8 or not a single path component"
        case let .duplicateName(path):
            return "\(path): duplicate name in directory"
        case let .invalidChunker(string, reason):
            return "invalid chunker '\(string)': \(reason)"
        case let .invalidOptions(reason):
            return "invalid import options: \(reason)"
        case let .store(reason):
            return "storing blocks failed: \(reason)"
        case let .hashing(reason):
            return "hashing failed: \(reason)"
        case let .tooManyLinks(path, count, max):
            return "\(path): directory has \(count) entries, more than the maximum \(max) (enable HAMT sharding)"
        case let .hamtTooDeep(path):
            return "\(path): HAMT directory too deep (hash bits exhausted)"
        case let .symlinkCycle(path):
            return "\(path): symlink cycle"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
