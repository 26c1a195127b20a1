import Foundation

/// Unbuffered, copy-free writes of content bytes to stdout (for `cat`, `block get`, `dag export`).
enum StandardOutput {
    /// Writes all of `bytes` to fd 1.
    /// - Throws: `OutputError` when stdout is closed or the disk is full.
    static func write(_ bytes: some Collection<UInt8>) throws {
        let result: Int32? = bytes.withContiguousStorageIfAvailable { buffer in
            writeAll(UnsafeRawBufferPointer(buffer))
        }
        let status = result ?? Array(bytes).withUnsafeBytes { writeAll($0) }
        if status != 0 { throw OutputError(errno: status) }
    }

    private static func writeAll(_ buffer: UnsafeRawBufferPointer) -> Int32 {
        guard var pointer = buffer.baseAddress else { return 0 }
        var left = buffer.count
        while left > 0 {
            let n = Foundation.write(1, pointer, left)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            pointer += n
            left -= n
        }
        return 0
    }
}

struct OutputError: Error, CustomStringConvertible {
    let errno: Int32
    var description: String { "cannot write to standard output: \(String(cString: strerror(errno)))" }
}

/// Bad input named on the command line (a malformed CID, address or duration): printed as one
/// `Error:` line without the usage text a `ValidationError` would add.
struct InputError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
