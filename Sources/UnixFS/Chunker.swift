#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Something file bytes are read from, sequentially.
public protocol ByteSource {
    /// Reads up to `buffer.count` bytes into `buffer` and returns how many were read; 0 only at
    /// the end of the input.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int
}

extension ByteSource {
    /// Reads until `buffer` is full or the input ends (Go's `io.ReadFull`); returns the count.
    mutating func readFull(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }
}

/// Bytes already in memory.
public struct BytesSource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            guard let from = src.baseAddress, let to = buffer.baseAddress else { return }
            to.copyMemory(from: from + offset, byteCount: n)
        }
        offset += n
        return n
    }
}

/// An open file descriptor (a file, a pipe, stdin). The caller keeps ownership: it is not closed.
public struct FileDescriptorSource: ByteSource {
    public let fd: Int32
    /// Named in errors.
    public let path: String

    public init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            #if canImport(Darwin)
            let n = Darwin.read(fd, base, buffer.count)
            #else
            let n = Glibc.read(fd, base, buffer.count)
            #endif
            if n >= 0 { return n }
            let code = errno
            if code == EINTR { continue }
            throw .io(operation: "read", path: path, errno: code)
        }
    }
}

/// How a file is cut into chunks (Kubo's `--chunker`).
public enum Chunker: Hashable, Sendable, CustomStringConvertible {
    /// Fixed-size chunks of `size` bytes (`size-N`); the last chunk may be shorter.
    case fixed(size: Int)
    /// Kubo's content-defined buzhash chunker (min 128 KiB, max 512 KiB, mask 2^17 − 1).
    case buzhash

    /// Kubo's default, `size-262144`.
    public static let `default` = Chunker.fixed(size: 262_144)

    /// The largest chunk Kubo accepts: 2 MiB − 256 bytes of framing budget.
    public static let maxChunkSize = 2 * 1024 * 1024 - 256

    /// Parses Kubo's chunker strings: `""`/`default`, `size-N` (1 ≤ N ≤ 2 MiB − 256), `buzhash`.
    /// - Throws: `ImportError.invalidChunker` for anything else (rabin is not supported).
    public init(parsing string: String) throws(ImportError) {
        if string.isEmpty || string == "default" {
            self = .default
            return
        }
        if string == "buzhash" {
            self = .buzhash
            return
        }
        let parts = string.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "size" else {
            throw .invalidChunker(string, reason: "expected size-<bytes> or buzhash")
        }
        guard let size = Int(parts[1]) else { throw .invalidChunker(string, reason: "size is not a number") }
        guard size > 0 else { throw .invalidChunker(string, reason: "size must be greater than 0") }
        guard size <= Chunker.maxChunkSize else {
            throw .invalidChunker(string, reason: "size may not exceed \(Chunker.maxChunkSize) bytes")
        }
        self = .fixed(size: size)
    }

    /// Kubo's spelling (`size-262144`, `buzhash`).
    public var description: String {
        switch self {
        case let .fixed(size): return "size-\(size)"
        case .buzhash: return "buzhash"
        }
    }

    /// The largest chunk this chunker produces.
    public var maxChunkSize: Int {
        switch self {
        case let .fixed(size): return size
        case .buzhash: return BuzhashSplitter.maxSize
        }
    }

    /// A splitter reading from `source`.
    public func splitter(for source: any ByteSource) -> any Splitter {
        switch self {
        case let .fixed(size): return FixedSizeSplitter(source: source, size: size)
        case .buzhash: return BuzhashSplitter(source: source)
        }
    }
}

/// Cuts a byte stream into chunks (boxo's `chunker.Splitter`).
public protocol Splitter {
    /// The next chunk, or nil at the end of the input. Never returns an empty chunk.
    mutating func next() throws(ImportError) -> [UInt8]?
}

/// Fixed-size chunks: every chunk is `size` bytes except possibly the last.
public struct FixedSizeSplitter: Splitter {
    fileprivate var source: any ByteSource
    fileprivate let size: Int
    fileprivate var ended = false

    public init(source: any ByteSource, size: Int) {
        precondition(size > 0, "chunk size must be positive")
        self.source = source
        self.size = size
    }

