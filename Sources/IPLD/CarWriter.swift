import Multiformats

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A streaming CARv1 writer: the header (version 1 and the roots) first, then one
/// `varint(length) ‖ CID ‖ bytes` section per `write(_:)`.
///
/// Output is buffered (whole sections only) and goes to a file, a file descriptor or a sink
/// closure; large blocks bypass the buffer. Blocks are written as given: no verification and
/// no de-duplication (`DAGExport` does both of those jobs' parts that matter).
///
/// ```swift
/// var writer = try CarWriter(path: "out.car", roots: [root])
/// for block in blocks { try writer.write(block) }
/// try writer.finish()
/// ```
/// Call `finish()`: it flushes and closes. A writer dropped without it closes its file (when it
/// opened it) and discards the buffered, unwritten sections.
public struct CarWriter: ~Copyable {
    private enum Output {
        case fd(Int32, owned: Bool, path: String?)
        case sink(([UInt8]) throws -> Void)
    }

    private var output: Output
    private var buffer: [UInt8] = []
    private let bufferSize: Int
    private var finished = false
    /// Bytes handed to the output so far plus those still buffered (the CAR's length so far).
    public private(set) var bytesWritten: UInt64 = 0
    /// Sections written.
    public private(set) var blocksWritten = 0
    /// The roots written in the header.
    public let roots: [CID]

    /// Creates (or truncates) the file at `path` (mode 0644) and writes the header.
    public init(path: String, roots: [CID], bufferSize: Int = 1 << 18) throws(CarError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        self.init(output: .fd(fd, owned: true, path: path), roots: roots, bufferSize: bufferSize)
    }

    /// Writes to `fileDescriptor` (a file, pipe or socket); it is closed by `finish()` only if
    /// `closeWhenDone`.
    public init(fileDescriptor: Int32, roots: [CID], closeWhenDone: Bool = false, bufferSize: Int = 1 << 18) {
        self.init(output: .fd(fileDescriptor, owned: closeWhenDone, path: nil), roots: roots, bufferSize: bufferSize)
    }

    /// Hands the CAR to `sink` in chunks of about `bufferSize` bytes (for an HTTP body, a pipe…).
    /// An error thrown by the sink surfaces as `CarError.sink`.
    public init(roots: [CID], bufferSize: Int = 1 << 18, sink: @escaping ([UInt8]) throws -> Void) {
        self.init(output: .sink(sink), roots: roots, bufferSize: bufferSize)
    }

    private init(output: Output, roots: [CID], bufferSize: Int) {
        self.output = output
        self.roots = roots
        self.bufferSize = max(bufferSize, 1024)
        let header = Self.header(roots: roots)
        buffer.reserveCapacity(max(self.bufferSize, header.count))
        buffer.append(contentsOf: header)
        bytesWritten = UInt64(header.count)
    }

    deinit {
        if case let .fd(fd, owned, _) = output, owned, !finished { _ = close(fd) }
    }

    /// The encoded CARv1 header: `varint(length) ‖ DAG-CBOR {roots, version: 1}`.
    public static func header(roots: [CID]) -> [UInt8] {
        let body = CarHeaderCodec.encodeV1(roots: roots)
        var out = Varint.encode(UInt64(body.count))
        out.append(contentsOf: body)
        return out
    }

    /// Appends one section.
    public mutating func write(_ block: Block) throws(CarError) {
        guard !finished else { throw .writerFinished }
        let cid = block.cid.bytes
        let length = UInt64(cid.count + block.data.count)
        let total = Varint.encodedLength(of: length) + Int(length)
        if buffer.count + total > bufferSize, !buffer.isEmpty {
            try flushBuffer()
        }
        Varint.encode(length, into: &buffer)
        buffer.append(contentsOf: cid)
        if block.data.count >= bufferSize / 2 {
            try flushBuffer()
            try emit(block.data)
        } else {
            buffer.append(contentsOf: block.data)
        }
        bytesWritten += UInt64(total)
        blocksWritten += 1
    }

    /// Writes everything buffered and, when the writer owns its file, closes it.
    /// Further writes throw `.writerFinished`; calling `finish()` again does nothing.
    public mutating func finish() throws(CarError) {
        guard !finished else { return }
        finished = true
        var failure: CarError?
        do {
            try flushBuffer()
        } catch {
            failure = error
        }
        if case let .fd(fd, owned, path) = output, owned, close(fd) != 0, failure == nil {
            failure = .io(operation: "close", path: path, errno: errno)
        }
        if let failure { throw failure }
    }

    private mutating func flushBuffer() throws(CarError) {
        guard !buffer.isEmpty else { return }
        try emit(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func emit(_ bytes: [UInt8]) throws(CarError) {
        switch output {
        case let .fd(fd, _, path):
            var failure: Int32 = 0
            bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                var done = 0
                while done < raw.count {
                    let result = systemWrite(fd, base + done, raw.count - done)
                    if result < 0 {
                        if errno == EINTR { continue }
                        failure = errno
                        return
                    }
                    done += result
                }
            }
            if failure != 0 { throw .io(operation: "write", path: path, errno: failure) }
        case let .sink(sink):
            do {
                try sink(bytes)
            } catch {
                throw .sink(reason: "\(error)")
            }
        }
    }
}

/// `write(2)` (inside `CarWriter` the name `write` is its own method).
@inline(__always)
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
