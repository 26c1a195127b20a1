#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin POSIX helpers for the importer, the exporter and checkouts.
public enum FileSystem {
    public enum Kind: Sendable {
        case file, directory, symlink, other
    }

    public struct Status: Sendable {
        public let kind: Kind
        /// Permission bits (low 12 bits of st_mode).
        public let permissions: UInt32
        public let mtime: UnixFSTime
        public let size: UInt64
        public let device: UInt64
        public let inode: UInt64
    }

    /// `lstat` (or `stat` when `follow`).
    public static func status(_ path: String, follow: Bool) throws(ImportError) -> Status {
        var st = stat()
        let rc = follow ? stat(path, &st) : lstat(path, &st)
        guard rc == 0 else { throw .io(operation: follow ? "stat" : "lstat", path: path, errno: errno) }
        let format = UInt32(st.st_mode) & 0o170000
        let kind: Kind
        switch format {
        case 0o100000: kind = .file
        case 0o040000: kind = .directory
        case 0o120000: kind = .symlink
        default: kind = .other
        }
        #if canImport(Darwin)
        let spec = st.st_mtimespec
        #else
        let spec = st.st_mtim
        #endif
        return Status(
            kind: kind, permissions: UInt32(st.st_mode) & 0o7777,
            mtime: UnixFSTime(seconds: Int64(spec.tv_sec), nanoseconds: UInt32(truncatingIfNeeded: spec.tv_nsec)),
            size: UInt64(max(0, st.st_size)), device: UInt64(truncatingIfNeeded: st.st_dev),
            inode: UInt64(truncatingIfNeeded: st.st_ino))
    }

    /// Names in a directory (without "." and ".."), sorted by their bytes.
    /// - Throws: `.invalidName` for a name that is not UTF-8.
    static func entries(of path: String) throws(ImportError) -> [String] {
        guard let dir = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [(String, [UInt8])] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .io(operation: "readdir", path: path, errno: errno) }
                break
            }
            var nameBytes: [UInt8] = []
            withUnsafePointer(to: &entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) { c in
                    var i = 0
                    while c[i] != 0 {
                        nameBytes.append(c[i])
                        i += 1
                    }
                }
            }
            if nameBytes == [0x2e] || nameBytes == [0x2e, 0x2e] { continue }
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard name.utf8.elementsEqual(nameBytes) else {
                throw .invalidName(path: join(path, name))
            }
            names.append((name, nameBytes))
        }
        names.sort { $0.1.lexicographicallyPrecedes($1.1) }
        return names.map(\.0)
    }

    /// The target of a symlink.
    static func readLink(_ path: String) throws(ImportError) -> String {
        var size = 256
        while true {
            var buffer = [UInt8](repeating: 0, count: size)
            let n = buffer.withUnsafeMutableBufferPointer { b in
                b.baseAddress.map { readlink(path, UnsafeMutableRawPointer($0).assumingMemoryBound(to: CChar.self), size) } ?? -1
            }
            guard n >= 0 else { throw .io(operation: "readlink", path: path, errno: errno) }
            if n < size {
                let bytes = Array(buffer[0..<n])
                let target = String(decoding: bytes, as: UTF8.self)
                guard target.utf8.elementsEqual(bytes) else { throw .invalidName(path: path) }
                return target
            }
            size *= 4
        }
    }

    /// Opens a file for reading.
    static func openForReading(_ path: String) throws(ImportError) -> Int32 {
        while true {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                #if os(Linux)
                _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
                #endif
                return fd
            }
            if errno == EINTR { continue }
            throw .io(operation: "open", path: path, errno: errno)
        }
    }

    /// The last component of `path` ("a/b/" → "b"); for ".", "..", "/" or "" the name of the
    /// directory they resolve to.
    static func baseName(of path: String) -> String {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        if let last = components.last, last != ".", last != ".." { return String(last) }
        if let resolved = realPath(path) {
            let parts = resolved.split(separator: "/")
            if let last = parts.last { return String(last) }
        }
        return ""
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path.isEmpty ? "." : path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether anything (even a dangling symlink) exists at `path`.
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// `UTIME_OMIT` (a C macro Swift does not import).
    #if canImport(Darwin)
    static let utimeOmit = -2
    #else
    static let utimeOmit = (1 << 30) - 2
    #endif

    /// Number of CPUs available for hashing.
    static var processorCount: Int {
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return n > 0 ? n : 1
    }
}