    public mutating func next() throws(ImportError) -> [UInt8]? {
        guard !ended else { return nil }
        var failure: ImportError?
        var filled = 0
        let chunk = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            do throws(ImportError) {
                filled = try source.readFull(into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
            }
            count = filled
        }
        if let failure { throw failure }
        if filled < size { ended = true }
        if filled == 0 { return nil }
        if chunk.capacity - filled > 1024 {
            // A short last chunk: do not keep the whole buffer alive.
            return Array(chunk)
        }
        return chunk
    }
}

extension FixedSizeSplitter {
    /// The next chunk read straight into a dag-pb UnixFS leaf (`BlockFactory.encodeLeaf`
    /// framing written around it, no copy of the chunk); nil at the end. `chunk` is where the
    /// file bytes are in `bytes`.
    mutating func nextLeaf(type: UnixFSData.DataType) throws(ImportError) -> (bytes: [UInt8], chunk: Range<Int>)? {
        guard !ended else { return nil }
        let (header, trailer) = BlockFactory.leafFraming(count: size)
        var failure: ImportError?
        var filled = 0
        let leaf = [UInt8](unsafeUninitializedCapacity: header + size + trailer) { buffer, count in
            do throws(ImportError) {
                filled = try source.readFull(
                    into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[header..<(header + size)])))
            } catch {
                failure = error
            }
            if failure == nil && filled == size {
                BlockFactory.frameLeaf(buffer, count: size, type: type)
                count = header + size + trailer
            } else {
                // A short last chunk frames differently: copy it out below.
                buffer.baseAddress?.initialize(repeating: 0, count: header)
                count = header + filled
            }
        }
        if let failure { throw failure }
        if filled == size { return (leaf, header..<(header + size)) }
        ended = true
        if filled == 0 { return nil }
        let chunk = Array(leaf[header...])
        let encoded = BlockFactory.encodeLeaf(chunk, type: type)
        let start = BlockFactory.leafFraming(count: filled).header
        return (encoded, start..<(start + filled))
    }
}

/// Kubo's buzhash content-defined chunker (boxo chunker/buzhash.go), boundary for boundary:
/// a rolling hash over a 32-byte window, cut where `hash & (2^17 − 1) == 0` after at least
/// 128 KiB, at most 512 KiB per chunk. Inserting or deleting bytes in a file moves only nearby
/// boundaries, so the unchanged chunks of an edited file deduplicate.
public struct BuzhashSplitter: Splitter {
    static let minSize = 128 << 10
    static let maxSize = 512 << 10
    static let mask: UInt32 = 1 << 17 - 1

    private var source: any ByteSource
    private var buffer: [UInt8]
    private var buffered = 0
    private var eof = false
    private var done = false

    public init(source: any ByteSource) {
        self.source = source
        self.buffer = [UInt8](repeating: 0, count: Self.maxSize)
    }

    public mutating func next() throws(ImportError) -> [UInt8]? {
        guard !done else { return nil }
        var got = 0
        if !eof {
            let start = buffered
            let wanted = Self.maxSize - start
            var failure: ImportError?
            buffer.withUnsafeMutableBytes { raw in
                do throws(ImportError) {
                    got = try source.readFull(into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            if got < wanted { eof = true }
        }
        let total = buffered + got
        if total < Self.minSize {
            // Only at the end of the input: the rest is one (possibly short) chunk.
            done = true
            buffered = 0
            return total == 0 ? nil : Array(buffer[0..<total])
        }
        let cut = Self.boundary(in: buffer, count: total)
        let chunk = Array(buffer[0..<cut])
        let rest = total - cut
        if rest > 0 {
            buffer.withUnsafeMutableBytes { raw in
                guard let base = raw.baseAddress else { return }
                memmove(base, base + cut, rest)
            }
        }
        buffered = rest
        if eof && rest == 0 { done = true }
        return chunk
    }

    /// The cut position in `bytes[0..<count]` (count ≥ minSize), as boxo computes it.
    static func boundary(in bytes: [UInt8], count: Int) -> Int {
        buzhashTable.withUnsafeBufferPointer { table in
            bytes.withUnsafeBufferPointer { buf in
                var state: UInt32 = 0
                var i = minSize - 32
                while i < minSize {
                    state = ((state << 1) | (state >> 31)) ^ table[Int(buf[i])]
                    i += 1
                }
                let last = count - 32 - 1
                i = minSize - 32
                while i <= last {
                    if state & mask == 0 { break }
                    state = ((state << 1) | (state >> 31)) ^ table[Int(buf[i])] ^ table[Int(buf[i + 32])]
                    i += 1
                }
                return i + 32
            }
        }
    }
}
