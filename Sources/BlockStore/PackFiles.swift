import BlockingPool
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The folder of pack files beside a block store's database (`<database>-packs/`): large blocks'
/// bytes are appended to pack files and the database row records `(pack, offset)`.
///
/// **Why.** Written through SQLite, every byte of a large block is copied into a page, written at
/// commit, and the commit's fsync waits for all of it while nothing else can be written. Written
/// to a pack, the bytes take one `pwrite`, and the fsync of one batch overlaps the writing of
/// the next (two `putMany` calls run at once); the SQLite transaction that follows only holds
/// small rows.
///
/// **Crash safety.** A pack's bytes are fsynced before the transaction that references them
/// commits, so a committed row never points at bytes the disk may not have. Bytes written by a
/// transaction that never committed are unreferenced garbage, reclaimed by GC's compaction.
///
/// **Sharing.** Each store instance appends only to packs it created and holds an exclusive
/// `flock` on them while it may append; GC (in any process) only compacts or removes packs that
/// nobody holds. New packs are created under a temporary name, locked, then renamed, so a pack
/// is never visible unlocked before its owner has it.
struct PackDirectory: Sendable {
    /// The folder.
    let path: String

    static let fileExtension = "pack"
    private static let temporaryExtension = "pack-new"

    init(databasePath: String) {
        path = databasePath + "-packs"
    }

    func file(_ id: Int64) -> String { "\(path)/\(Self.name(id)).\(Self.fileExtension)" }

    /// Pack ids are random 63-bit numbers, printed as 16 hex digits.
    static func name(_ id: Int64) -> String {
        let hex = String(UInt64(bitPattern: id), radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }

    static func id(fromFileName name: String) -> Int64? {
        guard name.hasSuffix("." + fileExtension) else { return nil }
        let stem = name.dropLast(fileExtension.count + 1)
        guard stem.count == 16, let value = UInt64(stem, radix: 16) else { return nil }
        return Int64(bitPattern: value)
    }

    func ensureExists() throws(BlockStoreError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw PackIO.error(errno, path: path, operation: "create pack folder")
        }
    }

    /// The packs on disk (ids), in no order.
    func packIDs() -> [Int64] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).compactMap(Self.id(fromFileName:))
    }

    /// Leftovers of pack creations that crashed before the rename, older than an hour.
    func staleTemporaryFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let cutoff = Date().addingTimeInterval(-3600)
        return names.filter { $0.hasSuffix("." + Self.temporaryExtension) }.map { "\(path)/\($0)" }.filter {
            let modified = (try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate]) as? Date
            return (modified ?? .distantPast) < cutoff
        }
    }

    /// Creates a new, empty pack locked by the returned handle.
    func create() throws(BlockStoreError) -> PackHandle {
        try ensureExists()
        for _ in 0..<8 {
            let id = Int64.random(in: 1...Int64.max)
            let final = file(id)
            let temporary = "\(path)/\(Self.name(id)).\(Self.temporaryExtension)"
            let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw PackIO.error(errno, path: temporary, operation: "create pack")
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let code = errno
                close(fd)
                unlink(temporary)
                throw PackIO.error(code, path: temporary, operation: "lock new pack")
            }
            // Never replace a pack: link() fails when the final name exists.
            if link(temporary, final) != 0 {
                let code = errno
                close(fd)
                unlink(temporary)
                if code == EEXIST { continue }
                throw PackIO.error(code, path: final, operation: "name new pack")
            }
            unlink(temporary)
            try syncDirectory()
            return PackHandle(id: id, fd: fd, path: final)
        }
        throw .io(path: path, operation: "create pack", code: EEXIST, message: "no free pack name after 8 tries")
    }

    /// Opens an existing pack and takes its exclusive lock without waiting; nil when another
    /// owner holds it (or it vanished).
    func lockIfUnused(_ id: Int64) -> PackHandle? {
        let name = file(id)
        let fd = open(name, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return PackHandle(id: id, fd: fd, path: name)
    }

    /// Reads `count` bytes at `offset` of pack `id`. Nil when the pack file does not exist
    /// (another process's GC may just have moved the block: look the row up again).
    /// - Throws: `.corrupt` when the pack is shorter than the row says; `.io` on read errors.
    func read(
        pack id: Int64, offset: Int64, count: Int, _ operation: @autoclosure () -> String
    ) throws(BlockStoreError) -> [UInt8]? {
        let name = file(id)
        let fd = open(name, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw PackIO.error(errno, path: name, operation: operation())
        }
        defer { close(fd) }
        return try PackIO.read(fd: fd, path: name, offset: offset, count: count, operation())
    }

    func syncDirectory() throws(BlockStoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw PackIO.error(errno, path: path, operation: "open pack folder") }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw PackIO.error(errno, path: path, operation: "sync pack folder") }
    }
}

