import Multiformats

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered forward reading from a file descriptor (or an in-memory byte array) with the absolute
/// position tracked for error messages. Memory use is one read buffer plus what callers ask for.
struct CarInput: ~Copyable, Sendable {
    /// Size of the read buffer.
    static let bufferSize = 1 << 17
    /// Reads of at least this many bytes beyond what is buffered go straight into the destination.
    static let directReadThreshold = 1 << 15

    private let fd: Int32
    private let ownsFD: Bool
    let path: String?
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var atEOF: Bool
    /// Absolute offset of the next unread byte.
    private(set) var position: UInt64 = 0
    /// Total length when known (regular files, memory).
    let size: UInt64?
    private let seekable: Bool

    /// Opens `path` read-only.
    init(path: String) throws(CarError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        self.init(fd: fd, owns: true, path: path)
    }

    /// Reads from `fd`, closing it on deinit only when `owns`.
    init(fd: Int32, owns: Bool, path: String? = nil) {
        self.fd = fd
        self.ownsFD = owns
        self.path = path
        self.buffer = [UInt8](repeating: 0, count: Self.bufferSize)
        self.atEOF = false
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            let here = lseek(fd, 0, SEEK_CUR)
            if here >= 0, info.st_size >= here {
                // Offsets count from where the descriptor stands now.
                self.size = UInt64(info.st_size - here)
                self.seekable = true
                return
            }
        }
        self.size = nil
        self.seekable = false
    }

    /// Reads from memory.
    init(bytes: [UInt8]) {
        self.fd = -1
        self.ownsFD = false
        self.path = nil
        self.buffer = bytes
        self.end = bytes.count
        self.atEOF = true
        self.size = UInt64(bytes.count)
        self.seekable = false
    }

    deinit {
        if ownsFD { _ = close(fd) }
    }

    /// Bytes buffered and not yet consumed.
    var buffered: Int { end - start }

    /// Bytes left before the end of the input, when the size is known.
    var remaining: UInt64? { size.map { $0 >= position ? $0 - position : 0 } }

    /// Tries to have at least `count` bytes buffered; returns how many are (fewer only at end of input).
    mutating func fill(_ count: Int) throws(CarError) -> Int {
        if end - start >= count || atEOF { return end - start }
        if buffer.count - start < count {
            if start > 0 {
                let live = end - start
                if live > 0 {
                    buffer.withUnsafeMutableBytes { raw in
                        guard let base = raw.baseAddress else { return }
                        memmove(base, base + start, live)
                    }
                }
                start = 0
                end = live
            }
            if buffer.count < count {
                buffer.append(contentsOf: repeatElement(0, count: count - buffer.count))
            }
        }
        while end - start < count {
            let capacity = buffer.count - end
            let fd = self.fd
            let offset = end
            let result = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Self.readSome(fd, base + offset, capacity)
            }
            if result < 0 { throw .io(operation: "read", path: path, errno: Int32(-result)) }
            if result == 0 {
                atEOF = true
                break
            }
            end += result
        }
        return end - start
    }

    /// Consumes `count` buffered bytes.
    mutating func consume(_ count: Int) {
        precondition(count <= end - start, "CarInput: consuming more than is buffered")
        start += count
        position += UInt64(count)
    }

    /// A copy of the first `count` (at most `buffered`) buffered, unconsumed bytes.
    func bufferedPrefix(_ count: Int) -> [UInt8] {
        Array(buffer[start..<start + min(count, end - start)])
    }

    /// Reads one multiformats varint; nil at a clean end of input (no byte left).
    mutating func readVarint(part: @autoclosure () -> String) throws(CarError) -> UInt64? {
        let available = try fill(Varint.maxLength)
        if available == 0 { return nil }
        let at = position
        do throws(VarintError) {
            let (value, length) = try Varint.decode(buffer[start..<end])
            consume(length)
            return value
        } catch {
            if error == .truncated && available < Varint.maxLength {
                throw .truncated(part: part(), offset: at, needed: UInt64(available + 1), available: UInt64(available))
            }
            throw .invalidVarint(part: part(), offset: at, error: error)
        }
    }

    /// Reads exactly `count` bytes into a new array (large reads bypass the buffer).
    mutating func readExactly(_ count: Int, part: @autoclosure () -> String) throws(CarError) -> [UInt8] {
        if count <= end - start {
            let out = Array(buffer[start..<start + count])
            consume(count)
            return out
        }
        if count - (end - start) < Self.directReadThreshold {
            let available = try fill(count)
            guard available >= count else {
                throw .truncated(part: part(), offset: position, needed: UInt64(count), available: UInt64(available))
            }
            let out = Array(buffer[start..<start + count])
            consume(count)
            return out
        }
        // Large: copy what is buffered, then read the rest straight into the result.
        let fromBuffer = end - start
        let fd = self.fd
        let canRead = !atEOF
        var failure: Int32 = 0
        let out = [UInt8](unsafeUninitializedCapacity: count) { destination, initialized in
            guard let base = destination.baseAddress else { return }
            buffer.withUnsafeBytes { raw in
                if let source = raw.baseAddress, fromBuffer > 0 {
                    memcpy(base, source + start, fromBuffer)
                }
            }
            initialized = fromBuffer
            guard canRead else { return }
            while initialized < count {
                let result = Self.readSome(fd, UnsafeMutableRawPointer(base + initialized), count - initialized)
                if result < 0 {
                    failure = Int32(-result)
                    return
                }
                if result == 0 { return }
                initialized += result
            }
        }
        start = end
        let got = out.count
        if failure != 0 {
            position += UInt64(got)
            throw .io(operation: "read", path: path, errno: failure)
        }
        if got < count {
            atEOF = true
            let at = position
            position += UInt64(got)
            throw .truncated(part: part(), offset: at, needed: UInt64(count), available: UInt64(got))
        }
        position += UInt64(count)
        return out
    }

    /// Skips `count` bytes (seeking when the input is a regular file).
    mutating func skip(_ count: UInt64, part: @autoclosure () -> String) throws(CarError) {
        let inBuffer = UInt64(end - start)
        if count <= inBuffer {
            consume(Int(count))
            return
        }
        let at = position
        if let remaining, count > remaining {
            throw .truncated(part: part(), offset: at, needed: count, available: remaining)
        }
        var left = count - inBuffer
        consume(Int(inBuffer))
        if seekable, left <= UInt64(Int64.max) {
            guard lseek(fd, off_t(left), SEEK_CUR) >= 0 else {
                throw .io(operation: "lseek", path: path, errno: errno)
            }
            position += left
            return
        }
        while left > 0 {
            let available = try fill(Int(min(left, UInt64(Self.bufferSize))))
            if available == 0 {
                throw .truncated(part: part(), offset: at, needed: count, available: count - left)
            }
            let step = Int(min(UInt64(available), left))
            consume(step)
            left -= UInt64(step)
        }
    }

    /// Whether no byte is left (reads ahead if needed).
    mutating func isAtEnd() throws(CarError) -> Bool {
        try fill(1) == 0
    }

    /// One `read(2)`, retried on EINTR: bytes read, 0 at end of file, or −errno.
    private static func readSome(_ fd: Int32, _ destination: UnsafeMutableRawPointer, _ count: Int) -> Int {
        guard fd >= 0 else { return 0 }
        while true {
            let result = read(fd, destination, count)
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            return -Int(code)
        }
    }
}