/// An open pack file this process holds the exclusive lock on (released when the handle goes).
final class PackHandle: Sendable {
    // Immutable; the fd is only used with positional I/O (pread/pwrite/fdatasync), which is safe
    // from several threads.
    let id: Int64
    let fd: Int32
    let path: String

    init(id: Int64, fd: Int32, path: String) {
        self.id = id
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// The file's size now.
    func size() throws(BlockStoreError) -> Int64 {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw PackIO.error(errno, path: path, operation: "stat pack") }
        return Int64(status.st_size)
    }

    /// Writes all of `buffer` at `offset` (retrying short writes).
    func write(_ buffer: UnsafeRawBufferPointer, at offset: Int64, _ operation: @autoclosure () -> String) throws(BlockStoreError) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let written = pwrite(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
            if written < 0 {
                if errno == EINTR { continue }
                throw PackIO.error(errno, path: path, operation: operation())
            }
            done += written
        }
    }

    func read(offset: Int64, count: Int, _ operation: @autoclosure () -> String) throws(BlockStoreError) -> [UInt8] {
        try PackIO.read(fd: fd, path: path, offset: offset, count: count, operation())
    }

    /// Makes everything written so far durable.
    func sync() throws(BlockStoreError) {
        if fdatasync(fd) != 0 { throw PackIO.error(errno, path: path, operation: "sync pack") }
    }

    func truncate(to size: Int64) throws(BlockStoreError) {
        if ftruncate(fd, off_t(size)) != 0 { throw PackIO.error(errno, path: path, operation: "truncate pack") }
    }
}

/// System-call helpers shared by pack reads and writes.
enum PackIO {
    static func error(_ code: Int32, path: String, operation: String) -> BlockStoreError {
        switch code {
        case ENOSPC, EDQUOT, EFBIG: return .diskFull(path: path, operation: operation)
        case EROFS, EACCES, EPERM: return .readOnly(path: path, operation: operation)
        default: return .io(path: path, operation: operation, code: code, message: String(cString: strerror(code)))
        }
    }

    static func read(
        fd: Int32, path: String, offset: Int64, count: Int, _ operation: @autoclosure () -> String
    ) throws(BlockStoreError) -> [UInt8] {
        if count == 0 { return [] }
        var failure: BlockStoreError?
        var got = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            while got < count {
                let n = pread(fd, buffer.baseAddress! + got, count - got, off_t(offset) + off_t(got))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = error(errno, path: path, operation: operation())
                    break
                }
                if n == 0 { break }
                got += n
            }
            initialized = got
        }
        if let failure { throw failure }
        guard got == count else {
            throw .corrupt(
                path: path, operation: operation(),
                message: "pack ends at byte \(offset + Int64(got)), before the block's \(count) bytes at offset \(offset)")
        }
        return bytes
    }
}

/// The pack this store instance appends to, replaced by a new one when it reaches `limit`
/// bytes. `reserve` hands out disjoint byte ranges, so several `putMany` calls write at once.
final class PackAppender: Sendable {
    private let directory: PackDirectory
    private let limit: Int64
    private let state = Locked<(handle: PackHandle?, end: Int64)>((nil, 0))
    private let hook = Locked<(@Sendable (Int) throws(BlockStoreError) -> Void)?>(nil)

    /// Test hook: runs before each reservation (injected failures such as a full disk).
    var beforeWrite: (@Sendable (Int) throws(BlockStoreError) -> Void)? {
        get { hook.withLock { $0 } }
        set { hook.withLock { $0 = newValue } }
    }

    init(directory: PackDirectory, limit: Int64) {
        self.directory = directory
        self.limit = limit
    }

    /// A range of `count` bytes in the current pack (a new pack when the current one is full).
    /// The handle keeps the pack open and locked while the caller writes.
    func reserve(_ count: Int) throws(BlockStoreError) -> (handle: PackHandle, offset: Int64) {
        try beforeWrite?(count)
        return try state.withLock { (s: inout (handle: PackHandle?, end: Int64)) throws(BlockStoreError) -> (handle: PackHandle, offset: Int64) in
            if s.handle == nil || s.end >= limit {
                s.handle = try directory.create()
                s.end = 0
            }
            guard let handle = s.handle else { throw .io(path: directory.path, operation: "reserve pack space", code: 0, message: "no pack") }
            let offset = s.end
            s.end += Int64(count)
            return (handle, offset)
        }
    }

    /// Stops appending to the current pack (the next write starts a new one), so that GC can
    /// compact it once the writes in flight have committed and let go of it.
    func seal() {
        state.withLock { $0 = (nil, 0) }
    }
}
